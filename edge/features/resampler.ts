/**
 * Streaming resampler of every placement's samples onto the model's grid
 * (contract step 2). Offline, training computes the same thing with numpy:
 *
 *   t_start = max(first timestamp of each placement)
 *   t_k     = t_start + k / rate           for every t_k <= min(last timestamps)
 *   value_k = np.interp(t_k, t, values)     per channel, no prefilter
 *
 * Streaming version: samples of all placements arrive interleaved, roughly in
 * time order but with per-link latency (one BLE sensor may deliver in bursts
 * while a serial one is punctual). Each placement therefore keeps a small
 * queue of samples; grid sample k is emitted as soon as EVERY placement has a
 * sample at or after t_k, interpolated between the last sample <= t_k and the
 * next one, with numpy's formula `slope * (t_k - t_j) + y_j` so a feed of the
 * whole offline recording reproduces `np.interp` bit for bit (modulo the µs
 * conversion of timestamps).
 *
 * Timestamps: `ImuSample.tUs` (µs). Internally float64 seconds relative to the
 * first timestamp seen, so hours of device time keep sub-nanosecond precision.
 *
 * Discontinuities (each reported through `onIssue`, never thrown):
 * - a timestamp going backwards, or repeating, for a placement: the sample is
 *   dropped (`backwards` / `duplicate`);
 * - a non-finite value, or one beyond the manifest's `input_limits`: dropped
 *   (`bad_value`);
 * - a jump larger than `maxGapS` between consecutive samples of a placement
 *   (`gap`), or one placement's queue overflowing because another has fallen
 *   behind (`stall`): we do NOT interpolate across it. The grid is re-anchored
 *   exactly as at start-up (t_start = the latest first sample, where the gapped
 *   placement's "first" is the sample after the gap), the segment number
 *   increments, the grid index restarts at 0, and `onReanchor` fires before the
 *   first grid sample of the new segment. The runtime uses it to restart its
 *   windows and AHRS (same state as the start of a training trial) and to mark
 *   the stream degraded.
 */
import { z } from "zod";
import type { Vec3 } from "../sources/types.js";

export const ResamplerConfigSchema = z.object({
  /** Largest tolerated spacing of one placement's samples, s; more is a gap (re-anchor). */
  maxGapS: z.number().positive().default(0.1),
  /** Samples queued per placement while waiting for the others (≈2.5 s at 200 Hz). */
  queueCapacity: z.number().int().min(4).default(512),
});
export type ResamplerConfig = z.infer<typeof ResamplerConfigSchema>;

export interface ResamplerOptions {
  readonly placements: readonly string[];
  readonly sampleRateHz: number;
  readonly config: ResamplerConfig;
  /**
   * manifest.input_limits: the physical range of the sensors the model was
   * trained on. A reading beyond it is corrupt (a bit flip, a wrong unit) and
   * is dropped as `bad_value` rather than interpolated into the features.
   */
  readonly inputLimits?: { readonly accAbsMax: number; readonly gyroAbsMax: number };
}

/** Channels per placement in a grid sample: acc x,y,z then gyro x,y,z. */
export const GRID_CHANNELS = 6;

/**
 * One grid sample. The object and its `values` array are reused for every
 * emission (no allocation per sample): read them inside the callback only.
 */
export interface GridSample {
  /** Increments on every re-anchor; 0 for the first. */
  segment: number;
  /** k, the grid index within the segment (0 at t_start). */
  index: number;
  /** Grid time, µs, on the sources' clock. */
  tUs: number;
  /** [placement][acc x,y,z, gyro x,y,z], placements in the order given. */
  readonly values: Float64Array;
}

export interface ResamplerIssue {
  readonly kind: "backwards" | "duplicate" | "bad_value" | "gap" | "stall" | "clock_restart";
  readonly placement: string;
  readonly message: string;
}

export interface ReanchorEvent {
  readonly reason: "gap" | "stall" | "clock_restart";
  readonly placement: string;
  /** The segment that starts now. */
  readonly segment: number;
}

