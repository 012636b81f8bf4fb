import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { command } from "../../edge/commands/types.js";
import { memoryLogger } from "../../edge/log.js";
import { mqttConfigSchema } from "../../edge/mqtt/config.js";
import { EMBEDDED_DRAIN_TIMEOUT_MS, EmbeddedBroker } from "../../edge/mqtt/embeddedBroker.js";
import { anglesMessage, DeviceRig, subscriber, testConfig, waitFor } from "./brokerSuite.js";
import { TcpProxy } from "./tcpProxy.js";

describe("EmbeddedBroker", () => {
  it("listens on a random port, routes messages, and can restart on the same port", async () => {
    const first = new EmbeddedBroker({ host: "127.0.0.1", port: 0 }, { logger: memoryLogger() });
    const url = await first.start();
    expect(url).toBe(`mqtt://127.0.0.1:${first.port}`);
    const s = await subscriber(url, ["t/#"]);
    await s.client.publishAsync("t/1", '{"a":1}');
    await waitFor("message", () => s.messages[0]);
    expect(s.messages[0]).toMatchObject({ topic: "t/1", json: { a: 1 } });
    await first.stop(); // must not hang on the subscriber's open socket
    await s.end();

    const second = new EmbeddedBroker({ host: "127.0.0.1", port: first.port }, { logger: memoryLogger() });
    await expect(second.start()).resolves.toBe(url);
    await second.stop();
  });

  it("fails start() clearly when the port is taken", async () => {
    const first = new EmbeddedBroker({ host: "127.0.0.1", port: 0 }, { logger: memoryLogger() });
    await first.start();
    try {
      const second = new EmbeddedBroker({ host: "127.0.0.1", port: first.port }, { logger: memoryLogger() });
      await expect(second.start()).rejects.toThrow(`embedded MQTT broker cannot listen on 127.0.0.1:${first.port}: EADDRINUSE`);
    } finally {
      await first.stop();
    }
  });
});

/**
 * Issue #13: an anonymous LAN peer rolled a model back, sent commands, spoofed
 * angles and installed an OTA bundle through the embedded broker. "Cannot
 * publish" is checked without sleeping: aedes closes the connection of a
 * client whose publish it refuses, after refusing it; a message the device
 * then gets from ops would have come after the forged one.
 */
