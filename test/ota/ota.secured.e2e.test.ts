/**
 * The OTA bar of the product issue, through the PRODUCTION broker setup: a real
 * mosquitto with the password file from deploy/mosquitto/make-credentials.sh
 * and the shipped deploy/mosquitto/acl, unchanged. Device `pi-ota` (username =
 * deviceId, as docs/deployment.md requires) replays a real trial while the
 * `ops` account offers a signed 1.0.1 bundle, watches everything the device
 * publishes, then rolls it back by command.
 *
 * ota.e2e.test.ts covers the same flow (and the refusals, resume and NaN
 * rollback) on an anonymous broker; this file proves the roles in the ACL are
 * enough for OTA and that the ACL is really in force on the very same broker.
 *
 * "Cannot publish" is checked without sleeping (as in test/deploy/mosquitto.test.ts):
 * after the forbidden messages the same connection sends an allowed sentinel;
 * MQTT keeps one connection's messages in order, so once ops has the sentinel,
 * a forbidden message the broker let through would have arrived before it.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import type { OtaCommandResponse, OtaStateMessage } from "../../edge/ota/messages.js";
import { ModelStore } from "../../edge/ota/modelStore.js";
import { OtaPublisher } from "../../edge/ota/publisher.js";
import type { AnglesMessage, ModelInfoMessage } from "../../edge/mqtt/topics.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { startMosquitto, type RunningMosquitto } from "../helpers/mosquitto.js";
import { makeBundle, makeKeys, MODEL, MODEL_DIR, outcomeOf, tempDir, waitFor, type Keys } from "./helpers.js";

const DEPLOY = path.resolve(import.meta.dirname, "../../deploy/mosquitto");
const TRIAL = "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz";
const DEVICE = "pi-ota";
const PASSWORDS = { [DEVICE]: "pw-pi-ota", "pi-other": "pw-pi-other", ops: "pw-ops", dashboard: "pw-dash" } as const;
type Account = keyof typeof PASSWORDS;

let broker: RunningMosquitto;
let work: string;
let keys: Keys;
const clients: MqttClient[] = [];
/** Stopped after each test even when it fails, so a failure does not leave a replay running. */
const running: Array<{ stop(): Promise<void> }> = [];
async function stopNow(service: { stop(): Promise<void> }): Promise<void> {
  running.splice(running.indexOf(service), 1);
  await service.stop();
}

beforeAll(async () => {
  work = await tempDir("secured");
  const creds = path.join(work, "creds");
  const users = Object.entries(PASSWORDS).flatMap(([user, pw]) => ["--user", `${user}:${pw}`]);
  execFileSync("bash", [path.join(DEPLOY, "make-credentials.sh"), "--out", creds, ...users], { stdio: "pipe" });
  // The shipped ACL as it is: OTA by device id needs no per-device line.
  // A plain loopback listener is enough here; the TLS listener of the shipped
  // mosquitto.conf is covered by test/deploy/mosquitto.test.ts.
  broker = await startMosquitto({ passwordFile: path.join(creds, "passwd"), aclFile: path.join(DEPLOY, "acl") });
  keys = await makeKeys(path.join(work, "keys"));
});

afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop().catch(() => undefined);
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
});

