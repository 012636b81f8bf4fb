/**
 * The production broker setup of deploy/mosquitto/ against a REAL mosquitto:
 * credentials from make-credentials.sh, the shipped ACL (plus the per-device
 * fleet lines an operator adds), and the shipped mosquitto.conf's listeners
 * (paths and ports moved into a temp dir).
 *
 * "Cannot publish/read" is checked without sleeping: after the forbidden
 * message the same client sends an allowed one; MQTT keeps one connection's
 * messages in order, so once the allowed one has arrived a forbidden one that
 * the broker let through would have arrived before it.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger, type Logger } from "../../edge/log.js";
import { CommandServer } from "../../edge/mqtt/commandServer.js";
import { mqttConfigSchema } from "../../edge/mqtt/config.js";
import { MqttConnection } from "../../edge/mqtt/connection.js";
import { hostileDeviceAttack, PASSWORDS, startProductionBroker, type Account, type ProductionBroker } from "../../edge/reliability/hostile.js";
import type { RunningMosquitto } from "../helpers/mosquitto.js";
import { waitFor } from "../helpers/waitFor.js";


interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}
interface TestClient {
  client: MqttClient;
  messages: Received[];
  /** Granted QoS per filter; 128 = refused by the broker. */
  subscribe(filter: string): Promise<number>;
  publish(topic: string, payload: string, retain?: boolean): Promise<void>;
}

let setup: ProductionBroker;
let broker: RunningMosquitto;
let dir: string;
let tlsPort: number;
let localPort: number;
let wsPort: number;
const clients: MqttClient[] = [];

beforeAll(async () => {
  // The shared setup (edge/reliability/hostile.ts): `gait-edge reliability hostile` runs the same.
  setup = await startProductionBroker();
  ({ broker, dir, tlsPort, localPort, wsPort } = setup);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
});

afterAll(async () => {
  await setup?.stop();
});

