/**
 * `reliability hostile`, and the library test/deploy/mosquitto.test.ts uses:
 * the production broker setup of deploy/mosquitto/ on a REAL mosquitto
 * (credentials from make-credentials.sh, the shipped ACL plus the fleet line
 * an operator adds, the shipped listeners moved to free loopback ports), and
 * the hostile-device attack against it.
 *
 * The attack: pi-01 is the victim, running the runtime's real MqttConnection
 * (client id "gait-pi-01", as the runtime derives it); pi-02 is a device whose
 * credentials an attacker holds. It tries to
 *   - take over the victim's client id (which would disconnect it), each time
 *     with a last will that would say the victim is offline;
 *   - read the victim's commands and OTA topics (specific and wildcard filters);
 *   - publish on every one of the victim's topics.
 *
 * "Cannot publish/read" is checked without sleeping: after the forbidden
 * messages the same client sends an allowed one; MQTT keeps one connection's
 * messages in order, so once the allowed one has arrived a forbidden one that
 * the broker let through would have arrived before it.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { freePort, startMosquitto, type RunningMosquitto } from "../bench/mosquitto.js";
import { memoryLogger } from "../log.js";
import { mqttConfigSchema } from "../mqtt/config.js";
import { MqttConnection } from "../mqtt/connection.js";
import { checkResult, sleep, type CheckResult } from "./report.js";

export const DEPLOY_MOSQUITTO = path.resolve(import.meta.dirname, "../../deploy/mosquitto");
export const PASSWORDS = { "pi-01": "pw-pi-01", "pi-02": "pw-pi-02", ops: "pw-ops", dashboard: "pw-dash" } as const;
export type Account = keyof typeof PASSWORDS;

export interface ProductionBroker {
  readonly broker: RunningMosquitto;
  /** The temp dir: creds/ (passwd, ca.crt, ...) and gait.acl. */
  readonly dir: string;
  /** The shipped loopback listener (what a device uses), and the TLS one. */
  readonly localPort: number;
  readonly tlsPort: number;
  /** The secure WebSockets listener (the dashboard's, 9001 in the shipped file). */
  readonly wsPort: number;
  readonly localUrl: string;
  stop(): Promise<void>;
}

/**
 * The shipped config with its listeners moved to free loopback ports and its
 * certificates to the temp dir. The auth lines come from startMosquitto
 * (same values, temp paths); per_listener_settings must precede any listener,
 * and false is the default anyway.
 */
export function productionListeners(conf: string, creds: string, localPort: number, tlsPort: number, wsPort: number): string {
  const dropped = /^(allow_anonymous|password_file|acl_file|per_listener_settings)\b/;
  const text = conf
    .split("\n")
    .filter((l) => !dropped.test(l.trim()))
    .join("\n");
  // The shipped file must still have the listeners this setup moves: else it would test something else.
  if (!/^listener 1883 127\.0\.0\.1$/m.test(text)) throw new Error("deploy/mosquitto/mosquitto.conf: no 'listener 1883 127.0.0.1' line");
  if (!/^listener 8883$/m.test(text)) throw new Error("deploy/mosquitto/mosquitto.conf: no 'listener 8883' line");
  if (!/^listener 9001$/m.test(text)) throw new Error("deploy/mosquitto/mosquitto.conf: no 'listener 9001' line");
  return text
    .replace(/^listener 1883 127\.0\.0\.1$/m, `listener ${localPort} 127.0.0.1`)
    .replace(/^listener 8883$/m, `listener ${tlsPort} 127.0.0.1`)
    .replace(/^listener 9001$/m, `listener ${wsPort} 127.0.0.1`)
    .replaceAll("/etc/mosquitto/certs/", `${creds}/`);
}

