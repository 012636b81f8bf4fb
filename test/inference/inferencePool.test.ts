/**
 * The pool of inference workers (edge/inference/inferencePool.ts): dispatch to
 * the least loaded worker, first-in-first-out fairness, a lost worker, stop()
 * draining (fake workers whose calls finish when the test says so), and the
 * shipped model's golden windows through a real pool of two worker threads:
 * the same numbers, bit for bit, as one session on the main thread.
 */
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { loadManifest } from "../../edge/contract/manifest.js";
import { InferencePool, type InferenceHealth, type PoolWorker, type PoolWorkerFactory } from "../../edge/inference/inferencePool.js";
import { InferenceConfigSchema, OnnxModel } from "../../edge/inference/onnxModel.js";
import { InferenceScheduler } from "../../edge/inference/scheduler.js";
import { ThreadModel } from "../../edge/inference/threadModel.js";
import { onnxModelLoader } from "../../edge/ota/ports.js";
import { parseConfig } from "../../edge/runtime/config.js";

const MANIFEST = "models/reduced-femur-calcn-lstm/manifest.json";

interface Call {
  readonly first: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/** A worker whose calls finish when the test says so; its output is [first value of the window, worker index]. */
class ManualWorker implements PoolWorker {
  readonly calls: Call[] = [];
  started = false;
  stopped = false;
  constructor(
    readonly index: number,
    private readonly onLost: (reason: string) => void,
    private readonly failStart = false,
  ) {}
  async start(): Promise<void> {
    if (this.failStart) throw new Error(`worker ${this.index}: cannot load the model`);
    this.started = true;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  run(windows: Float32Array): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      const first = windows[0]!;
      this.calls.push({ first, resolve: () => resolve(Float32Array.of(first, this.index)), reject });
    });
  }
  /** Finishes its oldest unfinished call. */
  finish(): void {
    const c = this.calls.shift();
    if (!c) throw new Error(`worker ${this.index} has no call to finish`);
    c.resolve();
  }
  /** Dies as a thread does: tells the pool, then rejects what it held. */
  crash(reason: string): void {
    this.onLost(reason);
    for (const c of this.calls.splice(0)) c.reject(new Error(reason));
  }
  /** First values of the windows it holds, oldest first. */
  get holding(): number[] {
    return this.calls.map((c) => c.first);
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await turn();
};

async function pool(n: number, opts: { depth?: number; failStart?: number } = {}): Promise<{ pool: InferencePool; workers: ManualWorker[]; health: InferenceHealth[] }> {
  const workers: ManualWorker[] = [];
  const health: InferenceHealth[] = [];
  const factory: PoolWorkerFactory = (i, onLost) => {
    const w = new ManualWorker(i, onLost, i === opts.failStart);
    workers.push(w);
    return w;
  };
  const p = new InferencePool(factory, { workers: n, label: "test-model 1.0.0", onHealth: (h) => health.push(h), ...(opts.depth ? { depth: opts.depth } : {}) });
  await p.start();
  return { pool: p, workers, health };
}

const win = (x: number): Float32Array => Float32Array.of(x, 0);

describe("InferencePool dispatch", () => {
  it("gives each window to the least loaded worker, an idle one first, and keeps the rest queued in order", async () => {
    const { pool: p, workers: [a, b] } = await pool(2);
    const results: number[][] = [];
    for (let i = 1; i <= 6; i++) void p.run(win(i)).then((y) => results.push(Array.from(y)));
    expect(a!.holding).toEqual([1, 3]);
    expect(b!.holding).toEqual([2, 4]);
    expect(p.waiting).toBe(2); // depth 2: 5 and 6 wait in the pool, for whichever worker frees up first
    b!.finish();
    await settle();
    expect(b!.holding).toEqual([4, 5]);
    a!.finish();
    await settle();
    expect(a!.holding).toEqual([3, 6]);
    for (const w of [a!, b!]) while (w.calls.length) w.finish();
    await settle();
    expect(results).toEqual([[2, 1], [1, 0], [3, 0], [6, 0], [4, 1], [5, 1]]);
    expect(p.stats()).toEqual({ workers: 2, alive: 2, windowsByWorker: [3, 3], lostWindows: 0 });
  });

  it("starves no wearer: each scheduler's next window queues behind everyone waiting", async () => {
    const { pool: p, workers } = await pool(2, { depth: 1 });
    const served: string[] = [];
    const wearers = ["a", "b", "c", "d", "e"].map(
      (name, i) =>
        [name, i, new InferenceScheduler<string>(p, 2, { onResult: (r) => served.push(r.meta), onError: (e) => { throw e; } })] as const,
    );
    for (const [name, i, s] of wearers) s.submit([i, 0], name);
    // Wearer a submits again whenever its window finished: it must not jump the queue.
    for (let round = 0; round < 4; round++) {
      for (const w of workers) if (w.calls.length) w.finish();
      await settle();
      wearers[0]![2].submit([0, 0], "a");
    }
    expect(served.slice(0, 6)).toEqual(["a", "b", "c", "d", "e", "a"]);
  });

  it("passes a worker's own error (bad input) to that window's caller and keeps the worker", async () => {
    const { pool: p, workers: [a], health } = await pool(1);
    const failing = p.run(win(1));
    a!.calls.shift()!.reject(new Error("input holds 2 values, 1 window(s) need 900"));
    await expect(failing).rejects.toThrow(/need 900/);
    const ok = p.run(win(2));
    a!.finish();
    expect(Array.from(await ok)).toEqual([2, 0]);
    expect(health).toEqual([]);
  });
});

