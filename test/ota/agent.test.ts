/**
 * The OTA agent on an in-memory broker (fakeMqtt.ts) with the real model and
 * real onnxruntime sessions: fast enough for the defects an attack run found
 * (issues #10, #13): a crash during probation, offer spam during a download.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { commandReplySchema } from "../../edge/commands/types.js";
import { memoryLogger } from "../../edge/log.js";
import { onnxModelLoader, type ModelLoader } from "../../edge/ota/agent.js";
import type { OtaConfigInput } from "../../edge/ota/config.js";
import { ModelStore, type CrashPoint } from "../../edge/ota/modelStore.js";
import { nanAfterGolden, startAgentDevice, type AgentDevice } from "./agentDevice.js";
import { FakeMqtt, lastState, serveBundle } from "./fakeMqtt.js";
import { makeBundle, makeKeys, MODEL, MODEL_DIR, tempDir, waitFor, type Keys } from "./helpers.js";

let work: string;
let keys: Keys;
let bundle101: string;
const running: Array<() => Promise<void>> = [];

beforeAll(async () => {
  work = await tempDir("agent");
  keys = await makeKeys(path.join(work, "keys"));
  bundle101 = await makeBundle(work, "b101", keys);
});

afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
});

type Device = AgentDevice;

/** What EdgeRuntime does at start when `ota` is configured (agentDevice.ts). */
async function startDevice(
  mqtt: FakeMqtt,
  dir: string,
  ota: Partial<OtaConfigInput>,
  loadModel: ModelLoader = onnxModelLoader(),
  extra: { serveCommands?: boolean; crashPoint?: (point: CrashPoint, file: string) => void } = {},
): Promise<Device> {
  const { crashPoint, ...agentExtra } = extra;
  return startAgentDevice({ mqtt, dir, publicKey: keys.publicKey, ota, loadModel, ...(crashPoint ? { crashPoint } : {}), extra: agentExtra }, running);
}

/** Polls an asynchronous condition (files on disk) every 20 ms, for at most `timeoutMs`. */
async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("OtaAgent: a crash during probation (issue #13, defect 1)", () => {
  it("the next start boots the previous model, reports the candidate as failed, and does not install it again by itself", async () => {
    const dir = path.join(work, "crash-probation");
    const mqtt = new FakeMqtt();
    const first = await startDevice(mqtt, dir, { autoInstall: true, probationStrides: 20 }, await nanAfterGolden());
    const served = await serveBundle(mqtt, bundle101, first.agent.topics);
    await waitFor("the new model on probation", () => first.models.onProbation);
    expect(first.models.contract.manifest.version).toBe("1.0.1");

    // kill -9 now: nothing is stopped or written; a new process starts on the same directory
    // and a new connection gets the retained offer again.
    const mqtt2 = new FakeMqtt();
    mqtt2.inject(first.agent.topics.offer, JSON.stringify(served.offer), { retain: true });
    const second = await startDevice(mqtt2, dir, { autoInstall: true, probationStrides: 20 });
    expect(second.models.contract.manifest.version).toBe("1.0.0");
    await mqtt2.settle();
    expect(lastState(mqtt2, second.agent.topics.state)).toMatchObject({
      state: "rolled_back",
      code: "probation_failed",
      installed_version: "1.0.0",
      transfer_id: served.offer.transferId,
      reason: expect.stringMatching(/1\.0\.1.*device restarted during probation/),
    });
    expect(second.agent.stats().installs).toBe(0);
    expect(second.logger.lines.join("\n")).toMatch(/device restarted during probation/);
    // the candidate's folder is gone; a third start still runs 1.0.0
    expect(await second.store.readPointer("current")).toBeUndefined();
    const third = await new ModelStore(dir, { logger: memoryLogger() }).loadStartModel(MODEL);
    expect(third.manifest.version).toBe("1.0.0");
  }, 30_000);

  it("a model that passed probation is current at the next start", async () => {
    const dir = path.join(work, "probation-passed");
    const mqtt = new FakeMqtt();
    const first = await startDevice(mqtt, dir, { autoInstall: true, probationStrides: 2 });
    await serveBundle(mqtt, bundle101, first.agent.topics);
    await waitFor("on probation", () => first.models.onProbation);
    const golden = JSON.parse(await readFile(path.join(MODEL_DIR, "golden.json"), "utf8")) as { features: number[][][] };
    const lane = first.models.lane();
    for (let i = 0; i < 2; i++) await lane.model.run(Float32Array.from(golden.features[i]!.flat()));
    await waitFor("idle on 1.0.1", () => {
      const s = lastState(mqtt, first.agent.topics.state);
      return s?.state === "idle" && s.installed_version === "1.0.1";
    });
    const again = await new ModelStore(dir, { logger: memoryLogger() }).loadStartModel(MODEL);
    expect(again.manifest.version).toBe("1.0.1");
  }, 30_000);
});

