/**
 * A model that probation rolled back stays rejected across restarts (issue #13's
 * leftover): the retained offer arrives again at every start, and before this
 * fix the agent, having forgotten the rollback, installed it again and put the
 * device back on probation with it. Real model, real sessions, in-memory broker.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import type { ModelLoader } from "../../edge/ota/agent.js";
import type { OtaConfigInput } from "../../edge/ota/config.js";
import type { OtaStateMessage } from "../../edge/ota/messages.js";
import { ModelStore, type CrashPoint } from "../../edge/ota/modelStore.js";
import { formatRejected, REJECTED_KEPT } from "../../edge/ota/rejections.js";
import { nanAfterGolden, startAgentDevice, type AgentDevice } from "./agentDevice.js";
import { FakeMqtt, lastState, serveBundle, type ServedBundle } from "./fakeMqtt.js";
import { makeBundle, makeKeys, MODEL_DIR, sha256, tempDir, waitFor, type Keys } from "./helpers.js";

let work: string;
let keys: Keys;
let bundle101: string;
/** The same model file as 1.0.1, released again as 1.0.2. */
let bundle102: string;
/** 1.0.1 again, but another model file (a different digest): the manifest's tolerance edited, so the golden self-test still passes. */
let bundle101b: string;
let golden: { features: number[][][] };
const running: Array<() => Promise<void>> = [];

beforeAll(async () => {
  work = await tempDir("rejected");
  keys = await makeKeys(path.join(work, "keys"));
  bundle101 = await makeBundle(work, "b101", keys);
  bundle102 = await makeBundle(work, "b102", keys, { version: "1.0.2" });
  bundle101b = await makeBundle(work, "b101b", keys, {
    edit: async (m, dir) => {
      // Another model file, same network: a doc_string field (ModelProto field 6) appended; protobuf
      // keeps the last occurrence of a field, so the graph is untouched and the self-test passes.
      const file = path.join(dir, m.model.file);
      const data = Buffer.concat([await readFile(file), Buffer.from([0x32, 5]), Buffer.from("fixed")]);
      await writeFile(file, data);
      m.model.sha256 = sha256(data);
      m.model.bytes = data.length;
    },
  });
  golden = JSON.parse(await readFile(path.join(MODEL_DIR, "golden.json"), "utf8")) as { features: number[][][] };
});

afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
});

type Device = AgentDevice;

/** What EdgeRuntime does at start when `ota` is configured (agentDevice.ts), installing offers by itself. */
async function startDevice(
  dir: string,
  options: { ota?: Partial<OtaConfigInput>; loadModel?: ModelLoader; crashPoint?: (point: CrashPoint, file: string) => void; retainedOffer?: ServedBundle } = {},
): Promise<Device> {
  const { ota, ...rest } = options;
  return startAgentDevice({ mqtt: new FakeMqtt(), dir, publicKey: keys.publicKey, ota: { autoInstall: true, probationStrides: 5, ...ota }, ...rest }, running);
}

/** One live window through the pipeline's lane: on probation with the NaN model, this is the failure. */
async function oneWindow(d: Device): Promise<void> {
  await d.models.lane().model.run(Float32Array.from(golden.features[0]!.flat()));
}

const state = (d: Device): OtaStateMessage | undefined => lastState(d.mqtt, d.agent.topics.state);

/** A device that installed 1.0.1 from a retained offer and rolled it back on probation (NaN on live data). */
async function rolledBack(dir: string): Promise<{ first: Device; served: ServedBundle }> {
  const first = await startDevice(dir, { loadModel: await nanAfterGolden() });
  const served = await serveBundle(first.mqtt, bundle101, first.agent.topics);
  await waitFor("1.0.1 on probation", () => first.models.onProbation);
  await oneWindow(first);
  await waitFor("rolled back", () => state(first)?.state === "rolled_back");
  await first.mqtt.settle();
  return { first, served };
}

describe("a model rolled back on probation, after a restart", () => {
  it("is not installed again from the same retained offer: held with a clear reason, listed in the state", async () => {
    const dir = path.join(work, "restart");
    const { served } = await rolledBack(dir);
    const digest = JSON.parse(served.offer.manifest).model.sha256 as string;

    const second = await startDevice(dir, { retainedOffer: served });
    await second.mqtt.settle();
    expect(second.models.onProbation).toBe(false);
    expect(second.models.contract.manifest.version).toBe("1.0.0");
    expect(second.agent.stats().installs).toBe(0);
    expect(second.mqtt.json(second.agent.topics.request)).toEqual([]); // not a single chunk asked for
    expect(state(second)).toMatchObject({
      state: "available",
      code: "rolled_back_before",
      offered_version: "1.0.1",
      installed_version: "1.0.0",
      reason: expect.stringMatching(/1\.0\.1 .*was rolled back on this device .*probation.*accept/),
      rejected: [{ name: "tiny-v1", version: "1.0.1", digest, code: "probation_failed", reason: expect.stringMatching(/NaN|non-finite|finite/i), at: expect.any(String) }],
    });
  }, 30_000);
});

