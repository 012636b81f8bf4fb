import { afterEach, describe, expect, it, vi } from "vitest";
import { WindowBatcher, batchingConfigSchema, isBatchInvariant, shouldBatch, type BatchableModel } from "../../edge/inference/batcher.js";
import { InferenceScheduler, type InferenceResult } from "../../edge/inference/scheduler.js";

/** Windows of 2 values in, 3 out. */
const WIN = 2;
const OUT = 3;

/**
 * A model whose calls finish only when the test says so. Output window i is
 * [x, x, x] with x the first value of input window i, read at completion (as
 * onnxruntime reads its input late), so a mixed-up row or a buffer overwritten
 * too early shows.
 */
class ManualModel implements BatchableModel {
  calls: { batch: number; firsts: () => number[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  stopped = false;
  run(windows: Float32Array, batch: number): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      // What the call saw: read live until it finishes, then kept (the batcher reuses its input buffer).
      let seen: number[] | undefined;
      const firsts = (): number[] => seen ?? Array.from({ length: batch }, (_, i) => windows[i * WIN]!);
      this.calls.push({
        batch,
        firsts,
        resolve: () => {
          seen = firsts();
          resolve(Float32Array.from(seen.flatMap((x) => [x, x, x])));
        },
        reject,
      });
    });
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  /** Finishes the latest call. */
  finishLast(): void {
    this.calls.at(-1)!.resolve();
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
/** A few turns: a finished call's promise chain (batcher -> scheduler -> consumer) settles. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await turn();
};

function batcher(model: BatchableModel, maxBatch = 8, maxWaitMs = 0): WindowBatcher {
  return new WindowBatcher(model, { maxBatch, maxWaitMs, windowLength: WIN, outputLength: OUT });
}

/** One wearer: a scheduler (skip-to-newest, as in a pipeline) over the shared batcher. */
function wearer(b: WindowBatcher, name: string, results: Array<[string, number, number]>): InferenceScheduler<number> {
  return new InferenceScheduler<number>(b, WIN, {
    onResult: (r: InferenceResult<number>) => results.push([name, r.meta, r.skippedBefore]),
    onError: (e) => {
      throw e;
    },
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe("WindowBatcher", () => {
  it("runs the windows due in the same turn as one call, each caller getting its own rows", async () => {
    const model = new ManualModel();
    const b = batcher(model);
    const outs = [1, 2, 3].map((x) => b.run(Float32Array.of(x, 0)));
    expect(model.calls.length).toBe(0); // gathered until the end of the turn
    await turn();
    expect(model.calls.map((c) => c.batch)).toEqual([3]);
    model.finishLast();
    const got = await Promise.all(outs);
    expect(got.map((o) => Array.from(o))).toEqual([
      [1, 1, 1],
      [2, 2, 2],
      [3, 3, 3],
    ]);
    expect(b.stats()).toEqual({ batches: 1, windows: 3, largestBatch: 3, failed: 0 });
  });

  it("runs a window alone on the caller's own array (exactly the single-window call)", async () => {
    const model = new ManualModel();
    const seen: Float32Array[] = [];
    const spy: BatchableModel = {
      run: (w, n) => {
        seen.push(w);
        return model.run(w, n);
      },
      stop: () => model.stop(),
    };
    const b = batcher(spy);
    const w = Float32Array.of(4, 5);
    const out = b.run(w);
    await turn();
    model.finishLast();
    expect(Array.from(await out)).toEqual([4, 4, 4]);
    expect(seen[0]).toBe(w);
    expect(model.calls[0]!.batch).toBe(1);
  });

  it("launches at once when maxBatch windows wait, and the rest right after that call, oldest first", async () => {
    const model = new ManualModel();
    const b = batcher(model, 2);
    const outs = [1, 2, 3, 4, 5].map((x) => b.run(Float32Array.of(x, 0)));
    expect(model.calls.map((c) => c.firsts())).toEqual([[1, 2]]); // full: no wait for the turn's end
    await turn();
    expect(model.calls.length).toBe(1); // one call in flight at a time
    expect(b.waiting).toBe(3);
    model.finishLast();
    await settle();
    expect(model.calls.map((c) => c.firsts())).toEqual([[1, 2], [3, 4]]);
    model.finishLast();
    await settle();
    model.finishLast();
    expect((await Promise.all(outs)).map((o) => o[0])).toEqual([1, 2, 3, 4, 5]);
    expect(model.calls.map((c) => c.firsts())).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("with concurrency 2 (a pool of two workers), splits the windows due together over two calls, each on its own input", async () => {
    const model = new ManualModel();
    const b = new WindowBatcher(model, { maxBatch: 8, maxWaitMs: 0, windowLength: WIN, outputLength: OUT, concurrency: 2 });
    const outs = [1, 2, 3, 4, 5].map((x) => b.run(Float32Array.of(x, 0)));
    await turn();
    expect(model.calls.map((c) => c.firsts())).toEqual([[1, 2, 3], [4, 5]]);
    // Both in flight at once, read late: a shared input buffer would show here as mixed-up rows.
    const next = [6, 7].map((x) => b.run(Float32Array.of(x, 0)));
    await turn();
    expect(model.calls.length).toBe(2); // both workers busy: 6 and 7 wait
    model.calls[1]!.resolve();
    await settle();
    expect(model.calls.map((c) => c.firsts())).toEqual([[1, 2, 3], [4, 5], [6, 7]]);
    model.calls[0]!.resolve();
    model.calls[2]!.resolve();
    expect((await Promise.all([...outs, ...next])).map((o) => o[0])).toEqual([1, 2, 3, 4, 5, 6, 7]);
    let stopped = false;
    const late = b.run(Float32Array.of(8, 0));
    await turn();
    const stopping = b.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false); // waits for the call in flight
    model.finishLast();
    expect((await late)[0]).toBe(8);
    await stopping;
    expect(model.stopped).toBe(true);
  });

  it("starves nobody when more wearers are due than a batch holds, even with one submitting as fast as it can", async () => {
    const model = new ManualModel();
    const b = batcher(model, 4);
    const results: Array<[string, number, number]> = [];
    const names = Array.from({ length: 10 }, (_, i) => `w${i}`);
    const wearers = names.map((n) => wearer(b, n, results));
    wearers.forEach((s, i) => s.submit([i, 0], 0));
    await turn();
    // w0 is greedy: a new window before every call finishes. Its scheduler keeps one
    // pending, and that one joins the batcher's queue only behind everyone already waiting.
    for (let call = 0; call < 4; call++) {
      wearers[0]!.submit([0, 0], call + 1);
      model.finishLast();
      await settle();
    }
    const served = new Set(results.map(([n]) => n));
    expect([...served].sort()).toEqual([...names].sort());
    // Batch order: w0-w3, w4-w7, then w8, w9 and w0's newest; w0 never jumps the queue.
    expect(model.calls.slice(0, 3).map((c) => c.firsts())).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 0],
    ]);
  });

  it("keeps each wearer's skip-to-newest: a window replaced while its predecessor waits in a batch is counted skipped", async () => {
    const model = new ManualModel();
    const b = batcher(model);
    const results: Array<[string, number, number]> = [];
    const a = wearer(b, "a", results);
    const c = wearer(b, "c", results);
    a.submit([10, 0], 1);
    c.submit([20, 0], 1);
    await turn();
    a.submit([11, 0], 2); // pending in a's scheduler
    a.submit([12, 0], 3); // replaces 2
    expect(b.waiting).toBe(0); // nothing of a's queues here while its window 1 runs
    model.finishLast();
    await settle();
    expect(model.calls.map((x) => x.firsts())).toEqual([[10, 20], [12]]);
    model.finishLast();
    await a.idle();
    expect(results).toEqual([
      ["a", 1, 0],
      ["c", 1, 0],
      ["a", 3, 1],
    ]);
    expect(a.stats()).toEqual({ submitted: 3, completed: 2, skipped: 1, failed: 0 });
  });

  it("rejects every window of a failed call to its own caller and goes on with the next", async () => {
    const model = new ManualModel();
    const b = batcher(model, 2);
    const outs = [1, 2, 3].map((x) => b.run(Float32Array.of(x, 0)).then((o) => o[0], (e: Error) => e.message));
    model.calls[0]!.reject(new Error("session crashed"));
    await settle();
    model.finishLast();
    expect(await Promise.all(outs)).toEqual(["session crashed", "session crashed", 3]);
    expect(b.stats().failed).toBe(2);
  });

  it("rejects an output of the wrong size instead of handing out short rows", async () => {
    const b = batcher({ run: async () => new Float32Array(2), stop: async () => undefined });
    await expect(b.run(Float32Array.of(1, 2))).rejects.toThrow(/returned 2 values for 1 windows, expected 3/);
  });

  it("copies the windows into one input at launch, so callers' arrays are read once", async () => {
    const model = new ManualModel();
    const b = batcher(model);
    const w1 = Float32Array.of(1, 0);
    const w2 = Float32Array.of(2, 0);
    const outs = [b.run(w1), b.run(w2)];
    await turn();
    w1[0] = 99; // after the launch: the batch holds its own copy
    model.finishLast();
    expect((await Promise.all(outs)).map((o) => o[0])).toEqual([1, 2]);
  });

  it("with maxWaitMs, the first window waits that long for partners", async () => {
    vi.useFakeTimers();
    const model = new ManualModel();
    const b = batcher(model, 8, 5);
    const first = b.run(Float32Array.of(1, 0));
    vi.advanceTimersByTime(3);
    const second = b.run(Float32Array.of(2, 0));
    expect(model.calls.length).toBe(0);
    vi.advanceTimersByTime(2);
    expect(model.calls.map((c) => c.firsts())).toEqual([[1, 2]]);
    model.finishLast();
    expect((await Promise.all([first, second])).map((o) => o[0])).toEqual([1, 2]);
  });

  it("with maxWaitMs, a full batch goes at once and its wait is cancelled (no second, empty launch)", async () => {
    vi.useFakeTimers();
    const model = new ManualModel();
    const b = batcher(model, 2, 5);
    const outs = [b.run(Float32Array.of(1, 0)), b.run(Float32Array.of(2, 0))];
    expect(model.calls.map((c) => c.firsts())).toEqual([[1, 2]]);
    vi.advanceTimersByTime(10);
    expect(model.calls.length).toBe(1);
    model.finishLast();
    expect((await Promise.all(outs)).map((o) => o[0])).toEqual([1, 2]);
  });

  it("stop(): waiting windows are rejected, the call in flight finishes, then the model stops", async () => {
    const model = new ManualModel();
    const b = batcher(model, 1);
    const running = b.run(Float32Array.of(1, 0));
    const waiting = b.run(Float32Array.of(2, 0)).catch((e: Error) => e.message);
    const stopping = b.stop();
    expect(await waiting).toBe("the model is stopped");
    expect(model.stopped).toBe(false);
    model.finishLast();
    expect((await running)[0]).toBe(1);
    await stopping;
    expect(model.stopped).toBe(true);
    await expect(b.run(Float32Array.of(3, 0))).rejects.toThrow(/stopped/);
  });

  it("refuses a multi-window call and a short window with a clear error", async () => {
    const b = batcher(new ManualModel());
    await expect(b.run(new Float32Array(4), 2)).rejects.toThrow(/one window per call, got batch 2/);
    await expect(b.run(new Float32Array(1))).rejects.toThrow(/holds 1 values, expected 2/);
  });
});

describe("which models are batched", () => {
  const config = (mode: "exact" | "coupled" | "off", maxBatch = 32) => batchingConfigSchema.parse({ mode, maxBatch });

  it("dynamic int8 couples rows; fp32 (no quantization) does not; unknown counts as coupled", () => {
    expect(isBatchInvariant("dynamic-int8")).toBe(false);
    expect(isBatchInvariant(undefined)).toBe(true);
    expect(isBatchInvariant("none")).toBe(true);
    expect(isBatchInvariant("some-new-scheme")).toBe(false);
  });

  it("exact (the default) leaves the shipped int8 model alone; coupled batches it; off never batches", () => {
    expect(batchingConfigSchema.parse({}).mode).toBe("exact");
    expect(shouldBatch(config("exact"), "dynamic-int8")).toBe(false);
    expect(shouldBatch(config("exact"), "none")).toBe(true);
    expect(shouldBatch(config("coupled"), "dynamic-int8")).toBe(true);
    expect(shouldBatch(config("off"), "none")).toBe(false);
    expect(shouldBatch(config("coupled", 1), "dynamic-int8")).toBe(false);
  });
});
