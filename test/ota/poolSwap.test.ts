/**
 * OTA's swap and probation over pools of inference workers (inference.thread
 * worker, inference.workers 2), built by the same loader OTA uses: the swap
 * happens at a window boundary with the same numbers, retiring the old pool
 * drains it, and a candidate whose only worker is lost fails its probation
 * and its window is answered by the old pool.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadManifest } from "../../edge/contract/manifest.js";
import { InferencePool, type InferenceHealthEvent } from "../../edge/inference/inferencePool.js";
import { InferenceConfigSchema } from "../../edge/inference/onnxModel.js";
import type { ThreadModel } from "../../edge/inference/threadModel.js";
import { onnxModelLoader } from "../../edge/ota/ports.js";
import { SwappableModel, type ModelEntry, type ProbationVerdict } from "../../edge/ota/swappableModel.js";

const MANIFEST = "models/reduced-femur-calcn-lstm/manifest.json";
const holders: SwappableModel[] = [];
afterEach(async () => {
  for (const h of holders.splice(0)) await h.stop();
});

async function entries(workers: readonly number[], health: InferenceHealthEvent[] = []): Promise<ModelEntry[]> {
  const contract = await loadManifest(MANIFEST);
  return Promise.all(
    workers.map(async (n) => ({ contract, model: await onnxModelLoader(InferenceConfigSchema.parse({ thread: "worker", workers: n }), (e) => health.push(e))(contract) })),
  );
}

function window(contract: ModelEntry["contract"], phase: number): Float32Array {
  return Float32Array.from({ length: contract.pipeline.window * contract.featureCount }, (_, i) => Math.sin(i * 0.37 + phase));
}

describe("OTA over inference pools", () => {
  it("swaps at a window boundary with the same outputs, passes probation, and retiring the old pool drains it", async () => {
    const [a, b] = await entries([2, 2]);
    const holder = new SwappableModel(a!);
    holders.push(holder);
    const lane = holder.lane();
    const xs = [0, 1, 2, 3].map((p) => window(a!.contract, p));
    const before = await Promise.all(xs.map((x) => lane.model.run(x, 1)));
    const verdicts: ProbationVerdict[] = [];
    holder.swap(b!, { windows: 4, maxAbsAngleDeg: 360, onVerdict: (v) => verdicts.push(v) });
    const after = await Promise.all(xs.map((x) => lane.model.run(x, 1)));
    after.forEach((y, i) => expect(Array.from(y)).toEqual(Array.from(before[i]!)));
    expect(verdicts.map((v) => v.passed)).toEqual([true]);
    await holder.retire(a!);
    await expect(a!.model.run(xs[0]!, 1)).rejects.toThrow(/model stopped/);
    expect((b!.model as InferencePool).stats().windowsByWorker.reduce((s, n) => s + n, 0)).toBe(4);
  });

  it("rolls back when the candidate's only worker is lost during probation: the window is answered by the old pool", async () => {
    const health: InferenceHealthEvent[] = [];
    const [a, b] = await entries([2, 1], health);
    const holder = new SwappableModel(a!);
    holders.push(holder);
    const lane = holder.lane();
    const x = window(a!.contract, 0);
    const want = Array.from(await lane.model.run(x, 1));
    const verdicts: ProbationVerdict[] = [];
    holder.swap(b!, { windows: 4, maxAbsAngleDeg: 360, onVerdict: (v) => verdicts.push(v) });
    // The candidate's thread dies between windows (reaching into the pool and its ThreadModel: a test only).
    const pool = b!.model as InferencePool;
    const thread = (pool["slots"][0]!.worker as ThreadModel)["worker"]!;
    await thread.terminate();
    expect(Array.from(await lane.model.run(x, 1))).toEqual(want);
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]).toMatchObject({ passed: false });
    expect((verdicts[0] as { reason: string }).reason).toMatch(/inference failed: .*every inference worker was lost/);
    expect(holder.current).toBe(a);
    expect(health.map((e) => e.health.healthy)).toEqual([false]);
    expect(health[0]!.session).toMatch(/^reduced-femur-calcn-lstm \S+ #\d+$/);
  });
});