describe("InferencePool with a lost worker", () => {
  it("fails the windows the lost worker held to their own callers, sends the queued ones to the others, and reports it", async () => {
    const { pool: p, workers: [a, b], health } = await pool(2, { depth: 1 });
    const runs = [1, 2, 3, 4].map((i) => p.run(win(i)));
    const outcome = runs.map((r) => r.then((y) => `ok ${Array.from(y).join(",")}`, (e: Error) => `failed: ${e.message}`));
    expect(a!.holding).toEqual([1]);
    expect(b!.holding).toEqual([2]);
    a!.crash("the inference thread exited (code 1)");
    await settle();
    expect(health).toEqual([{ healthy: false, reason: "test-model 1.0.0: inference worker 1 of 2 lost (the inference thread exited (code 1)); 1 left" }]);
    expect(b!.holding).toEqual([2]); // 3 and 4 wait for the worker left, none is lost
    while (b!.calls.length || p.waiting) {
      b!.finish();
      await settle();
    }
    const got = await Promise.all(outcome);
    expect(got[0]).toMatch(/^failed: test-model 1\.0\.0: inference worker 1 of 2 was lost with this window \(the inference thread exited \(code 1\)\)/);
    expect(got.slice(1)).toEqual(["ok 2,1", "ok 3,1", "ok 4,1"]);
    expect(p.stats()).toMatchObject({ alive: 1, lostWindows: 1, windowsByWorker: [0, 3] });
  });

  it("with every worker lost, rejects the queued windows and every later run with the reason, and says so", async () => {
    const { pool: p, workers: [a, b], health } = await pool(2, { depth: 1 });
    const runs = [1, 2, 3].map((i) => p.run(win(i)).then(() => "ok", (e: Error) => e.message));
    a!.crash("out of memory");
    b!.crash("segfault");
    await settle();
    const got = await Promise.all(runs);
    expect(got[0]).toMatch(/worker 1 of 2 was lost with this window \(out of memory\)/);
    expect(got[1]).toMatch(/worker 2 of 2 was lost with this window \(segfault\)/);
    expect(got[2]).toMatch(/every inference worker was lost \(the last: segfault\)/);
    await expect(p.run(win(4))).rejects.toThrow(/every inference worker was lost/);
    expect(health.at(-1)).toEqual({ healthy: false, reason: "test-model 1.0.0: all 2 inference workers lost (the last: segfault); no angles" });
    expect(p.stats().lostWindows).toBe(3);
  });

  it("reports healthy again once the pool with a lost worker is stopped (its session is gone)", async () => {
    const { pool: p, workers: [a], health } = await pool(2);
    a!.crash("exited");
    await p.stop();
    expect(health.map((h) => h.healthy)).toEqual([false, true]);
  });
});

describe("InferencePool start and stop", () => {
  it("stop() drains: refuses new runs, lets the queued and running windows finish, then stops every worker", async () => {
    const { pool: p, workers: [a, b] } = await pool(2, { depth: 1 });
    const runs = [1, 2, 3].map((i) => p.run(win(i)));
    let stopped = false;
    const stopping = p.stop().then(() => (stopped = true));
    let secondStopped = false;
    const second = p.stop().then(() => (secondStopped = true)); // e.g. retire, then the runtime's stop
    await expect(p.run(win(9))).rejects.toThrow(/model stopped/);
    await settle();
    expect([stopped, secondStopped]).toEqual([false, false]);
    a!.finish();
    await settle();
    expect(a!.holding).toEqual([3]); // the queued window still runs
    a!.finish();
    b!.finish();
    await Promise.all([stopping, second]);
    expect((await Promise.all(runs)).map((y) => y[0])).toEqual([1, 2, 3]);
    expect([a!.stopped, b!.stopped]).toEqual([true, true]);
  });

  it("fails to start when one worker cannot load the model, stopping the ones that did", async () => {
    const workers: ManualWorker[] = [];
    const p = new InferencePool((i, onLost) => {
      const w = new ManualWorker(i, onLost, i === 1);
      workers.push(w);
      return w;
    }, { workers: 3, label: "m" });
    await expect(p.start()).rejects.toThrow(/worker 1: cannot load the model/);
    expect(workers.map((w) => [w.started, w.stopped])).toEqual([[true, true], [false, false], [true, true]]);
    await expect(p.run(win(1))).rejects.toThrow(/not started/);
  });

  it("refuses a pool of no workers", () => {
    expect(() => new InferencePool(() => { throw new Error("unused"); }, { workers: 0, label: "m" })).toThrow(/workers must be an integer >= 1/);
  });
});

