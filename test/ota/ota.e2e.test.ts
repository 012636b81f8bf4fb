/**
 * OTA updates end to end through a real mosquitto: the device runtime, the
 * `ota-publish` side (OtaPublisher), signed bundles made from the shipped model.
 */
import { randomUUID } from "node:crypto";
import { statSync } from "node:fs";
import { mkdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadManifest } from "../../edge/contract/manifest.js";
import { memoryLogger } from "../../edge/log.js";
import { OtaAgent, onnxModelLoader } from "../../edge/ota/agent.js";
import { otaConfigSchema, type OtaConfigInput } from "../../edge/ota/config.js";
import type { OtaCommandResponse, OtaStateMessage } from "../../edge/ota/messages.js";
import { ModelStore } from "../../edge/ota/modelStore.js";
import { OtaPublisher } from "../../edge/ota/publisher.js";
import { SwappableModel } from "../../edge/ota/swappableModel.js";
import { mqttConfigSchema } from "../../edge/mqtt/config.js";
import { MqttConnection } from "../../edge/mqtt/connection.js";
import type { AnglesMessage, ModelInfoMessage } from "../../edge/mqtt/topics.js";
import { parseConfig, type RuntimeConfigInput } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { startMosquitto, type RunningMosquitto } from "../helpers/mosquitto.js";
import { TcpProxy } from "../mqtt/tcpProxy.js";
import { makeBundle, makeKeys, MODEL, MODEL_DIR, modelCopy, outcomeOf, sha256, tempDir, waitFor, type Keys } from "./helpers.js";

const TRIAL = "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz";
const SIMULATOR = { sources: [{ kind: "simulator" as const }], sensors: { "w1:femur_r": "femur_r", "w1:calcn_r": "calcn_r" } };
let broker: RunningMosquitto;
let work: string;
let keys: Keys;

beforeAll(async () => {
  broker = await startMosquitto();
  work = await tempDir("e2e");
  keys = await makeKeys(path.join(work, "keys"));
});
afterAll(async () => {
  await broker?.stop();
});

function deviceConfig(deviceId: string, ota: Partial<OtaConfigInput>, rest: Partial<RuntimeConfigInput>, url = broker.url) {
  return parseConfig({
    model: MODEL,
    ...rest,
    mqtt: { url, deviceId, reconnectMinMs: 50, reconnectMaxMs: 200, keepaliveS: 5 },
    ota: { dir: path.join(work, `${deviceId}-models`), publicKeys: [keys.publicKey], ...ota },
  });
}

interface Watcher {
  client: MqttClient;
  json: (suffix: string) => unknown[];
  angles: () => AnglesMessage[];
  states: () => OtaStateMessage[];
  command: (command: string) => Promise<OtaCommandResponse>;
  end: () => Promise<void>;
}

/** Everything a device publishes, as a dashboard sees it; and its OTA command topic. */
async function watch(deviceId: string): Promise<Watcher> {
  const client = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
  const messages = new Map<string, unknown[]>();
  client.on("message", (topic, payload) => {
    if (topic.endsWith("/ota/chunk") || payload.length === 0) return;
    const list = messages.get(topic) ?? [];
    list.push(JSON.parse(payload.toString()));
    messages.set(topic, list);
  });
  await client.subscribeAsync(`gait/${deviceId}/#`, { qos: 1 });
  const json = (suffix: string): unknown[] => messages.get(`gait/${deviceId}/${suffix}`) ?? [];
  return {
    client,
    json,
    angles: () => json("angles") as AnglesMessage[],
    states: () => json("ota/state") as OtaStateMessage[],
    command: async (command) => {
      const id = randomUUID();
      const before = json("ota/command/response").length;
      await client.publishAsync(`gait/${deviceId}/ota/command`, JSON.stringify({ id, command }), { qos: 1 });
      return waitFor(`reply to ${command}`, () =>
        (json("ota/command/response").slice(before) as OtaCommandResponse[]).find((r) => r.id === id),
      );
    },
    end: () => client.endAsync(true),
  };
}

async function offer(bundleDir: string, deviceId: string, chunkSize?: number, beforeChunk?: (f: number, k: number) => Promise<void>): Promise<OtaPublisher> {
  const pub = new OtaPublisher(
    { bundleDir, brokerUrl: broker.url, target: { deviceId }, ...(chunkSize ? { chunkSize } : {}) },
    { logger: memoryLogger("ota-publish"), ...(beforeChunk ? { beforeChunk } : {}) },
  );
  await pub.start();
  return pub;
}

