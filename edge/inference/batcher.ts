/**
 * Batching across wearers: the windows of many wearers that are due at
 * nearly the same time run as ONE onnxruntime call (the batch dimension).
 *
 * Why: a call has a fixed cost (tensor set-up, the graph walk, cold caches)
 * and the LSTM's matrix products are far more efficient on 8-32 rows than on
 * one, so a batch costs less per window than single calls (int8: 0.45 ms at
 * batch 1, 0.27 ms per window at 25; `make bench`, `inference_ms_per_window`).
 * And onnxruntime-node 1.30 runs every call synchronously on the JS thread
 * (in a setImmediate), so 25 single calls due in the same tick are 25 blocks
 * of the event loop one after the other, with every publish behind them.
 *
 * Where it sits: one `WindowBatcher` per loaded session, under the
 * `SwappableModel` lanes of every pipeline (edge/ota/ports.ts builds it for
 * the model module and for OTA alike). A pipeline's `InferenceScheduler`
 * still decides what to run: it has at most one window in flight (here) and
 * at most one pending, which a newer window replaces (counted as skipped).
 * So the skip-to-newest guarantee is the scheduler's and unchanged, and this
 * queue holds at most one window per scheduler.
 *
 * When a batch runs:
 * - nothing running: after `maxWaitMs` from the first queued window (0: at
 *   the end of the current event-loop turn, which gathers every window a
 *   source tick or a serial chunk completed), or at once when `maxBatch`
 *   are queued;
 * - a batch running: when it ends, with whatever queued meanwhile: under
 *   load the batches grow by themselves, without any added wait.
 *
 * Under a pool of N inference workers (edge/inference/inferencePool.ts)
 * `concurrency` is N: up to N batches run at once, and the windows waiting
 * when batches launch are split evenly over the free workers (25 windows, 2
 * workers: 13 and 12), so the last window of a burst waits for half the others.
 *
 * Fairness: first in, first out, `maxBatch` at a time. A wearer's next window
 * can only join the queue after its previous one finished, i.e. behind
 * everyone already waiting, so with N waiting schedulers every window runs
 * within ceil(N / maxBatch) batches; nobody is starved when more are due than
 * one batch holds.
 *
 * Exactness: batching is only exact when the model's rows are independent.
 * Dynamic int8 quantization picks one activation scale over the whole input
 * tensor, so a wearer's angles would depend on who shares its batch (measured
 * in docs/architecture.md "Batching across wearers"). `batchingFor` therefore
 * batches only models declared batch-invariant unless the config opts into
 * coupled batching; the shipped int8 model runs alone by default, bit for bit
 * as before.
 */
import { z } from "zod";

export const batchingConfigSchema = z
  .object({
    /**
     * exact: batch only models whose outputs do not depend on their batch
     * partners (no dynamic quantization); the shipped int8 model then runs one
     * window per call. coupled: batch every model, accepting the int8 model's
     * measured batch coupling. off: one window per call.
     */
    mode: z.enum(["exact", "coupled", "off"]).default("exact"),
    /** Windows per call at most; more waiting than this run in the next call. */
    maxBatch: z.number().int().min(1).max(256).default(32),
    /**
     * How long the first window may wait for partners when no batch is
     * running (ms). 0: only the windows that became due in the same
     * event-loop turn (no timer, no added latency).
     */
    maxWaitMs: z.number().min(0).max(20).default(0),
  })
  .strict();
export type BatchingConfig = z.infer<typeof batchingConfigSchema>;

/** The model under the batcher: runs `batch` windows at once. */
export interface BatchableModel {
  run(windows: Float32Array, batch: number): Promise<Float32Array>;
  stop(): Promise<void>;
}

export interface BatcherOptions {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  /** Values per input window (window × features). */
  readonly windowLength: number;
  /** Values per output window (window × joints). */
  readonly outputLength: number;
  /** Batches that may run at once (the model's workers). Default 1. */
  readonly concurrency?: number;
}

export interface BatcherStats {
  /** Calls made to the model. */
  readonly batches: number;
  /** Windows run (the sum of all batch sizes). */
  readonly windows: number;
  readonly largestBatch: number;
  /** Windows whose batch failed (each was rejected to its caller). */
  readonly failed: number;
}

interface Request {
  readonly window: Float32Array;
  readonly resolve: (output: Float32Array) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Quantizations whose rows are independent of their batch partners. Dynamic
 * quantization ("dynamic-int8") is not: its activation scale is taken over the
 * whole batch. Anything not listed counts as coupled (the safe side).
 */
const BATCH_INVARIANT_QUANTIZATIONS: ReadonlySet<string> = new Set(["none", "fp32", "fp16"]);

/** Pure: whether a model of this `manifest.model.quantization` gives each window the same output in any batch. */
export function isBatchInvariant(quantization: string | undefined): boolean {
  return quantization === undefined || BATCH_INVARIANT_QUANTIZATIONS.has(quantization);
}

/** Pure: whether a model of this quantization is batched under `config`. */
export function shouldBatch(config: BatchingConfig, quantization: string | undefined): boolean {
  if (config.mode === "off" || config.maxBatch === 1) return false;
  return config.mode === "coupled" || isBatchInvariant(quantization);
}

export class WindowBatcher implements BatchableModel {
  /** FIFO of waiting windows; `head` is the oldest (an index, so taking a batch is O(batch)). */
  private queue: Request[] = [];
  private head = 0;
  /** Batches in flight. */
  private running = 0;
  private readonly concurrency: number;
  private stopped = false;
  /** The pending launch: a timeout (maxWaitMs > 0) or an immediate (0); each has its own clear function. */
  private timer: { readonly kind: "timeout"; readonly handle: NodeJS.Timeout } | { readonly kind: "immediate"; readonly handle: NodeJS.Immediate } | undefined;
  /** One input buffer per batch that may be in flight (onnxruntime reads it until the call settles). */
  private readonly freeInputs: Float32Array[] = [];
  private counts = { batches: 0, windows: 0, largestBatch: 0, failed: 0 };
  private drainWaiters: Array<() => void> = [];