/** mosquitto with the production password file, ACL (+ pi-01 in fleet lab-a) and listeners. */
export async function startProductionBroker(): Promise<ProductionBroker> {
  const dir = await mkdtemp(path.join(tmpdir(), "gait-deploy-mqtt-"));
  try {
    const creds = path.join(dir, "creds");
    const users = Object.entries(PASSWORDS).flatMap(([user, pw]) => ["--user", `${user}:${pw}`]);
    execFileSync("bash", [path.join(DEPLOY_MOSQUITTO, "make-credentials.sh"), "--out", creds, ...users], { stdio: "pipe" });
    // Fleet membership, as docs/deployment.md tells an operator to write it.
    const acl = (await readFile(path.join(DEPLOY_MOSQUITTO, "acl"), "utf8")) + "\nuser pi-01\ntopic read gait/fleet/lab-a/ota/#\n";
    const aclFile = path.join(dir, "gait.acl");
    await writeFile(aclFile, acl);
    const tlsPort = await freePort();
    const localPort = await freePort();
    const wsPort = await freePort();
    const conf = await readFile(path.join(DEPLOY_MOSQUITTO, "mosquitto.conf"), "utf8");
    const broker = await startMosquitto({ passwordFile: path.join(creds, "passwd"), aclFile, extraConf: productionListeners(conf, creds, localPort, tlsPort, wsPort) });
    return {
      broker,
      dir,
      localPort,
      tlsPort,
      wsPort,
      localUrl: `mqtt://127.0.0.1:${localPort}`,
      stop: async () => {
        await broker.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

/** A plain client logged in as `user`, collecting what it receives. */
export async function connectAs(url: string, user: Account, clientId = `${user}-${Math.random().toString(16).slice(2, 10)}`): Promise<{ client: MqttClient; messages: Received[] }> {
  const client = await connectAsync(url, { username: user, password: PASSWORDS[user], protocolVersion: 4, reconnectPeriod: 0, clientId });
  const messages: Received[] = [];
  client.on("message", (topic, payload, packet) => messages.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return { client, messages };
}

async function waitFor(what: string, probe: () => boolean, limitMs = 8000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`hostile: timed out after ${limitMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Every topic of a device, which no other device may publish on. */
export const DEVICE_TOPIC_SUFFIXES = ["angles", "status", "model", "command", "command/response", "ota/state", "ota/request", "ota/command/response", "ota/offer", "ota/chunk", "bridge"] as const;
/** What the intruder subscribes to, hoping to read the victim's traffic. */
export const SNOOP_FILTERS = ["gait/pi-01/command", "gait/+/command", "gait/pi-01/ota/#", "gait/#"] as const;

export interface HostileResult {
  readonly takeoverAttempts: number;
  /** Connection changes the victim saw after its first connect (a kick is one). */
  readonly victimDisconnects: number;
  readonly victimReconnects: number;
  /** The victim's status topic as ops saw it: only its own "online" may be there. */
  readonly forgedStatusDelivered: number;
  readonly snoopFilters: number;
  /** Messages of the victim's topics that reached the intruder. */
  readonly victimMessagesRead: number;
  readonly forgedPublishes: number;
  /** Forged messages that reached ops. */
  readonly forgedPublishesDelivered: number;
}

/**
 * The hostile-device attack against a broker set up by startProductionBroker.
 * Leaves the victim's retained status cleared.
 */
export async function hostileDeviceAttack(setup: ProductionBroker, takeovers = 10): Promise<HostileResult> {
  const clients: MqttClient[] = [];
  const url = setup.localUrl;
  const victim = new MqttConnection(
    mqttConfigSchema.parse({ url, deviceId: "pi-01", username: "pi-01", password: PASSWORDS["pi-01"], reconnectMinMs: 50, reconnectMaxMs: 400 }),
    { logger: memoryLogger("mqtt"), onChange: (e) => events.push(e.state) },
  );
  const events: string[] = [];
  try {
    const ops = await connectAs(url, "ops");
    clients.push(ops.client);
    await ops.client.subscribeAsync("gait/#", { qos: 1 });
    await victim.start();
    if (!victim.connected) throw new Error("hostile: the victim pi-01 could not connect to the production broker");
    await waitFor("the victim's online status", () => ops.messages.some((m) => m.topic === "gait/pi-01/status"));

    // 1. Takeovers of the victim's client id, each with a forged will; no DISCONNECT,
    //    so the broker would publish the will if the ACL let it.
    const forgedWill = { topic: "gait/pi-01/status", payload: '{"state":"offline","reason":"forged"}', qos: 1 as const, retain: true };
    for (let i = 0; i < takeovers; i++) {
      const intruder = await connectAsync(url, { username: "pi-02", password: PASSWORDS["pi-02"], protocolVersion: 4, reconnectPeriod: 0, clientId: "gait-pi-01", will: forgedWill });
      clients.push(intruder);
      intruder.stream.destroy();
    }
    // A kicked victim would have seen its socket close before this QoS 1 round trip completes.
    await victim.publish("gait/pi-01/angles", "sentinel-1", { qos: 1 });
    await waitFor("the victim's sentinel at ops", () => ops.messages.some((m) => m.payload === "sentinel-1"));
    // A fresh pi-02 connection takes over whatever the broker held of the intruders:
    // by its CONNACK every forged will was published or refused.
    const last = await connectAs(url, "pi-02");
    clients.push(last.client);
    await last.client.publishAsync("gait/pi-02/status", "sentinel-2", { qos: 1 });
    await waitFor("pi-02's own status at ops", () => ops.messages.some((m) => m.payload === "sentinel-2"));

    // 2. Snooping on the victim's commands and OTA topics.
    const snoop = await connectAs(url, "pi-02", "pi-02-intruder");
    clients.push(snoop.client);
    for (const filter of [...SNOOP_FILTERS, "gait/pi-02/command"]) await snoop.client.subscribeAsync(filter, { qos: 1 });
    const commands: string[] = [];
    victim.subscribe("gait/pi-01/command", (_topic, payload) => commands.push(payload.toString()));
    // The victim subscribes asynchronously: ask until it hears one (bounded).
    for (let i = 0; i < 40 && !commands.includes("for-pi-01"); i++) {
      await ops.client.publishAsync("gait/pi-01/command", "for-pi-01", { qos: 1 });
      await sleep(100);
    }
    if (!commands.includes("for-pi-01")) throw new Error("hostile: the victim never received its own command");
    await ops.client.publishAsync("gait/pi-02/command", "sentinel-3", { qos: 1 });
    await waitFor("the intruder's own command", () => snoop.messages.some((m) => m.payload === "sentinel-3"));

    // 3. Publishing on every one of the victim's topics.
    for (const suffix of DEVICE_TOPIC_SUFFIXES) {
      await snoop.client.publishAsync(`gait/pi-01/${suffix}`, "forged", { qos: 1, retain: suffix === "status" });
    }
    await snoop.client.publishAsync("gait/pi-02/angles", "sentinel-4", { qos: 1 });
    await waitFor("the intruder's own angles at ops", () => ops.messages.some((m) => m.payload === "sentinel-4"));

    const victimStatus = ops.messages.filter((m) => m.topic === "gait/pi-01/status" && m.payload !== "");
    return {
      takeoverAttempts: takeovers,
      victimDisconnects: events.filter((e) => e !== "connected").length,
      victimReconnects: victim.stats().reconnects,
      forgedStatusDelivered: victimStatus.filter((m) => !/"state":"online"/.test(m.payload)).length,
      snoopFilters: SNOOP_FILTERS.length,
      victimMessagesRead: snoop.messages.filter((m) => m.topic.startsWith("gait/pi-01/")).length,
      forgedPublishes: DEVICE_TOPIC_SUFFIXES.length + takeovers,
      forgedPublishesDelivered: ops.messages.filter((m) => m.payload === "forged").length,
    };
  } finally {
    await victim.stop();
    // The victim's retained offline/stopped must not greet whoever connects next.
    const cleaner = await connectAs(url, "pi-01").catch(() => undefined);
    await cleaner?.client.publishAsync("gait/pi-01/status", "", { qos: 1, retain: true }).catch(() => undefined);
    await Promise.all([...clients, ...(cleaner ? [cleaner.client] : [])].map((c) => c.endAsync(true).catch(() => undefined)));
  }
}

export async function runHostile(opts: { quick?: boolean } = {}): Promise<CheckResult> {
  const t0 = performance.now();
  const setup = await startProductionBroker();
  try {
    const r = await hostileDeviceAttack(setup, opts.quick ? 10 : 100);
    const figures = {
      takeover_attempts: r.takeoverAttempts,
      victim_disconnects: r.victimDisconnects,
      victim_reconnects: r.victimReconnects,
      forged_status_delivered: r.forgedStatusDelivered,
      snoop_filters: r.snoopFilters,
      victim_messages_read: r.victimMessagesRead,
      forged_publishes: r.forgedPublishes,
      forged_publishes_delivered: r.forgedPublishesDelivered,
    };
    return checkResult("hostile", t0, opts, {
      ok: r.victimDisconnects === 0 && r.victimReconnects === 0 && r.forgedStatusDelivered === 0 && r.victimMessagesRead === 0 && r.forgedPublishesDelivered === 0,
      figures,
      targets: {
        victim_disconnects: "0",
        victim_reconnects: "0",
        forged_status_delivered: "0",
        victim_messages_read: "0",
        forged_publishes_delivered: "0",
      },
      notes: ["deploy/mosquitto/ as shipped (acl, mosquitto.conf, make-credentials.sh), listeners on free loopback ports; attacker = device pi-02's credentials"],
    });
  } finally {
    await setup.stop();
  }
}