afterAll(async () => {
  await broker?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function connectAs(user: Account, password: string = PASSWORDS[user]): Promise<MqttClient> {
  const client = await connectAsync(broker.url, {
    username: user,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 3000,
    clientId: `${user}-test-${randomUUID().slice(0, 8)}`,
  });
  clients.push(client);
  return client;
}

interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/** An account's view of `filter`: every message, and the JSON ones by topic. */
async function watch(user: Account, filter: string) {
  const client = await connectAs(user);
  const messages: Received[] = [];
  client.on("message", (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain }));
  const granted = await client.subscribeAsync(filter, { qos: 1 });
  expect(granted[0]?.qos, `${user} may subscribe to ${filter}`).toBe(1);
  // Binary chunks and empty (cleared retained) messages are not JSON.
  const json = (suffix: string): unknown[] =>
    messages
      .filter((m) => m.topic === `gait/${DEVICE}/${suffix}` && m.payload.length > 0)
      .map((m) => JSON.parse(m.payload.toString()) as unknown);
  return {
    client,
    messages,
    json,
    angles: () => json("angles") as AnglesMessage[],
    states: () => json("ota/state") as OtaStateMessage[],
    /** An OTA command as ops sends it, and the device's reply. */
    command: async (command: string): Promise<OtaCommandResponse> => {
      const id = randomUUID();
      await client.publishAsync(`gait/${DEVICE}/ota/command`, JSON.stringify({ id, command }), { qos: 1 });
      return waitFor(`reply to ${command}`, () => (json("ota/command/response") as OtaCommandResponse[]).find((r) => r.id === id));
    },
  };
}

/** What a client connecting now gets, retained, on the device's model and OTA state topics. */
async function retainedVersions(user: Account): Promise<{ model: string; ota: string }> {
  const client = await connectAs(user);
  const retained = new Map<string, unknown>();
  client.on("message", (topic, payload, packet) => {
    if (packet.retain && payload.length > 0) retained.set(topic, JSON.parse(payload.toString()));
  });
  for (const topic of [`gait/${DEVICE}/model`, `gait/${DEVICE}/ota/state`]) {
    const granted = await client.subscribeAsync(topic, { qos: 1 });
    expect(granted[0]?.qos, `${user} may read ${topic}`).toBe(1);
  }
  const model = await waitFor("retained model", () => retained.get(`gait/${DEVICE}/model`) as ModelInfoMessage | undefined);
  const ota = await waitFor("retained OTA state", () => retained.get(`gait/${DEVICE}/ota/state`) as OtaStateMessage | undefined);
  return { model: model.version, ota: ota.installed_version };
}

describe("OTA through mosquitto with the production password file and ACL", () => {
  it("ops offers a signed update, pi-ota installs it mid-trial (no gap, no duplicate), reports it retained, then rolls back by command", async () => {
    const bundle = await makeBundle(work, "secured-101", keys);
    const ops = await watch("ops", `gait/${DEVICE}/#`);
    const deviceLogger = memoryLogger();
    const config = parseConfig({
      model: MODEL,
      sources: [{ kind: "replay", file: TRIAL, speed: 2 }],
      mqtt: {
        url: broker.url,
        deviceId: DEVICE,
        username: DEVICE,
        password: PASSWORDS[DEVICE],
        reconnectMinMs: 50,
        reconnectMaxMs: 200,
        keepaliveS: 5,
      },
      ota: { dir: path.join(work, "pi-ota-models"), publicKeys: [keys.publicKey], autoInstall: true, probationStrides: 8 },
    });
    const runtime = new EdgeRuntime(config, { logger: deviceLogger });
    running.push(runtime);
    await runtime.start();
    await waitFor("the first angles at ops", () => ops.angles().length >= 4);

    // `gait-edge ota-publish --broker mqtt://ops:PW@host:port`: the CLI's only way to give credentials.
    const publishLogger = memoryLogger("ota-publish");
    const pub = new OtaPublisher(
      { bundleDir: bundle, brokerUrl: `mqtt://ops:${PASSWORDS.ops}@127.0.0.1:${broker.port}`, target: { deviceId: DEVICE } },
      { logger: publishLogger },
    );
    running.push(pub);
    await pub.start();
    const outcome = await outcomeOf(pub);
    await stopNow(pub);
    expect(outcome.ok, JSON.stringify(outcome.state)).toBe(true);
    expect(outcome.state).toMatchObject({ state: "idle", installed_version: "1.0.1", offered_version: "1.0.1" });
    const states = ops.states().map((s) => s.state);
    expect(states).toEqual(expect.arrayContaining(["downloading", "verifying", "installing", "idle"]));
    await waitFor("angles from 1.0.1 at ops", () => ops.angles().filter((m) => m.model.version === "1.0.1").length >= 3);
    // Retained: a dashboard connecting now learns the new version without asking.
    await waitFor("model topic 1.0.1", () => (ops.json("model") as ModelInfoMessage[]).at(-1)?.version === "1.0.1");
    expect(await retainedVersions("dashboard")).toEqual({ model: "1.0.1", ota: "1.0.1" });

    const reply = await ops.command("rollback");
    expect(reply, JSON.stringify(reply)).toMatchObject({ status: "ok" });
    await waitFor("rolled_back state", () => ops.states().at(-1)?.state === "rolled_back");
    expect(ops.states().at(-1)).toMatchObject({ installed_version: "1.0.0", code: "rollback_command" });
    await waitFor("model topic back to 1.0.0", () => (ops.json("model") as ModelInfoMessage[]).at(-1)?.version === "1.0.0");
    expect(await retainedVersions("ops")).toEqual({ model: "1.0.0", ota: "1.0.0" });
    const afterRollback = ops.angles().length;
    await waitFor("angles from 1.0.0 again", () => ops.angles().length >= afterRollback + 3);

    const published = runtime.stats().pipelines.default!.published;
    await stopNow(runtime);
    await waitFor("every angles message at ops", () => ops.angles().length >= published);
    expect(runtime.stats().pipelines.default!.skipped).toBe(0);

    const angles = ops.angles();
    // no duplicated and no missing sequence number
    expect(angles.map((m) => m.seq)).toEqual(angles.map((_, i) => i + 1));
    // No gap longer than one stride, nothing computed twice: the device clock
    // advances by exactly one 100 Hz grid step within and across messages.
    const t = angles.flatMap((m) => m.sensorTimeUs!);
    const steps = t.slice(1).map((v, i) => v - t[i]!);
    expect(Math.min(...steps)).toBeCloseTo(10_000, 0);
    expect(Math.max(...steps)).toBeCloseTo(10_000, 0);
    const runs = angles.map((m) => m.model.version).filter((v, i, all) => i === 0 || all[i - 1] !== v);
    expect(runs).toEqual(["1.0.0", "1.0.1", "1.0.0"]);
    const store = new ModelStore(config.ota!.dir, { logger: memoryLogger() });
    expect(await store.readPointer("current")).toBe(path.resolve(MODEL_DIR));
    // Credentials never reach a log.
    for (const pw of Object.values(PASSWORDS)) {
      expect([...deviceLogger.lines, ...publishLogger.lines].join("\n")).not.toContain(pw);
    }
  }, 30_000);

  it("keeps the ACL in force on that broker: pi-ota cannot offer updates, and a wrong password is refused", async () => {
    const ops = await watch("ops", "gait/#");
    const other = await watch("pi-other", `gait/pi-other/ota/#`);
    const device = await connectAs(DEVICE);
    const forged = '{"format":"gait-ota-offer/1","forged":true}';
    // Another device's offer and chunks, a fleet's offer, its own offer and OTA
    // command (those come from ops only): all dropped by the broker.
    for (const topic of [
      "gait/pi-other/ota/offer",
      "gait/pi-other/ota/chunk",
      "gait/pi-other/ota/command",
      "gait/fleet/lab/ota/offer",
      `gait/${DEVICE}/ota/offer`,
      `gait/${DEVICE}/ota/command`,
    ]) {
      await device.publishAsync(topic, forged, { qos: 1, retain: topic.endsWith("/offer") });
    }
    await device.publishAsync(`gait/${DEVICE}/ota/request`, "sentinel", { qos: 1 });
    await waitFor("the sentinel at ops", () => ops.messages.find((m) => m.payload.toString() === "sentinel"));
    expect(ops.messages.filter((m) => m.payload.toString() === forged).map((m) => m.topic)).toEqual([]);
    // pi-other itself: ops may offer to it, and mosquitto (one thread) queued any
    // forged offer it had let through before this later one.
    await ops.client.publishAsync("gait/pi-other/ota/offer", "ops-sentinel", { qos: 1 });
    await waitFor("the ops offer at pi-other", () => other.messages.find((m) => m.payload.toString() === "ops-sentinel"));
    expect(other.messages.filter((m) => m.payload.toString() === forged)).toEqual([]);

    // A wrong password for pi-ota, and no credentials at all, are refused at CONNECT.
    await expect(connectAs(DEVICE, "not-the-password")).rejects.toThrow(/Not authorized|Bad username or password/i);
    await expect(
      connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000 }).then((c) => c.endAsync(true)),
    ).rejects.toThrow(/Not authorized|Connection refused/i);
  }, 15_000);
});