describe("what is still installed, and how an operator clears a rollback", () => {
  it("a fixed re-release is a new model: the same file as 1.0.2, or another file as 1.0.1, installs by itself", async () => {
    for (const [name, bundle, version] of [["new-version", bundle102, "1.0.2"], ["new-digest", bundle101b, "1.0.1"]] as const) {
      const dir = path.join(work, name);
      await rolledBack(dir);
      const second = await startDevice(dir);
      await serveBundle(second.mqtt, bundle, second.agent.topics);
      await waitFor(`${version} on probation`, () => second.models.onProbation);
      expect(second.models.contract.manifest.version).toBe(version);
      expect(state(second)?.rejected).toHaveLength(1); // 1.0.1 with the old file stays listed
    }
  }, 60_000);

  it("`accept` installs a held model anyway and forgets its rollback", async () => {
    const dir = path.join(work, "accept");
    const { served } = await rolledBack(dir);
    const second = await startDevice(dir);
    // The operator publishes the same bundle again, and serves its chunks this time.
    const again = await serveBundle(second.mqtt, bundle101, second.agent.topics);
    await waitFor("held", () => state(second)?.code === "rolled_back_before" && state(second)?.transfer_id === again.offer.transferId);
    expect(served.offer.transferId).not.toBe(again.offer.transferId);
    await second.agent.commands().accept!.run({} as never);
    await waitFor("1.0.1 on probation", () => second.models.onProbation);
    expect(second.store.rejected()).toEqual([]);
    expect(JSON.parse(await readFile(path.join(dir, "rejected"), "utf8"))).toMatchObject({ models: [] });
  }, 30_000);

  it("`forget_rejected` clears the list (one digest, or all), on disk too; the held offer becomes available for accept", async () => {
    const dir = path.join(work, "forget");
    const { served } = await rolledBack(dir);
    const digest = JSON.parse(served.offer.manifest).model.sha256 as string;
    const second = await startDevice(dir, { retainedOffer: served });
    await waitFor("held", () => state(second)?.code === "rolled_back_before");
    const forget = second.agent.commands().forget_rejected!;
    expect(forget.args.safeParse({ digest: "XYZ" }).success).toBe(false);
    expect(forget.args.safeParse({ digest, force: true }).success).toBe(false);
    await expect(forget.run({ digest: "0".repeat(64) } as never)).rejects.toThrow(`no model rolled back here has the model sha256 ${"0".repeat(64)}`);
    const reply = await forget.run({ digest } as never);
    expect(reply).toMatchObject({ state: "available", code: null, rejected: [], reason: expect.stringMatching(/accept/) });
    expect(second.models.onProbation).toBe(false); // forgetting installs nothing by itself
    await expect(forget.run({} as never)).rejects.toThrow("no model is listed as rolled back here");
    // A third start: the list on disk is empty, so the retained offer installs by itself again.
    await second.agent.stop();
    const third = await startDevice(dir);
    await serveBundle(third.mqtt, bundle101, third.agent.topics);
    await waitFor("1.0.1 on probation", () => third.models.onProbation);
  }, 30_000);

  it("the commands table lists forget_rejected; the ota/command reply carries the list", async () => {
    const dir = path.join(work, "table");
    const { first } = await rolledBack(dir);
    expect(Object.keys(first.agent.commands()).sort()).toEqual(["accept", "check", "forget_rejected", "postpone", "rollback"]);
    first.mqtt.inject(first.agent.topics.command, JSON.stringify({ id: 7, command: "check" }));
    const reply = await waitFor("a reply", () => first.mqtt.json<{ id: number; data: OtaStateMessage }>(first.agent.topics.commandResponse)[0]);
    expect(reply.data.rejected).toMatchObject([{ version: "1.0.1", code: "probation_failed" }]);
  }, 30_000);
});

