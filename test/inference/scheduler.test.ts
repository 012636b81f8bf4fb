import { describe, expect, it } from "vitest";
import type { WindowModel } from "../../edge/inference/onnxModel.js";
import { InferenceScheduler, type InferenceResult } from "../../edge/inference/scheduler.js";

/** A model whose runs finish only when the test says so; output[0] echoes input[0]. */
class ManualModel implements WindowModel {
  calls: { input: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  run(windows: Float32Array): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      const buf = windows; // read at completion, as onnxruntime may read its input late
      this.calls.push({
        input: windows[0]!,
        resolve: () => resolve(Float32Array.of(buf[0]!, buf[1]!)),
        reject,
      });
    });
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(model: WindowModel) {
  const results: InferenceResult<number>[] = [];
  const errors: [string, number][] = [];
  const s = new InferenceScheduler<number>(model, 2, {
    onResult: (r) => results.push(r),
    onError: (e, meta) => errors.push([e.message, meta]),
  });
  return { s, results, errors };
}

describe("InferenceScheduler", () => {
  it("runs at once when idle, then keeps only the newest pending window while busy", async () => {
    const model = new ManualModel();
    const { s, results } = setup(model);
    s.submit([0, 0], 0);
    expect(s.busy).toBe(true);
    for (let i = 1; i <= 4; i++) s.submit([i, i], i); // 1, 2, 3 replaced; 4 kept
    expect(model.calls.length).toBe(1);
    model.calls[0]!.resolve();
    await flush();
    expect(model.calls.length).toBe(2);
    expect(model.calls[1]!.input).toBe(4);
    model.calls[1]!.resolve();
    await s.idle();
    expect(results.map((r) => [r.meta, r.output[0], r.skippedBefore])).toEqual([
      [0, 0, 0],
      [4, 4, 3],
    ]);
    expect(s.stats()).toEqual({ submitted: 5, completed: 2, skipped: 3, failed: 0 });
  });

  it("tells onSkipped which windows it dropped for newer ones, and a throwing onSkipped goes to onError", async () => {
    const model = new ManualModel();
    const skipped: number[] = [];
    const errors: [string, number][] = [];
    const s = new InferenceScheduler<number>(model, 2, {
      onResult: () => undefined,
      onError: (e, meta) => errors.push([e.message, meta]),
      onSkipped: (meta) => {
        skipped.push(meta);
        if (meta === 2) throw new Error("consumer bug");
      },
    }, { maxPending: 2 });
    for (let i = 0; i <= 5; i++) s.submit([i, i], i); // 0 runs; 1, 2 wait; 3, 4, 5 each drop the oldest waiting
    expect(skipped).toEqual([1, 2, 3]);
    expect(errors).toEqual([["consumer bug", 2]]);
    expect(s.stats().skipped).toBe(3);
    model.calls[0]!.resolve();
    await flush();
    model.calls[1]!.resolve();
    await flush();
    model.calls[2]!.resolve();
    await s.idle();
    expect(model.calls.map((c) => c.input)).toEqual([0, 4, 5]);
  });

  it("never lets a later submit overwrite the window in flight", async () => {
    const model = new ManualModel();
    const { s, results } = setup(model);
    const w = new Float32Array([7, 8]);
    s.submit(w, 1);
    w[0] = 99; // the caller reuses its array
    s.submit([5, 6], 2); // goes to the pending buffer
    model.calls[0]!.resolve();
    await flush();
    model.calls[1]!.resolve();
    await s.idle();
    expect(results.map((r) => Array.from(r.output))).toEqual([[7, 8], [5, 6]]);
  });

  it("reports a failed run and carries on with the next window", async () => {
    const model = new ManualModel();
    const { s, results, errors } = setup(model);
    s.submit([1, 1], 1);
    s.submit([2, 2], 2);
    model.calls[0]!.reject(new Error("boom"));
    await flush();
    model.calls[1]!.resolve();
    await s.idle();
    expect(errors).toEqual([["boom", 1]]);
    expect(results.map((r) => r.meta)).toEqual([2]);
    expect(s.stats().failed).toBe(1);
  });

  it("survives a throwing result handler", async () => {
    const model = new ManualModel();
    const errors: string[] = [];
    const s = new InferenceScheduler<number>(model, 2, {
      onResult: () => {
        throw new Error("consumer broke");
      },
      onError: (e) => errors.push(e.message),
    });
    s.submit([1, 1], 1);
    s.submit([2, 2], 2);
    model.calls[0]!.resolve();
    await flush();
    expect(model.calls.length).toBe(2);
    model.calls[1]!.resolve();
    await s.idle();
    expect(errors).toEqual(["consumer broke", "consumer broke"]);
  });

  it("stop() drops the pending window, waits for the run in flight and ignores later submits", async () => {
    const model = new ManualModel();
    const { s, results } = setup(model);
    s.submit([1, 1], 1);
    s.submit([2, 2], 2);
    const stopped = s.stop();
    model.calls[0]!.resolve();
    await stopped;
    s.submit([3, 3], 3);
    await flush();
    expect(model.calls.length).toBe(1);
    expect(results.map((r) => r.meta)).toEqual([1]);
  });

  it("refuses a window of the wrong length", () => {
    const { s } = setup(new ManualModel());
    expect(() => s.submit([1, 2, 3], 0)).toThrow(/expected 2/);
  });
  it("with maxPending 3, queues bursts in order, drops the oldest when full, and never overwrites a queued or running window", async () => {
    const model = new ManualModel();
    const results: InferenceResult<number>[] = [];
    const s = new InferenceScheduler<number>(model, 2, { onResult: (r) => results.push(r), onError: () => undefined }, { maxPending: 3 });
    const w = new Float32Array(2);
    for (let i = 0; i <= 5; i++) {
      w[0] = i; // one caller array, reused: the scheduler must have copied each
      w[1] = i;
      s.submit(w, i); // 0 runs; 1, 2, 3 queue; 4 and 5 each drop the oldest (1, then 2)
    }
    expect(s.pending).toBe(3);
    for (let run = 0; run < 4; run++) {
      model.calls[run]!.resolve();
      await flush();
    }
    await s.idle();
    expect(results.map((r) => [r.meta, r.output[0], r.output[1], r.skippedBefore])).toEqual([
      [0, 0, 0, 0],
      [3, 3, 3, 2],
      [4, 4, 4, 0],
      [5, 5, 5, 0],
    ]);
    expect(s.stats()).toEqual({ submitted: 6, completed: 4, skipped: 2, failed: 0 });
    // After the burst every buffer is free again: a second burst queues as the first did.
    for (let i = 10; i <= 13; i++) s.submit([i, i], i);
    expect(s.pending).toBe(3);
    const stopped = s.stop();
    expect(s.pending).toBe(0);
    model.calls[4]!.resolve(); // 10, in flight: still delivered
    await stopped;
    expect(results.at(-1)!.meta).toBe(10);
    expect(model.calls).toHaveLength(5);
  });

  it("refuses a maxPending below 1", () => {
    expect(() => new InferenceScheduler<number>(new ManualModel(), 2, { onResult: () => undefined, onError: () => undefined }, { maxPending: 0 })).toThrow(/maxPending/);
  });
});