describe("inference.workers in the config", () => {
  const base = { sources: [{ kind: "simulator" }] };
  it("defaults to one session and takes a pool with thread worker", () => {
    expect(parseConfig(base).inference.workers).toBe(1);
    expect(parseConfig({ ...base, inference: { thread: "worker", workers: 2 } }).inference).toMatchObject({ thread: "worker", workers: 2 });
  });
  it("refuses workers on the main thread, naming the field", () => {
    expect(() => parseConfig({ ...base, inference: { workers: 2 } })).toThrow(/inference\.workers: 2 workers need inference\.thread "worker"/);
  });
});

describe("a real pool of two worker threads (the shipped int8 model)", () => {
  const stoppable: Array<{ stop(): Promise<void> }> = [];
  afterEach(async () => {
    for (const m of stoppable.splice(0)) await m.stop();
  });

  it("gives the golden windows, all due at once, the same outputs bit for bit as one session on the main thread", async () => {
    const c = await loadManifest(MANIFEST);
    const golden = JSON.parse(await readFile(c.goldenPath!, "utf8")) as { features: number[][][]; outputs: { int8: number[][][] }; tolerance: { outputs_abs_deg: { int8: number } } };
    const windows = golden.features.map((w) => Float32Array.from(w.flat()));
    const p = c.pipeline;
    const main = new OnnxModel({ path: c.modelPath, inputName: p.inputName, outputName: p.outputName, window: p.window, features: c.featureCount, joints: p.joints.length });
    stoppable.push(main);
    await main.start();
    const alone: Float32Array[] = [];
    for (const w of windows) alone.push((await main.run(w, 1)).slice());

    const pooled = await onnxModelLoader(InferenceConfigSchema.parse({ thread: "worker", workers: 2 }))(c);
    stoppable.push(pooled);
    expect(pooled).toBeInstanceOf(InferencePool); // exact batching leaves the int8 model unbatched
    const outputs = await Promise.all(windows.map((w) => pooled.run(w, 1)));
    outputs.forEach((y, i) => expect(Array.from(y), `window ${i}`).toEqual(Array.from(alone[i]!)));
    const byWorker = (pooled as InferencePool).stats().windowsByWorker;
    expect(byWorker.every((n) => n > 0), `windows by worker ${JSON.stringify(byWorker)}`).toBe(true);
    // And both agree with the training side's golden outputs within the contract's tolerance.
    const tol = golden.tolerance.outputs_abs_deg.int8;
    const worst = Math.max(...outputs.flatMap((y, i) => Array.from(y, (v, k) => Math.abs(v - golden.outputs.int8[i]!.flat()[k]!))));
    expect(worst).toBeLessThanOrEqual(tol);
  });

  it("survives a real worker thread dying: the health says so, the other worker carries on with the same outputs", async () => {
    const c = await loadManifest(MANIFEST);
    const p = c.pipeline;
    const options = { path: c.modelPath, inputName: p.inputName, outputName: p.outputName, window: p.window, features: c.featureCount, joints: p.joints.length };
    const threads: ThreadModel[] = [];
    const health: InferenceHealth[] = [];
    const pooled = new InferencePool((_i, onLost) => {
      const t = new ThreadModel(options, { onLost });
      threads.push(t);
      return t;
    }, { workers: 2, label: "int8", depth: 1, onHealth: (h) => health.push(h) });
    stoppable.push(pooled);
    await pooled.start();
    const main = new OnnxModel(options);
    stoppable.push(main);
    await main.start();
    const x = Float32Array.from({ length: p.window * c.featureCount }, (_, i) => Math.sin(i * 0.37));
    const want = Array.from(await main.run(x, 1));
    // The thread dies between windows (`worker` is ThreadModel's own; a test reaches in). Not during
    // one: terminating a thread inside onnxruntime's run aborts the whole process (seen here).
    await threads[0]!["worker"]!.terminate();
    expect(health).toEqual([{ healthy: false, reason: "int8: inference worker 1 of 2 lost (the inference thread exited (code 1)); 1 left" }]);
    const after = await Promise.all([pooled.run(x), pooled.run(x), pooled.run(x)]);
    for (const y of after) expect(Array.from(y)).toEqual(want);
    await pooled.stop();
    expect(health.at(-1)).toEqual({ healthy: true });
  });
});