export interface ResamplerHandlers {
  onGridSample(sample: GridSample): void;
  onIssue(issue: ResamplerIssue): void;
  onReanchor?(event: ReanchorEvent): void;
}

export interface ResamplerStats {
  readonly gridSamples: number;
  readonly dropped: Readonly<Record<"backwards" | "duplicate" | "bad_value", number>>;
  readonly gaps: number;
  readonly stalls: number;
  readonly clockRestarts: number;
  readonly segment: number;
}

/** Fixed-capacity FIFO of one placement's samples (time + 6 channels), no allocation once built. */
class SampleQueue {
  readonly t: Float64Array;
  readonly v: Float64Array;
  head = 0;
  count = 0;
  /** Time of the latest accepted sample, even after the queue was cleared; NaN before any. */
  lastT = Number.NaN;

  constructor(readonly capacity: number) {
    this.t = new Float64Array(capacity);
    this.v = new Float64Array(capacity * GRID_CHANNELS);
  }

  slot(i: number): number {
    return (this.head + i) % this.capacity;
  }

  timeAt(i: number): number {
    return this.t[this.slot(i)]!;
  }

  get lastQueuedT(): number {
    return this.count ? this.timeAt(this.count - 1) : Number.NaN;
  }

  push(t: number, acc: Vec3, gyro: Vec3): void {
    if (this.count === this.capacity) this.dropFront();
    const s = this.slot(this.count);
    this.t[s] = t;
    const o = s * GRID_CHANNELS;
    this.v[o] = acc[0];
    this.v[o + 1] = acc[1];
    this.v[o + 2] = acc[2];
    this.v[o + 3] = gyro[0];
    this.v[o + 4] = gyro[1];
    this.v[o + 5] = gyro[2];
    this.count += 1;
    this.lastT = t;
  }

  dropFront(): void {
    this.head = (this.head + 1) % this.capacity;
    this.count -= 1;
  }

  /** Keep only the newest `n` samples. */
  keepLast(n: number): void {
    while (this.count > n) this.dropFront();
  }
}

export class GridResampler {
  private readonly queues: SampleQueue[];
  private readonly rate: number;
  private readonly frame: GridSample;
  private epochUs = Number.NaN;
  private anchored = false;
  private tStart = 0;
  private k = 0;
  private segment = -1;
  private gridSamples = 0;
  private readonly dropped = { backwards: 0, duplicate: 0, bad_value: 0 };
  private gaps = 0;
  private stalls = 0;
  private clockRestarts = 0;
  /** Why the grid was last un-anchored, reported once it anchors again. */
  private pendingReanchor: { reason: "gap" | "stall" | "clock_restart"; placement: string } | undefined;

  constructor(
    private readonly options: ResamplerOptions,
    private readonly handlers: ResamplerHandlers,
  ) {
    this.rate = options.sampleRateHz;
    this.queues = options.placements.map(() => new SampleQueue(options.config.queueCapacity));
    this.frame = {
      segment: 0,
      index: 0,
      tUs: 0,
      values: new Float64Array(options.placements.length * GRID_CHANNELS),
    };
  }

