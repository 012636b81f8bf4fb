/**
 * Runs the model off the input path. Sources push samples at 100-200 Hz per
 * placement and must never wait for inference, so windows are handed over
 * here and `submit` returns at once:
 *
 * - nothing in flight: the window starts running now;
 * - a run in flight: the window waits in a bounded queue (`maxPending`,
 *   default 1, oldest first); when the queue is full its OLDEST window is
 *   dropped (counted as skipped) for the new one. A slow model then
 *   publishes the newest angles rather than falling ever further behind.
 *   The windowed stream keeps the default (one pending: skip-to-newest);
 *   per-sample mode queues a few, because samples arrive in bursts (a late
 *   timer tick, a BLE connection interval) while inference keeps up on average.
 *
 * Windows are copied into `maxPending + 1` preallocated buffers that rotate
 * (in flight, queued, free), so nothing is allocated per window and a window
 * in flight is never overwritten while onnxruntime reads it.
 */
import type { WindowModel } from "./onnxModel.js";

export interface InferenceResult<M> {
  /** What the caller attached to the window (segment, grid index, time...). */
  readonly meta: M;
  /** [window][joints] degrees for the window. */
  readonly output: Float32Array;
  /** Windows dropped (replaced while pending) since the previous result. */
  readonly skippedBefore: number;
}

export interface SchedulerHandlers<M> {
  onResult(result: InferenceResult<M>): void;
  /** A failed run; the scheduler keeps going with the next window. */
  onError(error: Error, meta: M): void;
  /**
   * A waiting window dropped for a newer one (counted in `skipped`). For
   * callers whose meta carries more than one request: the pipeline's stride
   * windows also carry a per-sample estimate, which is skipped with them.
   */
  onSkipped?(meta: M): void;
}

export interface SchedulerStats {
  readonly submitted: number;
  readonly completed: number;
  readonly skipped: number;
  readonly failed: number;
}

export interface SchedulerOptions {
  /** Windows that may wait while one runs; a full queue drops its oldest. Default 1. */
  readonly maxPending?: number;
}

export class InferenceScheduler<M> {
  private readonly maxPending: number;
  /** Buffers neither queued nor in flight. */
  private readonly free: Float32Array[] = [];
  /** The pending queue: a ring of `maxPending` slots, `head` the oldest, `count` in use. */
  private readonly queueBufs: Array<Float32Array | undefined>;
  private readonly queueMetas: Array<M | undefined>;
  private head = 0;
  private count = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  private skippedSinceResult = 0;
  private counts = { submitted: 0, completed: 0, skipped: 0, failed: 0 };

  constructor(
    private readonly model: WindowModel,
    /** Values per window: window × features. */
    private readonly windowLength: number,
    private readonly handlers: SchedulerHandlers<M>,
    options: SchedulerOptions = {},
  ) {
    this.maxPending = options.maxPending ?? 1;
    if (!Number.isInteger(this.maxPending) || this.maxPending < 1) throw new RangeError(`maxPending must be an integer >= 1, got ${this.maxPending}`);
    for (let i = 0; i <= this.maxPending; i++) this.free.push(new Float32Array(windowLength));
    this.queueBufs = new Array<Float32Array | undefined>(this.maxPending).fill(undefined);
    this.queueMetas = new Array<M | undefined>(this.maxPending).fill(undefined);
  }

  /** Hand a window over (copied); never blocks. Ignored after `stop()`. */
  submit(window: ArrayLike<number>, meta: M): void {
    if (this.stopped) return;
    if (window.length !== this.windowLength) {
      throw new RangeError(`window has ${window.length} values, expected ${this.windowLength}`);
    }
    this.counts.submitted += 1;
    let buf: Float32Array;
    if (this.count === this.maxPending) {
      // Full: the oldest waiting window is dropped and its buffer takes the new one.
      buf = this.queueBufs[this.head]!;
      const dropped = this.queueMetas[this.head] as M;
      this.queueBufs[this.head] = undefined;
      this.queueMetas[this.head] = undefined;
      this.head = (this.head + 1) % this.maxPending;
      this.count -= 1;
      this.counts.skipped += 1;
      this.skippedSinceResult += 1;
      this.tellSkipped(dropped);
    } else {
      // In use: at most `count` queued + 1 in flight < maxPending + 1 buffers, so one is free.
      buf = this.free.pop()!;
    }
    buf.set(window);
    const tail = (this.head + this.count) % this.maxPending;
    this.queueBufs[tail] = buf;
    this.queueMetas[tail] = meta;
    this.count += 1;
    if (!this.running) this.startNext();
  }

  /** True while a run is in flight. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  stats(): SchedulerStats {
    return { ...this.counts };
  }

  /** Windows waiting (not counting the one in flight). */
  get pending(): number {
    return this.count;
  }

  /** Drop the pending windows and wait for the run in flight (its result is still delivered). */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.count > 0) this.dropOldest();
    await this.running;
  }

  /** Resolves when nothing is in flight or pending (tests, replay end). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Drop the oldest queued window (stop): its buffer goes back to the free list. */
  private dropOldest(): void {
    this.free.push(this.queueBufs[this.head]!);
    this.queueBufs[this.head] = undefined;
    this.queueMetas[this.head] = undefined;
    this.head = (this.head + 1) % this.maxPending;
    this.count -= 1;
  }

  private startNext(): void {
    if (this.count === 0) return;
    const buf = this.queueBufs[this.head]!;
    const meta = this.queueMetas[this.head] as M;
    this.queueBufs[this.head] = undefined;
    this.queueMetas[this.head] = undefined;
    this.head = (this.head + 1) % this.maxPending;
    this.count -= 1;
    const skipped = this.skippedSinceResult;
    this.skippedSinceResult = 0;

    this.running = this.execute(buf, meta, skipped).finally(() => {
      this.free.push(buf); // onnxruntime is done with it
      this.running = undefined;
      if (!this.stopped) this.startNext();
    });
  }

  /** One run; never rejects (failures go to onError), so `running` is safe to leave un-awaited. */
  private async execute(buf: Float32Array, meta: M, skippedBefore: number): Promise<void> {
    let output: Float32Array;
    try {
      output = await this.model.run(buf, 1);
    } catch (err) {
      this.counts.failed += 1;
      this.report(err, meta);
      return;
    }
    this.counts.completed += 1;
    try {
      this.handlers.onResult({ meta, output, skippedBefore });
    } catch (err) {
      // A throwing consumer must not stop inference; it is told through onError.
      this.report(err, meta);
    }
  }

  private tellSkipped(meta: M): void {
    try {
      this.handlers.onSkipped?.(meta);
    } catch (err) {
      this.report(err, meta); // submit() must not throw for a consumer's bug
    }
  }

  private report(err: unknown, meta: M): void {
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      this.handlers.onError(error, meta);
    } catch (handlerErr) {
      // Last resort: the error handler itself failed; leave a trace instead of an unhandled rejection.
      process.emitWarning(`inference error handler threw: ${String(handlerErr)} (while reporting: ${error.message})`);
    }
  }
}
