/**
 * The last N seconds of joint angles for the plots: a fixed-size ring of
 * samples, so a dashboard left open for a day holds as much memory as one open
 * for a minute. Pure (no DOM, no clock): times come from the messages.
 *
 * Layout is columnar (one Float64Array per joint plus one for time) because
 * that is what uPlot draws from; `columns()` copies the ring into linear
 * arrays it reuses, so a redraw allocates nothing but the small views.
 */

/** A sample whose time is this far (ms) behind the newest one means the stream restarted (a new run, a replay from the top). */
export const RESTART_GAP_MS = 1000;

export interface HistoryColumns {
  /** Unix seconds (uPlot's time unit), oldest first. */
  readonly t: Float64Array;
  /** One column per channel, same length as `t`. */
  readonly values: readonly Float64Array[];
}

export class AngleHistory {
  private readonly ringT: Float64Array;
  private readonly ring: Float64Array[];
  private readonly outT: Float64Array;
  private readonly out: Float64Array[];
  /** Index of the next write. */
  private head = 0;
  private count = 0;
  private newestMs = Number.NEGATIVE_INFINITY;
  /** Bumped on every change, so a renderer can skip frames when nothing arrived. */
  version = 0;
  /** Samples ignored because they were not newer than the newest (duplicates, reordering). */
  dropped = 0;
  /** Times the history was cleared because time jumped back (see RESTART_GAP_MS). */
  restarts = 0;

  /**
   * @param channels number of values per sample (5 joints)
   * @param windowMs how much history to keep (10 s)
   * @param capacity most samples kept; at 100 Hz, 10 s needs 1000, the default leaves room for 200 Hz
   */
  constructor(
    readonly channels: number,
    readonly windowMs: number,
    readonly capacity = 2048,
  ) {
    if (!(channels > 0 && capacity > 0 && windowMs > 0)) throw new Error("AngleHistory needs channels, capacity and windowMs > 0");
    this.ringT = new Float64Array(capacity);
    this.outT = new Float64Array(capacity);
    this.ring = Array.from({ length: channels }, () => new Float64Array(capacity));
    this.out = Array.from({ length: channels }, () => new Float64Array(capacity));
  }

  get length(): number {
    return this.count;
  }

  /** Unix ms of the newest sample, or undefined when empty. */
  get newest(): number | undefined {
    return this.count ? this.newestMs : undefined;
  }

  /** The newest value of each channel, or undefined when empty. */
  latest(): number[] | undefined {
    if (!this.count) return undefined;
    const i = (this.head - 1 + this.capacity) % this.capacity;
    return this.ring.map((col) => col[i]!);
  }

  /**
   * Append one sample. `values[k]` is channel k; a missing or non-finite value
   * is stored as NaN, which uPlot draws as a gap rather than a false zero.
   */
  push(tMs: number, values: ArrayLike<number | undefined>): void {
    if (!Number.isFinite(tMs)) {
      this.dropped++;
      return;
    }
    if (tMs <= this.newestMs) {
      if (tMs < this.newestMs - RESTART_GAP_MS) {
        this.clear();
        this.restarts++;
      } else {
        this.dropped++;
        return;
      }
    }
    const i = this.head;
    this.ringT[i] = tMs;
    for (let k = 0; k < this.channels; k++) {
      const v = values[k];
      this.ring[k]![i] = typeof v === "number" && Number.isFinite(v) ? v : Number.NaN;
    }
    this.head = (i + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    this.newestMs = tMs;
    this.version++;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.newestMs = Number.NEGATIVE_INFINITY;
    this.version++;
  }

  /**
   * The samples inside the window (newest - windowMs, newest], oldest first,
   * as views on reused buffers: valid until the next call.
   */
  columns(): HistoryColumns {
    const start = (this.head - this.count + this.capacity) % this.capacity;
    const cutoff = this.newestMs - this.windowMs;
    // Skip what has aged out of the window; the ring is in time order, so it is a prefix.
    let skip = 0;
    while (skip < this.count && this.ringT[(start + skip) % this.capacity]! <= cutoff) skip++;
    const n = this.count - skip;
    const first = (start + skip) % this.capacity;
    for (let j = 0; j < n; j++) {
      const i = (first + j) % this.capacity;
      this.outT[j] = this.ringT[i]! / 1000;
      for (let k = 0; k < this.channels; k++) this.out[k]![j] = this.ring[k]![i]!;
    }
    return { t: this.outT.subarray(0, n), values: this.out.map((col) => col.subarray(0, n)) };
  }
}