describe("a crash at any point of a rollback leaves the model rejected", () => {
  it("killed during probation: every later start holds the offer, not only the first (the probation record names it once)", async () => {
    const dir = path.join(work, "kill-probation");
    const first = await startDevice(dir, { loadModel: await nanAfterGolden() });
    const served = await serveBundle(first.mqtt, bundle101, first.agent.topics);
    await waitFor("1.0.1 on probation", () => first.models.onProbation);
    // kill -9: nothing more happens in the first process
    const second = await startDevice(dir, { retainedOffer: served });
    await second.mqtt.settle();
    expect(state(second)).toMatchObject({ state: "rolled_back", code: "probation_failed", rejected: [{ version: "1.0.1", reason: expect.stringMatching(/device restarted during probation/) }] });
    const third = await startDevice(dir, { retainedOffer: served });
    await third.mqtt.settle();
    expect(third.models.onProbation).toBe(false);
    expect(third.agent.stats().installs).toBe(0);
    expect(state(third)).toMatchObject({ state: "available", code: "rolled_back_before" });
  }, 30_000);

  it("killed after the rejection was written, before the probation record went: rejected once, held", async () => {
    const dir = path.join(work, "kill-between");
    const first = await startDevice(dir, { loadModel: await nanAfterGolden() });
    const served = await serveBundle(first.mqtt, bundle101, first.agent.topics);
    await waitFor("1.0.1 on probation", () => first.models.onProbation);
    const manifest = JSON.parse(served.offer.manifest) as { name: string; version: string; model: { sha256: string } };
    // What undo() leaves when the process dies between its two disk steps: the entry AND the record.
    await writeFile(path.join(dir, "rejected"), formatRejected([
      { name: manifest.name, version: manifest.version, digest: manifest.model.sha256, reason: "failed its probation: NaN", code: "probation_failed", at: new Date().toISOString(), transferId: served.offer.transferId },
    ]));
    const second = await startDevice(dir, { retainedOffer: served });
    await second.mqtt.settle();
    expect(second.store.rejected()).toHaveLength(1);
    const third = await startDevice(dir, { retainedOffer: served });
    await third.mqtt.settle();
    expect(third.agent.stats().installs).toBe(0);
    expect(state(third)).toMatchObject({ state: "available", code: "rolled_back_before" });
  }, 30_000);

  it("the rejection cannot be written: the rollback still happens, this process holds the offer, the log says a restart may forget it", async () => {
    const dir = path.join(work, "no-write");
    const first = await startDevice(dir, {
      loadModel: await nanAfterGolden(),
      crashPoint: (point, file) => {
        if (point === "tmp-written" && path.basename(file) === "rejected") throw new Error("ENOSPC: disk full");
      },
    });
    await serveBundle(first.mqtt, bundle101, first.agent.topics);
    await waitFor("1.0.1 on probation", () => first.models.onProbation);
    await oneWindow(first);
    await waitFor("rolled back", () => state(first)?.state === "rolled_back");
    expect(first.models.contract.manifest.version).toBe("1.0.0");
    expect(state(first)?.rejected).toHaveLength(1);
    expect(first.logger.lines.join("\n")).toMatch(/cannot record tiny-v1 1\.0\.1 as rolled back on disk; after a restart its offer may install it again: ENOSPC/);
  }, 30_000);
});

describe("the list on disk", () => {
  it("keeps the newest REJECTED_KEPT models, the same model once; a malformed file is an error in the log, not a dead device", async () => {
    const dir = path.join(work, "bounded");
    const store = new ModelStore(dir, { logger: memoryLogger() });
    await store.recover();
    for (let i = 0; i < REJECTED_KEPT + 4; i++) {
      await store.reject({ name: "m", version: `1.0.${i}`, digest: "a".repeat(64), reason: "r", code: "probation_failed", transferId: null });
    }
    await store.reject({ name: "m", version: "1.0.19", digest: "a".repeat(64), reason: "again", code: "rollback_command", transferId: null });
    const again = new ModelStore(dir, { logger: memoryLogger() });
    await again.recover();
    expect(again.rejected().map((r) => r.version)).toEqual(Array.from({ length: REJECTED_KEPT }, (_, k) => `1.0.${k + 4}`));
    expect(again.rejected().at(-1)).toMatchObject({ reason: "again", code: "rollback_command" });

    await writeFile(path.join(dir, "rejected"), '{"format": "gait-ota-rejected/1", "models": [{"name": 3}]}');
    const logger = memoryLogger();
    const broken = new ModelStore(dir, { logger });
    await broken.recover();
    expect(broken.rejected()).toEqual([]);
    expect(logger.lines.join("\n")).toMatch(/ignoring a malformed list of rolled-back models; they may be installed again: .*rejected: models\.0\.name/);
  });
});
