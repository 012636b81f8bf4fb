/**
 * A pool of inference workers behind one `WindowModel` (`inference.thread:
 * "worker"`, `inference.workers: N`): N worker threads, each with its own
 * session of the same model (edge/inference/threadModel.ts), so N windows run
 * at once on N cores.
 *
 * Why: the shipped int8 model must run one window per call (batching it
 * couples the wearers' outputs: docs/architecture.md "Exactness"), 0.43 ms a
 * window. When 25 wearers' strides end on the same tick, one session runs the
 * 25 windows one after the other and the 25th waits for 24 others (>= 11 ms,
 * beyond the 10 ms bar); two sessions halve that wait, with every output the
 * same numbers as one session's (the same model, options and onnxruntime,
 * one window per call).
 *
 * Dispatch: one first-in-first-out queue in front of the workers. A window
 * goes to the worker with the fewest windows in flight (an idle one first;
 * ties to the lowest index), and each worker holds at most `depth` (default 2)
 * windows: the second one waits in the worker's own message queue, so the
 * worker never idles for the message hop back to the main thread and the next
 * dispatch, while the rest wait HERE, where any worker that frees up takes the
 * oldest. Nothing is reordered: windows leave the queue in the order they came.
 *
 * Skip-to-newest and fairness are unchanged: each pipeline's
 * `InferenceScheduler` has at most one window in flight (here) and at most
 * one pending, which a newer window replaces. A wearer's next window joins the
 * queue only after its previous one finished, i.e. behind everyone waiting.
 *
 * A crashed worker: the windows it held are rejected, each to its own pipeline
 * (counted as that pipeline's `failed` and logged there: never silently lost);
 * the windows still queued here go to the workers left; `onHealth` reports it
 * (the status module turns it into `degraded`). With no worker left every
 * window is rejected with the reason. A crashed worker is not restarted: its
 * cause (out of memory, a native fault) would likely recur, and a degraded
 * status is the operator's cue.
 *
 * stop() drains: new runs are refused, the windows already accepted (queued
 * and in flight) still run and resolve, then every worker's session is released.
 */
import type { WindowModel } from "./onnxModel.js";

/** One worker of the pool: a session that can be started, run and stopped. */
export interface PoolWorker extends WindowModel {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Builds worker `index`; it must call `onLost(reason)` once if it dies on its
 * own (a crash, an exit), before it rejects the windows it held.
 */
export type PoolWorkerFactory = (index: number, onLost: (reason: string) => void) => PoolWorker;

export interface InferenceHealth {
  readonly healthy: boolean;
  /** What is wrong, when not healthy. */
  readonly reason?: string;
}

/** A loaded session's health changed (a worker of its pool was lost; healthy again once it is stopped). */
export interface InferenceHealthEvent {
  /** Unique per loaded session: "<name> <version> #<n>" (edge/ota/ports.ts `onnxModelLoader`). */
  readonly session: string;
  readonly health: InferenceHealth;
}

export interface InferencePoolOptions {
  /** Worker threads (sessions), >= 1. */
  readonly workers: number;
  /** Names the model in errors and health reasons ("reduced-femur-calcn-lstm 2.0.0"). */
  readonly label: string;
  /** Windows one worker holds at most (in its thread's queue and running). Default 2. */
  readonly depth?: number;
  /**
   * Told when a worker is lost (healthy: false, with the reason), and once
   * more with healthy: true when the pool stops after that (its problem is
   * over: the session is gone, e.g. replaced by an OTA update).
   */
  readonly onHealth?: (health: InferenceHealth) => void;
}

export interface InferencePoolStats {
  readonly workers: number;
  /** Workers still alive. */
  readonly alive: number;
  /** Windows each worker has run (resolved), by worker index. */
  readonly windowsByWorker: readonly number[];
  /** Windows rejected because their worker was lost or the pool had none left. */
  readonly lostWindows: number;
}

interface Request {
  readonly windows: Float32Array;
  readonly batch: number;
  readonly resolve: (output: Float32Array) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly index: number;
  readonly worker: PoolWorker;
  inFlight: number;
  done: number;
  /** Why it died; undefined while alive. */
  lost: string | undefined;
}

export class InferencePool implements WindowModel {
  private readonly slots: Slot[] = [];
  /** FIFO of windows no worker has taken yet; `head` is the oldest (an index, so taking one is O(1)). */
  private queue: Request[] = [];
  private head = 0;
  private readonly depth: number;
  private started = false;
  /** Set by stop(): new runs are refused from then on. */
  private stopping: Promise<void> | undefined;
  private reportedUnhealthy = false;
  private lostWindows = 0;
  /** The reason of the latest worker lost, for the error once none is left. */
  private lastLoss = "";
  private drainWaiters: Array<() => void> = [];

  constructor(
    private readonly factory: PoolWorkerFactory,
    private readonly options: InferencePoolOptions,
  ) {
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new RangeError(`workers must be an integer >= 1, got ${options.workers}`);
    this.depth = options.depth ?? 2;
    if (!Number.isInteger(this.depth) || this.depth < 1) throw new RangeError(`depth must be an integer >= 1, got ${this.depth}`);
  }