describe("OTA model updates through mosquitto", () => {
  it("installs a signed update while a real trial streams (no gap, no duplicate, new version everywhere), then rolls back by command", async () => {
    const bundle = await makeBundle(work, "live-101", keys);
    const config = deviceConfig("ota-live", { autoInstall: true, probationStrides: 8 }, { sources: [{ kind: "replay", file: TRIAL, speed: 2 }] });
    const w = await watch("ota-live");
    const logger = memoryLogger();
    const runtime = new EdgeRuntime(config, { logger });
    await runtime.start();
    await waitFor("the first angles", () => w.angles().length >= 4);

    const pub = await offer(bundle, "ota-live");
    const outcome = await outcomeOf(pub);
    await pub.stop();
    expect(outcome.ok, JSON.stringify(outcome.state)).toBe(true);
    expect(outcome.state).toMatchObject({ state: "idle", installed_version: "1.0.1", offered_version: "1.0.1" });
    await waitFor("model topic 1.0.1", () => (w.json("model") as ModelInfoMessage[]).at(-1)?.version === "1.0.1");
    await waitFor("angles from 1.0.1", () => w.angles().filter((m) => m.model.version === "1.0.1").length >= 3);
    const states = w.states().map((s) => s.state);
    expect(states).toEqual(expect.arrayContaining(["downloading", "verifying", "installing", "idle"]));
    expect(states.indexOf("verifying")).toBeLessThan(states.lastIndexOf("installing"));

    const reply = await w.command("rollback");
    expect(reply, JSON.stringify(reply)).toMatchObject({ status: "ok" });
    await waitFor("rolled_back state", () => w.states().at(-1)?.state === "rolled_back");
    expect(w.states().at(-1)).toMatchObject({ installed_version: "1.0.0", code: "rollback_command", reason: expect.stringMatching(/rolled back from 1.0.1 to 1.0.0/) });
    await waitFor("model topic back to 1.0.0", () => (w.json("model") as ModelInfoMessage[]).at(-1)?.version === "1.0.0");
    // get_status says why the retained offer of 1.0.1 will not install it again (after a restart too)
    expect(runtime.stats().ota?.state.rejected).toMatchObject([{ version: "1.0.1", code: "rollback_command", reason: expect.stringMatching(/rolled back by command/) }]);
    const afterRollback = w.angles().length;
    await waitFor("angles from 1.0.0 again", () => w.angles().length >= afterRollback + 3);

    const published = runtime.stats().pipelines.default!.published;
    await runtime.stop();
    await waitFor("every angles message", () => w.angles().length >= published);
    const skipped = runtime.stats().pipelines.default!.skipped;
    await w.end();

    const angles = w.angles();
    expect(skipped).toBe(0);
    // no duplicated and no missing sequence number
    expect(angles.map((m) => m.seq)).toEqual(angles.map((_, i) => i + 1));
    // no stride dropped or computed twice: the device clock advances by exactly one grid step throughout
    const t = angles.flatMap((m) => m.sensorTimeUs!);
    const steps = t.slice(1).map((v, i) => v - t[i]!);
    expect(Math.min(...steps)).toBeCloseTo(10_000, 0);
    expect(Math.max(...steps)).toBeCloseTo(10_000, 0);
    // versions switch once each way, at message boundaries
    const runs = angles.map((m) => m.model.version).filter((v, i, all) => i === 0 || all[i - 1] !== v);
    expect(runs).toEqual(["1.0.0", "1.0.1", "1.0.0"]);
    // on disk: the shipped model is current again, nothing left to roll "back" to
    const store = new ModelStore(config.ota!.dir, { logger: memoryLogger() });
    expect(await store.readPointer("current")).toBe(path.resolve(MODEL_DIR));
    expect(await store.readPointer("previous")).toBeUndefined();
  }, 40_000);

  it("refuses every bad update with a clear reason on the state topic and in the log", async () => {
    const other = await makeKeys(path.join(work, "other-keys"));
    // Room for the files of an int8 bundle (what every other case offers: manifest not counted), not for the fp32 variant too.
    const fileBytes = (f: string): number => statSync(path.join(MODEL_DIR, f)).size;
    const maxBytes = ["golden.json", "model.int8.onnx"].reduce((sum, f) => sum + fileBytes(f), 0) + Math.floor(fileBytes("model.fp32.onnx") / 2);
    const config = deviceConfig("ota-gate", { autoInstall: true, probationStrides: 2, maxBytes }, SIMULATOR);
    const logger = memoryLogger();
    const runtime = new EdgeRuntime(config, { logger });
    await runtime.start();
    const cases: { name: string; bundle: () => Promise<string>; code: string; reason: RegExp }[] = [
      {
        name: "unsigned",
        bundle: async () => {
          const b = await makeBundle(work, "unsigned", keys);
          await rm(path.join(b, "manifest.sig"));
          return b;
        },
        code: "unsigned",
        reason: /^unsigned/,
      },
      { name: "wrong key", bundle: () => makeBundle(work, "wrong-key", other), code: "untrusted_key", reason: /untrusted key/ },
      {
        name: "bad signature",
        bundle: async () => {
          const b = await makeBundle(work, "bad-sig", keys);
          const m = await readFile(path.join(b, "manifest.json"), "utf8");
          // One harmless field more after signing: the manifest's bytes no longer match the signature.
          await writeFile(path.join(b, "manifest.json"), JSON.stringify({ ...(JSON.parse(m) as object), note: "tampered" }, null, 2) + "\n");
          return b;
        },
        code: "bad_signature",
        reason: /bad signature/,
      },
      {
        name: "truncated",
        bundle: async () => {
          const b = await makeBundle(work, "truncated", keys);
          await truncate(path.join(b, "model.int8.onnx"), 10_000);
          return b;
        },
        code: "truncated",
        reason: /truncated: model.int8.onnx is offered with 10000 bytes, the signed manifest says \d+/,
      },
      { name: "oversize", bundle: () => makeBundle(work, "oversize", keys, { variants: true }), code: "oversize", reason: new RegExp(`ota.maxBytes allows ${maxBytes}`) },
      {
        name: "incompatible contract",
        bundle: () =>
          makeBundle(work, "window40", keys, {
            edit: (m) => {
              const t = m.tensors as { input: { shape: unknown[] }; output: { shape: unknown[] } };
              Object.assign(m, { window: 40, stride: 20 });
              t.input.shape = ["batch", 40, 18];
              t.output.shape = ["batch", 40, 5];
            },
          }),
        code: "incompatible",
        reason: /incompatible contract.*window: the running model has 50, the offered one 40/,
      },
      { name: "downgrade", bundle: () => makeBundle(work, "downgrade", keys, { version: "0.9.0" }), code: "downgrade", reason: /0.9.0 is lower than the installed 1.0.0/ },
      {
        name: "sha256 mismatch",
        bundle: async () => {
          const b = await makeBundle(work, "sha", keys);
          const file = path.join(b, "model.int8.onnx");
          const bytes = await readFile(file);
          bytes[1000]! ^= 0xff;
          await writeFile(file, bytes);
          return b;
        },
        code: "sha256_mismatch",
        reason: /sha256 mismatch for model.int8.onnx/,
      },
      {
        name: "model fails to load",
        bundle: () =>
          makeBundle(work, "garbage", keys, {
            edit: async (m, dir) => {
              const garbage = Buffer.from("this is not an onnx graph ".repeat(200));
              await writeFile(path.join(dir, "model.int8.onnx"), garbage);
              m.model = { ...m.model, sha256: sha256(garbage), bytes: garbage.length };
            },
          }),
        code: "load_failed",
        reason: /the model does not load: .*onnxruntime cannot load the model/,
      },
    ];
    for (const c of cases) {
      const pub = await offer(await c.bundle(), "ota-gate");
      const outcome = await outcomeOf(pub);
      await pub.stop();
      expect(outcome.ok, c.name).toBe(false);
      expect(outcome.state, c.name).toMatchObject({ state: "failed", code: c.code, reason: expect.stringMatching(c.reason), installed_version: "1.0.0" });
      const logged = logger.lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(logged.some((m) => m.includes(outcome.state.reason!)), `${c.name}: reason in the log`).toBe(true);
    }
    expect(runtime.contract.manifest.version).toBe("1.0.0");
    expect(runtime.ota!.stats().installs).toBe(0);

    // the same downgrade, signed as one: installs
    const pub = await offer(await makeBundle(work, "downgrade-ok", keys, { version: "0.9.0", allowDowngrade: true }), "ota-gate");
    const outcome = await outcomeOf(pub);
    await pub.stop();
    expect(outcome, JSON.stringify(outcome.state)).toMatchObject({ ok: true, state: { installed_version: "0.9.0" } });
    await runtime.stop();
  }, 40_000);

  it("waits for accept, honours postpone, and resumes a download after the connection drops mid-transfer", async () => {
    const proxy = new TcpProxy(broker.port);
    await proxy.start();
    const config = deviceConfig("ota-resume", { autoInstall: false, probationStrides: 0, requestTimeoutMs: 300, chunksInFlight: 4 }, SIMULATOR, proxy.url);
    const runtime = new EdgeRuntime(config, { logger: memoryLogger() });
    await runtime.start();
    const w = await watch("ota-resume");
    const bundle = await makeBundle(work, "resume-101", keys);
    let cut = false;
    const pub = await offer(bundle, "ota-resume", 16 * 1024, async () => {
      if (cut || pub.stats().chunksServed < 20) return;
      cut = true;
      await proxy.cut(); // the device loses its connection mid-transfer
      await new Promise((r) => setTimeout(r, 300));
      await proxy.start();
    });

    await waitFor("available", () => w.states().at(-1)?.state === "available");
    expect(await w.command("postpone")).toMatchObject({ status: "ok", data: { state: "available", code: "postponed" } });
    expect(await w.command("rollback")).toMatchObject({ status: "error", error: "no previous model to roll back to" });
    expect(await w.command("accept")).toMatchObject({ status: "ok", data: { state: "downloading" } });
    const outcome = await outcomeOf(pub, 20_000);
    const served = pub.stats().chunksServed;
    await pub.stop();
    await runtime.stop();
    await w.end();
    await proxy.stop();

    const modelBytes = (await readFile(path.join(bundle, "model.int8.onnx"))).length;
    const total = Math.ceil(modelBytes / 16384) + Math.ceil((await readFile(path.join(bundle, "golden.json"))).length / 16384);
    expect(cut).toBe(true);
    expect(outcome, JSON.stringify(outcome.state)).toMatchObject({ ok: true, state: { installed_version: "1.0.1" } });
    expect(runtime.stats().mqtt.reconnects).toBeGreaterThanOrEqual(1);
    expect(runtime.ota!.stats().rerequests).toBeGreaterThanOrEqual(1);
    // resumed, not restarted: only the chunks lost in the outage were sent twice
    expect(served).toBeGreaterThanOrEqual(total);
    expect(served).toBeLessThan(total + 20);
  }, 40_000);

  it("rolls back by itself when the new model yields NaN during its first strides", async () => {
    const contract = await loadManifest(MODEL);
    const initial = await onnxModelLoader()(contract);
    const models = new SwappableModel({ contract, model: initial });
    const mqtt = new MqttConnection(mqttConfigSchema.parse({ url: broker.url, deviceId: "ota-nan" }), { logger: memoryLogger() });
    await mqtt.start();
    const dir = path.join(work, "nan-models");
    const store = new ModelStore(dir, { logger: memoryLogger() });
    await store.recover();
    const changes: string[] = [];
    const golden = JSON.parse(await readFile(path.join(MODEL_DIR, "golden.json"), "utf8")) as { features: number[][][] };
    const agent = new OtaAgent(otaConfigSchema.parse({ dir, publicKeys: [keys.publicKey], autoInstall: true, probationStrides: 5 }), {
      logger: memoryLogger(),
      mqtt,
      prefix: "gait",
      deviceId: "ota-nan",
      models,
      store,
      // A model that passes its golden self-test (15 windows) and then outputs NaN.
      loadModel: async (c) => {
        const real = await onnxModelLoader()(c);
        let runs = 0;
        return { run: async (w, b) => ((runs += 1) > golden.features.length ? (await real.run(w, b)).map(() => Number.NaN) : real.run(w, b)), stop: () => real.stop() };
      },
      onModelChanged: (c) => changes.push(c.manifest.version),
    });
    await agent.start();
    // a pipeline's worth of windows, one at a time
    const lane = models.lane();
    const window = Float32Array.from(golden.features[3]!.flat());
    const results: { version: string; finite: boolean }[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const out = await lane.model.run(window);
        results.push({ version: lane.contract.manifest.version, finite: out.every(Number.isFinite) });
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const pub = await offer(await makeBundle(work, "nan-101", keys), "ota-nan");
    const outcome = await outcomeOf(pub);
    await pub.stop();
    running = false;
    await loop;
    await agent.stop();
    await mqtt.stop();
    await models.stop();

    expect(outcome.state).toMatchObject({ state: "rolled_back", code: "probation_failed", installed_version: "1.0.0", reason: expect.stringMatching(/rolled back from 1.0.1 to 1.0.0: .*NaN/) });
    expect(changes).toEqual(["1.0.1", "1.0.0"]);
    expect(results.every((r) => r.finite)).toBe(true); // the NaN window was answered by the old model
    expect(results.at(-1)!.version).toBe("1.0.0");
    // The candidate never became the boot model (only a passed probation promotes it):
    // nothing on disk names it, and the next start runs the configured model.
    expect(await store.readPointer("current")).toBeUndefined();
    expect(await store.readProbation()).toBeUndefined();
    expect((await new ModelStore(dir, { logger: memoryLogger() }).loadStartModel(MODEL)).manifest.version).toBe("1.0.0");
  }, 30_000);

  it("a fleet offer reaches every device of the fleet", async () => {
    const devices = ["fleet-a", "fleet-b"].map(
      (id) => new EdgeRuntime(deviceConfig(id, { fleetId: "lab", autoInstall: true, probationStrides: 0 }, SIMULATOR), { logger: memoryLogger() }),
    );
    for (const d of devices) await d.start();
    const pub = new OtaPublisher({ bundleDir: await makeBundle(work, "fleet-101", keys), brokerUrl: broker.url, target: { fleetId: "lab" } }, { logger: memoryLogger() });
    await pub.start();
    expect(pub.offerTopic).toBe("gait/fleet/lab/ota/offer");
    await waitFor("both devices installed", () => pub.stats().outcomes.length === 2);
    await pub.stop();
    expect(pub.stats().outcomes.map((o) => [o.deviceId, o.ok, o.state.installed_version]).sort()).toEqual([
      ["fleet-a", true, "1.0.1"],
      ["fleet-b", true, "1.0.1"],
    ]);
    for (const d of devices) {
      expect(d.contract.manifest.version).toBe("1.0.1");
      await d.stop();
    }
  }, 20_000);

  it("after a crash in the middle of writing an update, the next start runs the previous model", async () => {
    const dir = path.join(work, "crash-models");
    const store = new ModelStore(dir, { logger: memoryLogger() });
    await store.recover();
    // 1.0.1 installed earlier
    const src = await modelCopy(path.join(work, "crash-src-101"), (m) => void (m.version = "1.0.1"));
    const c101 = await loadManifest(src);
    const files = await Promise.all(["golden.json", "model.int8.onnx"].map(async (name) => ({ name, data: await readFile(path.join(src, name)) })));
    const folder = await store.install(await readFile(path.join(src, "manifest.json")), c101.manifest, files);
    await store.commit(folder, path.resolve(MODEL_DIR));
    // then 1.0.2 killed while its model file was half written: a partial temp file, no rename, no manifest
    const partial = path.join(dir, "reduced-femur-calcn-lstm-1.0.2-669cd9e6");
    await mkdir(partial, { recursive: true });
    await writeFile(path.join(partial, ".model.int8.onnx.tmp-4242-0badc0de"), files[1]!.data.subarray(0, 50_000));

    const runtime = new EdgeRuntime(deviceConfig("ota-crash", { dir }, SIMULATOR), { logger: memoryLogger() });
    const w = await watch("ota-crash");
    await runtime.start();
    expect(runtime.contract.manifest.version).toBe("1.0.1");
    await waitFor("model info", () => (w.json("model") as ModelInfoMessage[]).at(-1)?.version === "1.0.1");
    await waitFor("OTA state", () => w.states().at(-1)?.installed_version === "1.0.1");
    await runtime.stop();
    await w.end();
  }, 20_000);
});
