/**
 * Runs the model off the input path. Sources push samples at 100-200 Hz per
 * placement and must never wait for inference, so windows are handed over
 * here and `submit` returns at once:
 *
 * - nothing in flight: the window starts running now;
 * - a run in flight: the window becomes the single pending one, replacing
 *   (and counting as skipped) any older pending window. A slow model then
 *   publishes the newest angles rather than falling ever further behind.
 *
 * Windows are copied into two preallocated buffers (in flight, pending) that
 * swap roles, so nothing is allocated per window and a window in flight is
 * never overwritten while onnxruntime reads it.
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
}

export interface SchedulerStats {
  readonly submitted: number;
  readonly completed: number;
  readonly skipped: number;
  readonly failed: number;
}

export class InferenceScheduler<M> {
  private inflightBuf: Float32Array;
  private pendingBuf: Float32Array;
  private pendingMeta: M | undefined;
  private hasPending = false;
  private running: Promise<void> | undefined;
  private stopped = false;
  private skippedSinceResult = 0;
  private counts = { submitted: 0, completed: 0, skipped: 0, failed: 0 };

  constructor(
    private readonly model: WindowModel,
    /** Values per window: window × features. */
    private readonly windowLength: number,
    private readonly handlers: SchedulerHandlers<M>,
  ) {
    this.inflightBuf = new Float32Array(windowLength);
    this.pendingBuf = new Float32Array(windowLength);
  }

  /** Hand a window over (copied); never blocks. Ignored after `stop()`. */
  submit(window: ArrayLike<number>, meta: M): void {
    if (this.stopped) return;
    if (window.length !== this.windowLength) {
      throw new RangeError(`window has ${window.length} values, expected ${this.windowLength}`);
    }
    this.counts.submitted += 1;
    if (this.hasPending) {
      this.counts.skipped += 1;
      this.skippedSinceResult += 1;
    }
    this.pendingBuf.set(window);
    this.pendingMeta = meta;
    this.hasPending = true;
    if (!this.running) this.startNext();
  }

  /** True while a run is in flight. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  stats(): SchedulerStats {
    return { ...this.counts };
  }

  /** Drop the pending window and wait for the run in flight (its result is still delivered). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.hasPending = false;
    this.pendingMeta = undefined;
    await this.running;
  }

  /** Resolves when nothing is in flight or pending (tests, replay end). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private startNext(): void {
    if (!this.hasPending) return;
    // swap: the pending window becomes the one in flight
    const buf = this.pendingBuf;
    this.pendingBuf = this.inflightBuf;
    this.inflightBuf = buf;
    const meta = this.pendingMeta as M;
    this.hasPending = false;
    this.pendingMeta = undefined;
    const skipped = this.skippedSinceResult;
    this.skippedSinceResult = 0;

    this.running = this.execute(buf, meta, skipped).finally(() => {
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