  /**
   * Feed one sample of the placement at `placementIndex` (index into `options.placements`).
   * Returns whether the sample was accepted (false: dropped and reported), so the
   * caller can judge a sensor's freshness by usable samples only.
   */
  push(placementIndex: number, tUs: number, acc: Vec3, gyro: Vec3): boolean {
    const q = this.queues[placementIndex];
    if (!q) throw new RangeError(`placement index ${placementIndex} out of range`);
    const placement = this.options.placements[placementIndex]!;
    if (
      !Number.isFinite(tUs) ||
      !Number.isFinite(acc[0]) || !Number.isFinite(acc[1]) || !Number.isFinite(acc[2]) ||
      !Number.isFinite(gyro[0]) || !Number.isFinite(gyro[1]) || !Number.isFinite(gyro[2])
    ) {
      this.drop("bad_value", placement, `non-finite time or value at t=${tUs} µs`);
      return false;
    }
    const limits = this.options.inputLimits;
    if (limits) {
      const accMax = Math.max(Math.abs(acc[0]), Math.abs(acc[1]), Math.abs(acc[2]));
      const gyroMax = Math.max(Math.abs(gyro[0]), Math.abs(gyro[1]), Math.abs(gyro[2]));
      if (accMax > limits.accAbsMax || gyroMax > limits.gyroAbsMax) {
        this.drop(
          "bad_value",
          placement,
          `|acc| ${accMax.toFixed(1)} m/s² or |gyro| ${gyroMax.toFixed(1)} rad/s beyond the model's input limits ` +
            `(${limits.accAbsMax.toFixed(1)} m/s², ${limits.gyroAbsMax.toFixed(1)} rad/s) at t=${tUs} µs; sample dropped`,
        );
        return false;
      }
    }
    if (Number.isNaN(this.epochUs)) this.epochUs = tUs;
    const t = (tUs - this.epochUs) / 1e6;

    let gapped = false;
    if (!Number.isNaN(q.lastT)) {
      if (q.lastT - t > this.options.config.maxGapS) {
        // Far back, not jitter: the sensor (or its board) restarted its clock. Every
        // placement starts over on the new clock, as at start-up.
        this.clockRestarts += 1;
        this.handlers.onIssue({
          kind: "clock_restart",
          placement,
          message: `timestamp jumped back ${(q.lastT - t).toFixed(3)} s: sensor clock restarted; grid re-anchored`,
        });
        for (const other of this.queues) {
          other.keepLast(0);
          other.lastT = Number.NaN;
        }
        this.epochUs = tUs;
        this.anchored = false;
        this.pendingReanchor = { reason: "clock_restart", placement };
        q.push(0, acc, gyro);
        this.tryAnchor();
        return true;
      }
      if (t < q.lastT) {
        this.drop("backwards", placement, `timestamp went back ${((q.lastT - t) * 1e3).toFixed(3)} ms; sample dropped`);
        return false;
      }
      if (t === q.lastT) {
        this.drop("duplicate", placement, `repeated timestamp ${tUs} µs; sample dropped`);
        return false;
      }
      const spacing = t - q.lastT;
      if (spacing > this.options.config.maxGapS) {
        this.gaps += 1;
        this.handlers.onIssue({
          kind: "gap",
          placement,
          message: `${(spacing * 1e3).toFixed(1)} ms without samples (max ${this.options.config.maxGapS * 1e3} ms); grid re-anchored`,
        });
        q.keepLast(0);
        gapped = true;
      }
    }

    if (q.count === q.capacity && this.anchored) {
      this.handleStall(placementIndex);
    }
    q.push(t, acc, gyro);

    if (gapped) this.anchored = false;
    if (!this.anchored) this.tryAnchor(gapped ? { reason: "gap", placement } : undefined);
    if (this.anchored) this.emitReady();
    return true;
  }

  /**
   * End of a finite stream (replay): emit the grid samples numpy's grid still
   * includes, i.e. up to `min(last timestamps)` with the training side's 1e-9
   * tolerance, holding the last value for a t_k a rounding error past it.
   */
  finish(): void {
    if (!this.anchored) return;
    let minLast = Number.POSITIVE_INFINITY;
    for (const q of this.queues) minLast = Math.min(minLast, q.lastQueuedT);
    const n = Math.floor((minLast - this.tStart) * this.rate + 1e-9) + 1;
    while (this.k < n) this.emit(this.tStart + this.k / this.rate);
  }

  /** Forget everything (new session); counters are kept. */
  reset(): void {
    for (const q of this.queues) {
      q.keepLast(0);
      q.lastT = Number.NaN;
    }
    this.epochUs = Number.NaN;
    this.anchored = false;
    this.pendingReanchor = undefined;
  }