describe("EmbeddedBroker security", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  });

  it("listens on 127.0.0.1 by default, in the runtime config too", async () => {
    expect(mqttConfigSchema.parse({}).embedded).toMatchObject({ host: "127.0.0.1", port: 1883 });
    const broker = new EmbeddedBroker({ port: 0 }, { logger: memoryLogger() });
    await broker.start();
    cleanups.push(() => broker.stop());
    expect(broker.address).toBe("127.0.0.1");
  });

  it("refuses a network-facing broker without users, at config and at start, saying what to add", async () => {
    const parsed = mqttConfigSchema.safeParse({ embedded: { host: "0.0.0.0" } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ path: ["embedded", "host"] });
    expect(parsed.error?.issues[0]?.message).toMatch(/no authentication.*Add mqtt\.embedded\.users.*or set mqtt\.embedded\.host to "127\.0\.0\.1"/);
    // With an external broker the embedded section is unused: no error.
    expect(mqttConfigSchema.safeParse({ url: "mqtt://broker:1883", embedded: { host: "0.0.0.0" } }).success).toBe(true);
    await expect(new EmbeddedBroker({ host: "0.0.0.0", port: 0 }, { logger: memoryLogger() }).start()).rejects.toThrow(/no authentication/);
  });

  it("refuses plain passwords in the config and names the field", () => {
    const r = mqttConfigSchema.safeParse({ embedded: { users: [{ username: "ops", role: "operator", password: "hunter2" }] } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/password/);
  });

  describe("with users", () => {
    const DEVICE = "pi-01";
    const PASSWORDS = { ops: "ops-Pa55", viewer: "view-Pa55", "pi-02": "pi02-Pa55" } as const;
    type Account = keyof typeof PASSWORDS;

    /** The device's runtime side (embedded broker, connection, command server) with three LAN accounts. */
    async function device() {
      const dir = await mkdtemp(path.join(tmpdir(), "embedded-auth-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      await writeFile(path.join(dir, "ops.password"), `${PASSWORDS.ops}\n`, { mode: 0o600 });
      await writeFile(path.join(dir, "pi-02.password"), PASSWORDS["pi-02"], { mode: 0o600 });
      // The viewer's hash comes from mosquitto_passwd, so one tool makes accounts for both brokers.
      execFileSync("mosquitto_passwd", ["-c", "-b", path.join(dir, "passwd"), "viewer", PASSWORDS.viewer], { stdio: "ignore" });
      const viewerHash = readFileSync(path.join(dir, "passwd"), "utf8").trim().slice("viewer:".length);
      const logger = memoryLogger("mqtt");
      const rig = new DeviceRig(
        testConfig(undefined, {
          deviceId: DEVICE,
          embedded: {
            host: "127.0.0.1",
            port: 0,
            users: [
              { username: "ops", role: "operator", passwordFile: path.join(dir, "ops.password") },
              { username: "viewer", role: "viewer", passwordHash: viewerHash },
              { username: "pi-02", role: "device", passwordFile: path.join(dir, "pi-02.password") },
            ],
          },
        }),
        logger,
      );
      cleanups.push(() => rig.stop());
      const ran: string[] = [];
      rig.commands.register("command", {
        calibrate: command({ summary: "", args: z.object({ tag: z.string() }).strict(), run: async ({ tag }) => void ran.push(tag) }),
      });
      const otaSeen: string[] = [];
      for (const suffix of ["ota/offer", "ota/chunk", "ota/command"]) {
        rig.connection.subscribe(`gait/${DEVICE}/${suffix}`, (topic, payload) => otaSeen.push(`${topic} ${payload.toString()}`));
      }
      await rig.start();
      expect(rig.connected).toBe(true);
      return { rig, ran, otaSeen, logger };
    }

    async function login(url: string, user: Account, password: string = PASSWORDS[user], clientId?: string): Promise<MqttClient> {
      const client = await connectAsync(url, { username: user, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2000, ...(clientId ? { clientId } : {}) });
      cleanups.push(() => client.endAsync(true));
      return client;
    }

    /** Publishes what `who` must not; resolves once the broker has closed its connection for it. */
    async function forge(client: MqttClient, topic: string, payload: string): Promise<void> {
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      client.publish(topic, payload, { qos: 0 });
      await closed;
    }

    it("refuses anonymous clients and wrong passwords, without logging the password", async () => {
      const { rig, logger } = await device();
      const url = rig.connection.brokerUrl;
      await expect(connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow(/Not authorized/i);
      await expect(login(url, "ops", "not-the-password")).rejects.toThrow(/Bad username or password/i);
      await expect(login(url, "ops", PASSWORDS.viewer)).rejects.toThrow(/Bad username or password/i);
      const log = logger.lines.join("\n");
      expect(log).toContain("refused a client");
      expect(log).not.toContain("not-the-password");
      expect(log).not.toContain(PASSWORDS.ops);
    });

    it("lets the operator command the device, and the viewer read its angles", async () => {
      const { rig, ran } = await device();
      const url = rig.connection.brokerUrl;
      const ops = await login(url, "ops");
      await ops.subscribeAsync(`gait/${DEVICE}/command/response`, { qos: 1 });
      const viewer = await login(url, "viewer");
      const angles: string[] = [];
      viewer.on("message", (topic) => angles.push(topic));
      await viewer.subscribeAsync("gait/+/angles", { qos: 0 });
      await ops.publishAsync(`gait/${DEVICE}/command`, JSON.stringify({ id: 1, command: "calibrate", args: { tag: "from-ops" } }), { qos: 1 });
      await waitFor("the command to run", () => ran.includes("from-ops"));
      rig.publishAngles(anglesMessage(1));
      await waitFor("angles at the viewer", () => angles.includes(`gait/${DEVICE}/angles`));
    });

    it("does not let a viewer or another device command the device, send it OTA messages or speak for it", async () => {
      const { rig, ran, otaSeen } = await device();
      const url = rig.connection.brokerUrl;
      const statusSeen: string[] = [];
      const ops = await login(url, "ops");
      ops.on("message", (topic, payload) => statusSeen.push(`${topic} ${payload.toString()}`));
      await ops.subscribeAsync(`gait/${DEVICE}/#`, { qos: 1 });
      const forged = JSON.stringify({ id: 9, command: "calibrate", args: { tag: "forged" } });
      for (const user of ["viewer", "pi-02"] as const) {
        for (const [suffix, payload] of [["command", forged], ["ota/offer", "forged"], ["ota/chunk", "forged"], ["ota/command", "forged"], ["status", "forged"], ["angles", "forged"]] as const) {
          await forge(await login(url, user), `gait/${DEVICE}/${suffix}`, payload);
        }
      }
      await ops.publishAsync(`gait/${DEVICE}/command`, JSON.stringify({ id: 10, command: "calibrate", args: { tag: "sentinel" } }), { qos: 1 });
      await ops.publishAsync(`gait/${DEVICE}/ota/command`, "sentinel", { qos: 1 });
      await waitFor("the sentinel command", () => ran.includes("sentinel"));
      await waitFor("the sentinel OTA command", () => otaSeen.length > 0);
      expect(ran).toEqual(["sentinel"]);
      expect(otaSeen).toEqual([`gait/${DEVICE}/ota/command sentinel`]);
      expect(statusSeen.filter((m) => m.includes("forged"))).toEqual([]);
    });

    it("does not let another device plant a last will on the device's status", async () => {
      const { rig, logger } = await device();
      const url = rig.connection.brokerUrl;
      const willer = await connectAsync(url, {
        username: "pi-02",
        password: PASSWORDS["pi-02"],
        protocolVersion: 4,
        reconnectPeriod: 0,
        will: { topic: `gait/${DEVICE}/status`, payload: Buffer.from("forged"), qos: 1, retain: true },
      });
      willer.stream.destroy(); // no DISCONNECT: the broker handles the will
      await waitFor("the broker to refuse the will", () =>
        logger.lines.find((l) => l.includes("refused a publish") && l.includes(`gait/${DEVICE}/status`)),
      );
      const s = await subscriber(url.replace("mqtt://", `mqtt://ops:${PASSWORDS.ops}@`), [`gait/${DEVICE}/status`]);
      cleanups.push(() => s.end());
      await waitFor("the retained status", () => s.messages[0]);
      expect(s.messages[0]?.json).toMatchObject({ state: "online" });
    });

    it("does not let another user read the device's commands nor take over its client id", async () => {
      const { rig, ran } = await device();
      const url = rig.connection.brokerUrl;
      const intruder = await login(url, "pi-02");
      const seen: string[] = [];
      intruder.on("message", (topic) => seen.push(topic));
      // The plain topic it may not read is refused outright (SUBACK 128); the wildcard is filtered per message.
      await expect(intruder.subscribeAsync(`gait/${DEVICE}/command`, { qos: 1 })).rejects.toThrow(/Subscribe error/);
      await intruder.subscribeAsync(["gait/#", "gait/pi-02/command"], { qos: 1 });
      const ops = await login(url, "ops");
      await ops.publishAsync(`gait/${DEVICE}/command`, JSON.stringify({ command: "calibrate", args: { tag: "private" } }), { qos: 1 });
      await ops.publishAsync("gait/pi-02/command", "sentinel", { qos: 1 });
      await waitFor("the intruder's own command", () => seen.includes("gait/pi-02/command"));
      await waitFor("the device's command", () => ran.includes("private"));
      expect(seen.filter((t) => t.startsWith(`gait/${DEVICE}/`))).toEqual([]);

      // The device's client id is predictable ("gait-pi-01"): claiming it must not kick the device off.
      await expect(login(url, "ops", PASSWORDS.ops, `gait-${DEVICE}`)).rejects.toThrow(/Identifier rejected/i);
      await ops.publishAsync(`gait/${DEVICE}/command`, JSON.stringify({ command: "calibrate", args: { tag: "still-there" } }), { qos: 1 });
      await waitFor("the device, still connected", () => ran.includes("still-there"));
      expect(rig.stats().reconnects).toBe(0);
    });
  });
});

describe("EmbeddedBroker with a frozen subscriber", () => {
  it("keeps delivering to the others: the frozen one is dropped once its socket stops draining", async () => {
    // A phone that sleeps with its TCP connection half-open stops reading. Once
    // the kernel buffers towards it are full, aedes waits for them to drain,
    // and every other subscriber waits too (once 4130 of 20,000 messages in 20 s).
    const broker = new EmbeddedBroker({ port: 0 }, { logger: memoryLogger() });
    const url = await broker.start();
    const proxy = new TcpProxy(broker.port);
    await proxy.start();
    const frozen = await connectAsync(proxy.url, { protocolVersion: 4, reconnectPeriod: 0, keepalive: 60 });
    const healthy = await subscriber(url, ["t/#"]);
    const publisher = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
    try {
      await frozen.subscribeAsync("t/#", { qos: 0 });
      proxy.freeze();
      // ~20 MB: more than the loopback socket buffers between the broker and the frozen client hold.
      const body = "x".repeat(2000);
      const count = 10_000;
      for (let i = 0; i < count; i++) publisher.publish("t/a", body, { qos: 0 });
      await waitFor("every message at the healthy subscriber", () => healthy.messages.length >= count, EMBEDDED_DRAIN_TIMEOUT_MS + 10_000);
    } finally {
      await proxy.stop();
      await publisher.endAsync(true);
      await frozen.endAsync(true);
      await healthy.end();
      await broker.stop();
    }
  }, 60_000);
});