describe("OtaAgent: a restart in the middle of a download (issue #13, known weakness 4)", () => {
  it("resumes from the chunks kept on disk, even when the operator published the same bundle again", async () => {
    const dir = path.join(work, "resume-disk");
    const chunkSize = 16 * 1024;
    const mqtt = new FakeMqtt();
    const first = await startDevice(mqtt, dir, { autoInstall: true, probationStrides: 0 });
    const served = await serveBundle(mqtt, bundle101, first.agent.topics, chunkSize, { stopAfter: 20 });
    const total = served.offer.files.reduce((n, f) => n + Math.ceil(f.bytes / chunkSize), 0);
    const onDisk = async (): Promise<number> => {
      let n = 0;
      for (const i of served.offer.files.keys()) n += (await readFile(path.join(dir, ".partial", `${i}.have`)).catch(() => Buffer.alloc(0))).reduce((a, b) => a + b, 0);
      return n;
    };
    await eventually("20 chunks on disk", async () => (await onDisk()) === 20);

    // kill -9; a new process on the same directory; the operator runs ota-publish again (new transfer id)
    const mqtt2 = new FakeMqtt();
    const second = await startDevice(mqtt2, dir, { autoInstall: true, probationStrides: 0 });
    const again = await serveBundle(mqtt2, bundle101, second.agent.topics, chunkSize);
    expect(again.offer.transferId).not.toBe(served.offer.transferId);
    await waitFor("installed", () => {
      const s = lastState(mqtt2, second.agent.topics.state);
      return s?.state === "idle" && s.installed_version === "1.0.1";
    }, 15_000);
    expect(again.chunksServed()).toBe(total - 20);
    expect(second.logger.lines.join("\n")).toMatch(/resuming the download from disk: 20 chunks kept/);
    await eventually("the journal removed", async () => !(await readdir(dir)).includes(".partial"));
  }, 30_000);
});

describe("OtaAgent: the download journal is gone before the install writes anything", () => {
  // CI failure at stop 17: the journal was removed in the background while the install
  // ran, so a process started on the same folder (the kill -9 tests) could list
  // `.partial` and then find it gone (readdir ENOENT in ModelStore.recover).
  it("no `.partial` folder at the install's first write", async () => {
    const dir = path.join(work, "journal-first");
    const mqtt = new FakeMqtt();
    const seen: boolean[] = [];
    const first = await startDevice(mqtt, dir, { autoInstall: true, probationStrides: 0 }, onnxModelLoader(), {
      crashPoint: () => void seen.push(existsSync(path.join(dir, ".partial"))),
    });
    await serveBundle(mqtt, bundle101, first.agent.topics);
    await waitFor("installed", () => lastState(mqtt, first.agent.topics.state)?.installed_version === "1.0.1", 15_000);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).not.toContain(true);
  }, 30_000);
});

describe("OtaAgent: the probation record cannot be written", () => {
  it("the update fails as install_failed, nothing is swapped, the new session and folder are released", async () => {
    const dir = path.join(work, "no-record");
    const mqtt = new FakeMqtt();
    const sessions: { stopped: boolean }[] = [];
    const tracking: ModelLoader = async (c) => {
      const real = await onnxModelLoader()(c);
      const s = { stopped: false };
      sessions.push(s);
      return { run: (w, b) => real.run(w, b), stop: async () => void (s.stopped = true, await real.stop()) };
    };
    const device = await startDevice(mqtt, dir, { autoInstall: true, probationStrides: 5 }, tracking, {
      crashPoint: (point, file) => {
        if (point === "tmp-written" && path.basename(file) === "probation") throw new Error("EIO: disk on fire");
      },
    });
    await serveBundle(mqtt, bundle101, device.agent.topics);
    const failed = await waitFor("failed", () => {
      const s = lastState(mqtt, device.agent.topics.state);
      return s?.state === "failed" ? s : undefined;
    }, 15_000);
    expect(failed).toMatchObject({ code: "install_failed", reason: expect.stringMatching(/cannot record the probation on disk: EIO: disk on fire/), installed_version: "1.0.0" });
    expect(device.models.onProbation).toBe(false);
    expect(device.models.contract.manifest.version).toBe("1.0.0");
    expect(sessions.map((s) => s.stopped)).toEqual([true]);
    expect(await device.store.readProbation()).toBeUndefined();
    // the finished download's journal goes too (in the background)
    await eventually("the journal removed", async () => !(await readdir(dir)).includes(".partial"));
    // only the temporary file the failed write left (removed at the next start)
    expect((await readdir(dir)).filter((f) => !f.startsWith(".probation.tmp-"))).toEqual([]);
  }, 30_000);
});