  stats(): ResamplerStats {
    return {
      gridSamples: this.gridSamples,
      dropped: { ...this.dropped },
      gaps: this.gaps,
      stalls: this.stalls,
      clockRestarts: this.clockRestarts,
      segment: this.segment,
    };
  }

  private drop(kind: "backwards" | "duplicate" | "bad_value", placement: string, message: string): void {
    this.dropped[kind] += 1;
    this.handlers.onIssue({ kind, placement, message });
  }

  /** A full queue while anchored: some other placement is not keeping up. */
  private handleStall(fullIndex: number): void {
    const tk = this.tStart + this.k / this.rate;
    const lagging = this.queues
      .map((q, i) => ({ q, i }))
      .filter(({ q }) => !(q.count > 0 && q.lastQueuedT >= tk));
    const names = lagging.map(({ i }) => this.options.placements[i]!).join(", ") || "none";
    this.stalls += 1;
    const placement = this.options.placements[fullIndex]!;
    this.handlers.onIssue({
      kind: "stall",
      placement,
      message: `${placement} queued ${this.queues[fullIndex]!.capacity} samples waiting for ${names}; grid re-anchored`,
    });
    // The laggards keep their newest sample only: it can still bracket their next one.
    // The others keep their newer half, so the new grid starts where they still have
    // data and a continued stall is reported again only every capacity/2 samples.
    const laggards = new Set(lagging.map(({ i }) => i));
    this.queues.forEach((q, i) => q.keepLast(laggards.has(i) ? 1 : Math.floor(q.capacity / 2)));
    this.anchored = false;
    this.pendingReanchor = { reason: "stall", placement };
  }

  private tryAnchor(cause?: { reason: "gap" | "stall" | "clock_restart"; placement: string }): void {
    let tStart = Number.NEGATIVE_INFINITY;
    for (const q of this.queues) {
      if (q.count === 0) return;
      tStart = Math.max(tStart, q.timeAt(0));
    }
    this.tStart = tStart;
    this.k = 0;
    this.anchored = true;
    this.segment += 1;
    const why = cause ?? this.pendingReanchor;
    this.pendingReanchor = undefined;
    if (why && this.segment > 0) this.handlers.onReanchor?.({ ...why, segment: this.segment });
  }

  private emitReady(): void {
    for (;;) {
      const tk = this.tStart + this.k / this.rate;
      for (const q of this.queues) {
        if (q.lastQueuedT < tk) return;
      }
      this.emit(tk);
    }
  }

  /** Interpolate every placement at tk (np.interp) and hand the grid sample out. */
  private emit(tk: number): void {
    const values = this.frame.values;
    for (let p = 0; p < this.queues.length; p++) {
      const q = this.queues[p]!;
      // Advance to the last sample at or before tk; it stays queued for the next grid time.
      while (q.count >= 2 && q.timeAt(1) <= tk) q.dropFront();
      const s0 = q.slot(0);
      const o = p * GRID_CHANNELS;
      const t0 = q.t[s0]!;
      // Exactly on a sample, or (finish() only) a rounding error past the last one:
      // numpy returns the sample itself.
      if (q.count === 1 || t0 === tk) {
        for (let c = 0; c < GRID_CHANNELS; c++) values[o + c] = q.v[s0 * GRID_CHANNELS + c]!;
        continue;
      }
      const s1 = q.slot(1);
      const t1 = q.t[s1]!;
      const dt = tk - t0;
      for (let c = 0; c < GRID_CHANNELS; c++) {
        const y0 = q.v[s0 * GRID_CHANNELS + c]!;
        const y1 = q.v[s1 * GRID_CHANNELS + c]!;
        values[o + c] = ((y1 - y0) / (t1 - t0)) * dt + y0;
      }
    }
    this.frame.segment = this.segment;
    this.frame.index = this.k;
    this.frame.tUs = this.epochUs + tk * 1e6;
    this.k += 1;
    this.gridSamples += 1;
    this.handlers.onGridSample(this.frame);
  }
}