async function connectAs(user: Account, url = broker.url): Promise<TestClient> {
  const client = await connectAsync(url, {
    username: user,
    password: PASSWORDS[user],
    protocolVersion: 4,
    reconnectPeriod: 0,
    clientId: `${user}-${Math.random().toString(16).slice(2, 10)}`,
  });
  clients.push(client);
  const messages: Received[] = [];
  client.on("message", (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return {
    client,
    messages,
    async subscribe(filter) {
      const granted = await client.subscribeAsync(filter, { qos: 1 });
      return granted[0]?.qos ?? -1;
    },
    async publish(topic, payload, retain = false) {
      await client.publishAsync(topic, payload, { qos: 1, retain });
    },
  };
}


const received = (c: TestClient, topic: string, payload?: string) =>
  c.messages.find((m) => m.topic === topic && (payload === undefined || m.payload === payload));

describe("deploy/mosquitto: ACL with the production password file", () => {
  it("lets a device publish its own angles and status, which ops and dashboard read", async () => {
    const ops = await connectAs("ops");
    const dashboard = await connectAs("dashboard");
    expect(await ops.subscribe("gait/+/angles")).toBe(1);
    expect(await dashboard.subscribe("gait/+/status")).toBe(1);
    const device = await connectAs("pi-01");
    await device.publish("gait/pi-01/angles", '{"seq":1}');
    await device.publish("gait/pi-01/status", '{"state":"online"}');
    await waitFor("angles at ops", () => received(ops, "gait/pi-01/angles", '{"seq":1}'));
    await waitFor("status at dashboard", () => received(dashboard, "gait/pi-01/status"));
  });

  it("drops what a device publishes on another device's or a fleet's topics", async () => {
    const ops = await connectAs("ops");
    await ops.subscribe("gait/#");
    const device = await connectAs("pi-01");
    await device.publish("gait/pi-02/angles", "forged");
    await device.publish("gait/pi-02/status", "forged");
    await device.publish("gait/pi-02/command", "forged");
    await device.publish("gait/fleet/lab-a/ota/offer", "forged");
    await device.publish("gait/pi-01/command", "forged"); // its own, but commands come from ops
    await device.publish("gait/pi-01/angles", "sentinel");
    await waitFor("the sentinel", () => received(ops, "gait/pi-01/angles", "sentinel"));
    expect(ops.messages.filter((m) => m.payload === "forged")).toEqual([]);
  });

  it("delivers commands and OTA offers/chunks to the addressed device only", async () => {
    const own = await connectAs("pi-01");
    const other = await connectAs("pi-02");
    for (const filter of ["gait/pi-01/command", "gait/pi-01/ota/offer", "gait/pi-01/ota/chunk"]) {
      expect(await own.subscribe(filter)).toBe(1);
      // Refused at SUBACK or filtered on delivery: either way pi-02 must see nothing.
      await other.subscribe(filter);
    }
    expect(await other.subscribe("gait/pi-02/command")).toBe(1);
    const ops = await connectAs("ops");
    await ops.publish("gait/pi-01/command", '{"command":"calibrate"}');
    await ops.publish("gait/pi-01/ota/offer", "offer-1");
    await ops.publish("gait/pi-01/ota/chunk", "chunk-1");
    await ops.publish("gait/pi-02/command", "sentinel");
    await waitFor("command at pi-01", () => received(own, "gait/pi-01/command"));
    await waitFor("offer at pi-01", () => received(own, "gait/pi-01/ota/offer", "offer-1"));
    await waitFor("chunk at pi-01", () => received(own, "gait/pi-01/ota/chunk", "chunk-1"));
    await waitFor("the sentinel at pi-02", () => received(other, "gait/pi-02/command", "sentinel"));
    expect(other.messages.map((m) => m.topic)).toEqual(["gait/pi-02/command"]);
  });

  it("lets a device read its own fleet's retained offers and not another fleet's", async () => {
    const ops = await connectAs("ops");
    await ops.publish("gait/fleet/lab-b/ota/offer", "offer-b", true);
    await ops.publish("gait/fleet/lab-a/ota/offer", "offer-a", true);
    try {
      const device = await connectAs("pi-01");
      // lab-b first: a leaked retained offer would arrive before lab-a's.
      await device.subscribe("gait/fleet/lab-b/ota/offer");
      expect(await device.subscribe("gait/fleet/lab-a/ota/offer")).toBe(1);
      await waitFor("lab-a offer", () => received(device, "gait/fleet/lab-a/ota/offer", "offer-a"));
      expect(device.messages.map((m) => m.payload)).toEqual(["offer-a"]);
      // pi-02 has no fleet line: neither fleet.
      const other = await connectAs("pi-02");
      await other.subscribe("gait/fleet/+/ota/offer");
      await other.subscribe("gait/pi-02/ota/offer");
      await ops.publish("gait/pi-02/ota/offer", "sentinel");
      await waitFor("the sentinel at pi-02", () => received(other, "gait/pi-02/ota/offer", "sentinel"));
      expect(other.messages.map((m) => m.payload)).toEqual(["sentinel"]);
    } finally {
      // An empty retained message clears the offers for the other tests.
      await ops.publish("gait/fleet/lab-a/ota/offer", "", true);
      await ops.publish("gait/fleet/lab-b/ota/offer", "", true);
    }
  });

  it("keeps the dashboard account read-only", async () => {
    const ops = await connectAs("ops");
    await ops.subscribe("gait/#");
    const dashboard = await connectAs("dashboard");
    await dashboard.publish("gait/pi-01/command", "forged");
    await dashboard.publish("gait/pi-01/angles", "forged");
    const device = await connectAs("pi-01");
    await device.publish("gait/pi-01/angles", "sentinel");
    await waitFor("the sentinel", () => received(ops, "gait/pi-01/angles", "sentinel"));
    expect(ops.messages.filter((m) => m.payload === "forged")).toEqual([]);
  });
});

describe("deploy/mosquitto: a hostile device (issue #13)", () => {
  // The attack itself lives in edge/reliability/hostile.ts (the `reliability hostile` command runs it too).
  it("can neither disconnect the victim (client-id takeover, forged last will), nor read its commands, nor publish on its topics", async () => {
    const r = await hostileDeviceAttack(setup);
    expect(r).toMatchObject({
      takeoverAttempts: 10,
      victimDisconnects: 0,
      victimReconnects: 0,
      forgedStatusDelivered: 0,
      victimMessagesRead: 0,
      forgedPublishesDelivered: 0,
    });
  });
});

describe("deploy/mosquitto: the edge runtime's MQTT connection against the production broker", () => {
  const publishers: MqttConnection[] = [];
  afterEach(async () => {
    await Promise.all(publishers.splice(0).map((p) => p.stop()));
  });

  function publisher(url: string, overrides: Record<string, unknown>, logger: Logger): MqttConnection {
    const config = mqttConfigSchema.parse({ url, deviceId: "pi-01", reconnectMinMs: 50, reconnectMaxMs: 400, connectTimeoutMs: 2000, ...overrides });
    const pub = new MqttConnection(config, { logger });
    // As in the runtime: one command server on the connection (no commands here, so every request is answered with an error).
    new CommandServer({ logger, connection: pub, base: "gait/pi-01" }).register("command", {});
    publishers.push(pub);
    return pub;
  }

  it("reports a wrong password as a refused connection, clearly, and never logs it", async () => {
    const logger = memoryLogger("mqtt");
    const pub = publisher(broker.url, { username: "pi-01", password: "not-the-password" }, logger);
    await pub.start();
    expect(pub.connected).toBe(false);
    const refusal = await waitFor("a refusal in the log", () =>
      logger.lines.find((l) => /refused the connection: (not authorized|bad username or password)/.test(l)),
    );
    expect(refusal).toContain("check username/password");
    expect(logger.lines.join("\n")).not.toContain("not-the-password");
  });

  it("connects over the TLS listener with the self-signed CA, as the device pi-01", async () => {
    const ops = await connectAs("ops");
    await ops.subscribe("gait/pi-01/status");
    const pub = publisher(
      `mqtts://127.0.0.1:${tlsPort}`,
      { username: "pi-01", password: PASSWORDS["pi-01"], caFile: path.join(dir, "creds", "ca.crt") },
      memoryLogger("mqtt"),
    );
    await pub.start();
    expect(pub.connected).toBe(true);
    // Its retained status reached the plaintext side through the ACL.
    const status = await waitFor("status at ops", () => received(ops, "gait/pi-01/status"));
    expect(JSON.parse(status.payload)).toMatchObject({ state: "online" });
    // The ACL lets it read its command topic and answer on command/response
    // (no commands here: the answer is an error naming that). The connection
    // subscribes right after connecting, with no event for it: ask until it answers.
    await ops.subscribe("gait/pi-01/command/response");
    const ask = setInterval(() => {
      void ops.publish("gait/pi-01/command", JSON.stringify({ id: "c1", command: "get_status" })).catch(() => undefined);
    }, 200);
    const reply = await waitFor("a command response", () => received(ops, "gait/pi-01/command/response")).finally(() => clearInterval(ask));
    expect(JSON.parse(reply.payload)).toMatchObject({ id: "c1", status: "error" });
  });

  it("serves browsers over secure WebSockets with the same accounts and ACL (the dashboard's listener)", async () => {
    const ca = await readFile(path.join(dir, "creds", "ca.crt"));
    const wss = `wss://127.0.0.1:${wsPort}`;
    const viewer = await connectAsync(wss, { username: "dashboard", password: PASSWORDS.dashboard, protocolVersion: 4, reconnectPeriod: 0, ca, servername: "localhost" });
    clients.push(viewer);
    const seen: string[] = [];
    viewer.on("message", (t) => seen.push(t));
    await viewer.subscribeAsync("gait/pi-01/status", { qos: 0 });
    const device = await connectAs("pi-01", `mqtt://127.0.0.1:${localPort}`);
    await device.publish("gait/pi-01/status", JSON.stringify({ state: "online", since: 1 }));
    await waitFor("the status over wss", () => seen.includes("gait/pi-01/status") || undefined);
    // No account, no connection: the same allow_anonymous false as every listener.
    await expect(connectAsync(wss, { protocolVersion: 4, reconnectPeriod: 0, ca, servername: "localhost", connectTimeout: 3000 })).rejects.toThrow();
  });

  it("refuses a TLS client that does not trust the broker's CA", async () => {
    const logger = memoryLogger("mqtt");
    const pub = publisher(`mqtts://127.0.0.1:${tlsPort}`, { username: "pi-01", password: PASSWORDS["pi-01"] }, logger);
    await pub.start();
    expect(pub.connected).toBe(false);
  });

  it("serves on-device clients on the loopback listener, still with a password", async () => {
    const device = await connectAs("pi-01", `mqtt://127.0.0.1:${localPort}`);
    expect(device.client.connected).toBe(true);
    await expect(
      connectAsync(`mqtt://127.0.0.1:${localPort}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2000 }),
    ).rejects.toThrow(/Not authorized|Connection refused/i);
  });
});