describe("OtaAgent: offers that are not verified (issue #13, defect 2)", () => {
  it("a download in progress survives 1000 bad offers and completes; what the agent remembers stays bounded", async () => {
    const dir = path.join(work, "spam");
    const mqtt = new FakeMqtt();
    const device = await startDevice(mqtt, dir, { autoInstall: true, probationStrides: 0, requestTimeoutMs: 100 });
    const served = await serveBundle(mqtt, bundle101, device.agent.topics, 16 * 1024);
    served.pause();
    await waitFor("downloading", () => lastState(mqtt, device.agent.topics.state)?.state === "downloading");
    const topic = device.agent.topics.offer;
    for (let i = 0; i < 1000; i++) {
      const transferId = i.toString(16).padStart(32, "0");
      if (i % 10 === 0) mqtt.inject(topic, "{not json", { retain: true });
      // a forged offer: the real manifest with a version bump, the old signature
      else mqtt.inject(topic, JSON.stringify({ ...served.offer, transferId, manifest: served.offer.manifest.replace('"1.0.1"', '"9.9.9"') }), { retain: true });
    }
    await mqtt.settle();
    expect(lastState(mqtt, device.agent.topics.state)?.state).toBe("downloading");
    const stats = device.agent.stats();
    expect(stats.refused).toBe(1000);
    expect(stats.rememberedTransfers).toBeLessThanOrEqual(512);
    const refusalLines = device.logger.lines.filter((l) => l.includes("refused"));
    expect(refusalLines.length).toBeLessThan(50); // rate-limited, and the summary says how many were not logged
    served.resume();
    await waitFor("installed", () => {
      const s = lastState(mqtt, device.agent.topics.state);
      return s?.state === "idle" && s.installed_version === "1.0.1";
    }, 15_000);
    expect(device.models.contract.manifest.version).toBe("1.0.1");
  }, 30_000);
});

describe("OtaAgent: commands as a CommandTable (edge/commands/types.ts)", () => {
  it("check, accept, postpone, rollback: each resolves to the state or throws the refusal", async () => {
    const mqtt = new FakeMqtt();
    const { agent } = await startDevice(mqtt, path.join(work, "table"), { autoInstall: false, probationStrides: 3 });
    const table = agent.commands();
    expect(Object.keys(table).sort()).toEqual(["accept", "check", "forget_rejected", "postpone", "rollback"]);
    const run = (name: string) => table[name]!.run({} as never);
    await expect(run("accept")).rejects.toThrow("nothing to accept: no valid offer is available");
    await expect(run("postpone")).rejects.toThrow("nothing to postpone in state idle");
    await expect(run("rollback")).rejects.toThrow("no previous model to roll back to");
    expect(await run("check")).toMatchObject({ state: "idle", installed_version: "1.0.0" });
    expect(table.check!.args.safeParse({ force: true }).success).toBe(false); // no arguments
  });

  it("rollback during probation resolves once the old model runs again, with the rolled_back state", async () => {
    const mqtt = new FakeMqtt();
    const device = await startDevice(mqtt, path.join(work, "table-rollback"), { autoInstall: true, probationStrides: 50 });
    await serveBundle(mqtt, bundle101, device.agent.topics);
    await waitFor("on probation", () => device.models.onProbation);
    const state = await device.agent.commands().rollback!.run({} as never);
    expect(state).toMatchObject({ state: "rolled_back", code: "rollback_command", installed_version: "1.0.0" });
    expect(device.models.contract.manifest.version).toBe("1.0.0");
    expect(await device.store.readProbation()).toBeUndefined();
  }, 30_000);

  it("serves ota/command itself by default, with the shared schema; not with serveCommands: false", async () => {
    const served = new FakeMqtt();
    const a = await startDevice(served, path.join(work, "serve-on"), {});
    served.inject(a.agent.topics.command, JSON.stringify({ id: "q1", command: "check" }));
    const reply = await waitFor("a reply", () => served.json<{ id: string }>(a.agent.topics.commandResponse)[0]);
    expect(commandReplySchema.parse(reply)).toMatchObject({ id: "q1", status: "ok", data: { state: "idle" } });

    const quiet = new FakeMqtt();
    const b = await startDevice(quiet, path.join(work, "serve-off"), {}, onnxModelLoader(), { serveCommands: false });
    expect(quiet.hasSubscriber(b.agent.topics.command)).toBe(false);
    expect(quiet.hasSubscriber(b.agent.topics.chunk)).toBe(true);
    expect(served.hasSubscriber(a.agent.topics.command)).toBe(true);
  });
});
