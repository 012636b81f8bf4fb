/**
 * The batcher on the shipped model's real sessions: which models the loader
 * batches, and that batching is exact where it is claimed to be (the fp32
 * export) and not for the dynamic int8 one (why the default leaves it alone).
 */
import { stat } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { loadManifest, type LoadedContract } from "../../edge/contract/manifest.js";
import { WindowBatcher, batchingConfigSchema } from "../../edge/inference/batcher.js";
import { InferenceConfigSchema, OnnxModel } from "../../edge/inference/onnxModel.js";
import { onnxModelLoader } from "../../edge/ota/ports.js";
import type { StoppableModel } from "../../edge/ota/swappableModel.js";

const MANIFEST = "models/reduced-femur-calcn-lstm/manifest.json";
const started: StoppableModel[] = [];
afterEach(async () => {
  for (const m of started.splice(0)) await m.stop();
});

async function load(mode: "exact" | "coupled" | "off", contract?: LoadedContract): Promise<StoppableModel> {
  const c = contract ?? (await loadManifest(MANIFEST));
  const m = await onnxModelLoader(InferenceConfigSchema.parse({ batching: { mode } }))(c);
  started.push(m);
  return m;
}

/** n distinct, gait-sized windows (features of different scale, as two placements have). */
function windows(c: LoadedContract, n: number): Float32Array[] {
  const len = c.pipeline.window * c.featureCount;
  return Array.from({ length: n }, (_, k) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.37 + k) * (1 + ((i + k) % 7))));
}

describe("batching on the real model", () => {
  it("the default (exact) leaves the shipped dynamic-int8 model unbatched (a batcher of one on the main thread); coupled batches it", async () => {
    expect(InferenceConfigSchema.parse({}).batching).toEqual(batchingConfigSchema.parse({}));
    const c = await loadManifest(MANIFEST);
    for (const mode of ["exact", "off"] as const) {
      const m = await load(mode, c);
      expect(m).toBeInstanceOf(WindowBatcher);
      await Promise.all(windows(c, 5).map((w) => m.run(w, 1)));
      expect((m as WindowBatcher).stats()).toMatchObject({ largestBatch: 1, windows: 5 });
    }
    expect(await load("coupled")).toBeInstanceOf(WindowBatcher);
  });

  it("on the main thread, the windows of a burst run one per event-loop turn: I/O is polled between them, outputs unchanged", async () => {
    // Many wearers' strides ending on one tick: the windows used to run back to back in one
    // check phase (one setImmediate each), with no I/O for the whole burst; the live gate's probe
    // answer and every angles message then waited for the last window (edge/ota/ports.ts).
    const c = await loadManifest(MANIFEST);
    const m = await load("exact", c);
    const raw = new OnnxModel({ path: c.modelPath, inputName: c.pipeline.inputName, outputName: c.pipeline.outputName, window: c.pipeline.window, features: c.featureCount, joints: c.pipeline.joints.length });
    await raw.start();
    started.push(raw);
    const ws = windows(c, 12);
    await m.run(ws[0]!, 1); // warm
    // A file-system callback completes in the poll phase: counting them counts the polls.
    let polls = 0, burst = true;
    const poll = (): void => stat(".", () => { polls++; if (burst) poll(); });
    poll();
    const pollsAtResult: number[] = [];
    const outputs = await Promise.all(ws.map((w) => m.run(w, 1).then((out) => (pollsAtResult.push(polls), out))));
    burst = false;
    expect(pollsAtResult[pollsAtResult.length - 1]! - pollsAtResult[0]!).toBeGreaterThanOrEqual(4);
    for (let k = 0; k < ws.length; k++) expect(Array.from(outputs[k]!)).toEqual(Array.from(await raw.run(ws[k]!, 1)));
  });

  it("fp32 (no quantization) is batched by default, and each window's output is bit for bit its output alone", async () => {
    const int8 = await loadManifest(MANIFEST);
    const fp32: LoadedContract = {
      ...int8,
      modelPath: int8.variantPaths.fp32!,
      manifest: { ...int8.manifest, model: { ...int8.manifest.model, file: "model.fp32.onnx", quantization: "none" } },
    };
    const batched = await load("exact", fp32);
    expect(batched).toBeInstanceOf(WindowBatcher);
    const alone = await load("off", fp32);
    const ws = windows(fp32, 6);
    const together = await Promise.all(ws.map((w) => batched.run(w, 1)));
    expect((batched as WindowBatcher).stats().largestBatch).toBe(6);
    for (let k = 0; k < ws.length; k++) expect(Array.from(together[k]!)).toEqual(Array.from(await alone.run(ws[k]!, 1)));
  });

  it("int8 coupled: the same window gives different angles in different company (the measured coupling)", async () => {
    const c = await loadManifest(MANIFEST);
    const coupled = (await load("coupled", c)) as WindowBatcher;
    const alone = await load("off", c);
    const ws = windows(c, 8);
    const together = await Promise.all(ws.map((w) => coupled.run(w, 1)));
    let maxDiff = 0;
    for (let k = 0; k < ws.length; k++) {
      const one = await alone.run(ws[k]!, 1);
      for (let i = 0; i < one.length; i++) maxDiff = Math.max(maxDiff, Math.abs(one[i]! - together[k]![i]!));
    }
    expect(maxDiff).toBeGreaterThan(0);
  });
});