  constructor(
    private readonly model: BatchableModel,
    private readonly options: BatcherOptions,
  ) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new RangeError(`maxBatch must be an integer >= 1, got ${options.maxBatch}`);
    if (!(options.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0, got ${options.maxWaitMs}`);
    this.concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1, got ${this.concurrency}`);
    for (let i = 0; i < this.concurrency; i++) this.freeInputs.push(new Float32Array(options.maxBatch * options.windowLength));
  }

  /**
   * One window; resolves with its [window][joints] output. The caller must
   * not modify `windows` until then (as with the model itself).
   */
  run(windows: Float32Array, batch = 1): Promise<Float32Array> {
    if (this.stopped) return Promise.reject(new Error("the model is stopped"));
    if (batch !== 1) return Promise.reject(new RangeError(`the batcher takes one window per call, got batch ${batch}`));
    if (windows.length < this.options.windowLength) {
      return Promise.reject(new RangeError(`window holds ${windows.length} values, expected ${this.options.windowLength}`));
    }
    return new Promise<Float32Array>((resolve, reject) => {
      this.queue.push({ window: windows, resolve, reject });
      this.schedule();
    });
  }

  /** Windows waiting for a batch (not counting the batch running). */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  stats(): BatcherStats {
    return { ...this.counts };
  }

  /** Rejects the waiting windows, waits for the batches running, then stops the model. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer();
    for (const r of this.take(this.waiting)) r.reject(new Error("the model is stopped"));
    if (this.running > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    await this.model.stop();
  }

  private schedule(): void {
    if (this.running >= this.concurrency || this.stopped) return; // a batch ending launches what waits
    if (this.waiting >= this.options.maxBatch) {
      this.cancelTimer();
      this.launch();
      return;
    }
    if (this.timer) return; // the first window's wait is already counting
    const fire = (): void => {
      this.timer = undefined;
      this.launch();
    };
    this.timer =
      this.options.maxWaitMs > 0 ? { kind: "timeout", handle: setTimeout(fire, this.options.maxWaitMs) } : { kind: "immediate", handle: setImmediate(fire) };
  }

  private cancelTimer(): void {
    const t = this.timer;
    if (!t) return;
    // Never the other kind's clear: clearImmediate on a timeout corrupts Node's count of pending immediates.
    if (t.kind === "timeout") clearTimeout(t.handle);
    else clearImmediate(t.handle);
    this.timer = undefined;
  }

  /** The oldest `n` waiting requests, removed from the queue. */
  private take(n: number): Request[] {
    const batch = this.queue.slice(this.head, this.head + n);
    this.head += batch.length;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head); // compact now and then, not on every batch
      this.head = 0;
    }
    return batch;
  }

  /** Starts batches while a worker is free and windows wait, splitting the waiting ones evenly over the free workers. */
  private launch(): void {
    while (!this.stopped && this.waiting > 0 && this.running < this.concurrency) {
      const free = this.concurrency - this.running;
      const batch = this.take(Math.min(Math.ceil(this.waiting / free), this.options.maxBatch));
      const input = this.freeInputs.pop()!; // running < concurrency, so one is free
      this.running += 1;
      void this.execute(batch, input).finally(() => {
        this.running -= 1;
        this.freeInputs.push(input);
        if (this.running === 0) for (const w of this.drainWaiters.splice(0)) w();
        // Whatever queued while this batch ran has waited at least that long: it goes now.
        if (this.waiting > 0 && !this.stopped) this.launch();
      });
    }
  }

  /** One call for the whole batch; never rejects (each caller gets its result or the error). */
  private async execute(batch: readonly Request[], buffer: Float32Array): Promise<void> {
    const { windowLength, outputLength } = this.options;
    const n = batch.length;
    let input: Float32Array;
    if (n === 1) {
      input = batch[0]!.window; // alone: exactly the single-window call, no copy
    } else {
      input = buffer;
      for (let i = 0; i < n; i++) input.set(batch[i]!.window.subarray(0, windowLength), i * windowLength);
    }
    this.counts.batches += 1;
    this.counts.windows += n;
    if (n > this.counts.largestBatch) this.counts.largestBatch = n;
    let output: Float32Array;
    try {
      output = await this.model.run(input, n);
      if (output.length < n * outputLength) throw new Error(`the model returned ${output.length} values for ${n} windows, expected ${n * outputLength}`);
    } catch (err) {
      this.counts.failed += n;
      const error = err instanceof Error ? err : new Error(String(err));
      for (const r of batch) r.reject(error);
      return;
    }
    // Views, not copies: every call returns a fresh output array, so no batch overwrites another's.
    for (let i = 0; i < n; i++) batch[i]!.resolve(output.subarray(i * outputLength, (i + 1) * outputLength));
  }
}