  /** Starts every worker (in parallel); if one fails to load, the others are stopped and the first error is thrown. */
  async start(): Promise<void> {
    const slots: Slot[] = [];
    for (let i = 0; i < this.options.workers; i++) {
      const slot: Slot = { index: i, worker: this.factory(i, (reason) => this.onLost(slot, reason)), inFlight: 0, done: 0, lost: undefined };
      slots.push(slot);
    }
    const results = await Promise.allSettled(slots.map((s) => s.worker.start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await Promise.allSettled(slots.map((s, i) => (results[i]!.status === "fulfilled" ? s.worker.stop() : Promise.resolve())));
      throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    }
    this.slots.push(...slots);
    this.started = true;
  }

  /** `batch` windows as one call on one worker; resolves with that worker's output. */
  run(windows: Float32Array, batch = 1): Promise<Float32Array> {
    if (!this.started) return Promise.reject(new Error(`${this.options.label}: model not started`));
    if (this.stopping) return Promise.reject(new Error(`${this.options.label}: model stopped`));
    const gone = this.allLost();
    if (gone) return Promise.reject(gone);
    return new Promise<Float32Array>((resolve, reject) => {
      this.queue.push({ windows, batch, resolve, reject });
      this.dispatch();
    });
  }

  /** Windows waiting for a worker (not counting those the workers hold). */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  stats(): InferencePoolStats {
    return {
      workers: this.slots.length,
      alive: this.slots.filter((s) => s.lost === undefined).length,
      windowsByWorker: this.slots.map((s) => s.done),
      lostWindows: this.lostWindows,
    };
  }

  /** Refuses new runs, lets every accepted window finish, then releases the workers' sessions. */
  stop(): Promise<void> {
    this.stopping ??= this.drainAndStop(); // a second stop() waits for the same drain
    return this.stopping;
  }

  private async drainAndStop(): Promise<void> {
    if (!this.idle()) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    await Promise.all(this.slots.map((s) => s.worker.stop())); // a lost worker's stop() only settles
    if (this.reportedUnhealthy) this.report({ healthy: true });
  }

  private idle(): boolean {
    return this.waiting === 0 && this.slots.every((s) => s.inFlight === 0);
  }

  /** Hands the oldest waiting windows to the least loaded live workers, while any has room. */
  private dispatch(): void {
    while (this.waiting > 0) {
      const slot = this.leastLoaded();
      if (!slot) break;
      const request = this.take();
      this.send(slot, request);
    }
    if (this.waiting > 0) {
      const gone = this.allLost();
      if (gone) for (const r of this.takeAll()) this.fail(r, gone);
    }
    if (this.drainWaiters.length && this.idle()) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** The live worker with the fewest windows in flight and room for one more (lowest index on a tie). */
  private leastLoaded(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots) {
      if (s.lost !== undefined || s.inFlight >= this.depth) continue;
      if (!best || s.inFlight < best.inFlight) best = s;
    }
    return best;
  }

  private send(slot: Slot, r: Request): void {
    slot.inFlight += 1;
    slot.worker.run(r.windows, r.batch).then(
      (output) => {
        slot.inFlight -= 1;
        slot.done += 1;
        r.resolve(output);
        this.dispatch();
      },
      (err: unknown) => {
        slot.inFlight -= 1;
        const error = err instanceof Error ? err : new Error(String(err));
        if (slot.lost !== undefined) this.fail(r, new Error(`${this.options.label}: inference worker ${slot.index + 1} of ${this.slots.length} was lost with this window (${slot.lost})`, { cause: error }));
        else r.reject(error); // the model's own error (bad input...): the worker is fine
        this.dispatch();
      },
    );
  }

  private onLost(slot: Slot, reason: string): void {
    if (slot.lost !== undefined) return;
    slot.lost = reason;
    this.lastLoss = reason;
    const alive = this.slots.filter((s) => s.lost === undefined).length;
    const total = this.slots.length;
    this.report({
      healthy: false,
      reason:
        alive === 0
          ? `${this.options.label}: all ${total} inference workers lost (the last: ${reason}); no angles`
          : `${this.options.label}: inference worker ${slot.index + 1} of ${total} lost (${reason}); ${alive} left`,
    });
    // Its windows are rejected by the worker itself (they reach `send`'s handler); the queue goes to the others.
    queueMicrotask(() => this.dispatch());
  }

  private allLost(): Error | undefined {
    if (this.slots.length === 0 || this.slots.some((s) => s.lost === undefined)) return undefined;
    return new Error(`${this.options.label}: every inference worker was lost (the last: ${this.lastLoss}); no inference`);
  }

  private fail(r: Request, error: Error): void {
    this.lostWindows += 1;
    r.reject(error);
  }

  private report(health: InferenceHealth): void {
    this.reportedUnhealthy = !health.healthy;
    try {
      this.options.onHealth?.(health);
    } catch (err) {
      // A throwing listener must not take inference down; leave a trace instead of an unhandled rejection.
      process.emitWarning(`inference pool health listener threw: ${String(err)}`);
    }
  }

  private take(): Request {
    const r = this.queue[this.head]!;
    this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head); // compact now and then, not on every window
      this.head = 0;
    }
    return r;
  }

  private takeAll(): Request[] {
    const all = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    return all;
  }
}
