/** The model on a worker thread: the same numbers as on the main thread, and clear failures. */
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadManifest } from "../../edge/contract/manifest.js";
import { WindowBatcher } from "../../edge/inference/batcher.js";
import { InferencePool } from "../../edge/inference/inferencePool.js";
import { InferenceConfigSchema, OnnxModel, type OnnxModelOptions } from "../../edge/inference/onnxModel.js";
import { ThreadModel } from "../../edge/inference/threadModel.js";
import { onnxModelLoader } from "../../edge/ota/ports.js";

const MANIFEST = "models/reduced-femur-calcn-lstm/manifest.json";
const stoppable: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const m of stoppable.splice(0)) await m.stop();
});

async function options(): Promise<OnnxModelOptions> {
  const c = await loadManifest(MANIFEST);
  const p = c.pipeline;
  return { path: c.modelPath, inputName: p.inputName, outputName: p.outputName, window: p.window, features: c.featureCount, joints: p.joints.length };
}

function windows(n: number): Float32Array {
  return Float32Array.from({ length: n * 50 * 18 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 5)));
}

describe("ThreadModel", () => {
  it("gives the shipped int8 model's outputs bit for bit as on the main thread, alone and in a batch", async () => {
    const o = await options();
    const main = new OnnxModel(o);
    const thread = new ThreadModel(o);
    stoppable.push(main, thread);
    await main.start();
    await thread.start();
    const one = windows(1);
    expect(Array.from(await thread.run(one))).toEqual(Array.from(await main.run(one)));
    const three = windows(3);
    expect(Array.from(await thread.run(three, 3))).toEqual(Array.from(await main.run(three, 3)));
  });

  it("keeps the caller's input intact and answers concurrent calls each with its own output", async () => {
    const thread = new ThreadModel(await options());
    stoppable.push(thread);
    await thread.start();
    const a = windows(1);
    const b = windows(1).map((v) => v * 0.5);
    const [ya, yb] = await Promise.all([thread.run(a), thread.run(b)]);
    expect(a.length).toBe(900); // not transferred away
    expect(Array.from(await thread.run(a))).toEqual(Array.from(ya));
    expect(Array.from(ya)).not.toEqual(Array.from(yb));
  });

  it("fails to start with the model file named when the file is not a model", async () => {
    const bad = { ...(await options()), path: path.resolve("models/reduced-femur-calcn-lstm/manifest.json") };
    const thread = new ThreadModel(bad);
    await expect(thread.start()).rejects.toThrow(/manifest\.json: onnxruntime cannot load the model/);
  });

  it("is what the model loader builds for inference.thread worker, in a pool of inference.workers (under the batcher when batching applies)", async () => {
    const c = await loadManifest(MANIFEST);
    const alone = await onnxModelLoader(InferenceConfigSchema.parse({ thread: "worker" }))(c);
    stoppable.push(alone);
    expect(alone).toBeInstanceOf(InferencePool);
    expect((alone as InferencePool).stats().workers).toBe(1);
    const batched = await onnxModelLoader(InferenceConfigSchema.parse({ thread: "worker", batching: { mode: "coupled" } }))(c);
    stoppable.push(batched);
    expect(batched).toBeInstanceOf(WindowBatcher);
    expect((await batched.run(windows(1), 1)).length).toBe(250);
  });

  it("refuses runs after stop() and before start()", async () => {
    const o = await options();
    await expect(new ThreadModel(o).run(windows(1))).rejects.toThrow(/not started/);
    const thread = new ThreadModel(o);
    await thread.start();
    await thread.stop();
    await expect(thread.run(windows(1))).rejects.toThrow(/model stopped/);
  });
});
