/**
 * Grid samples -> feature rows -> model windows (contract steps 3 to 7).
 *
 * Per grid sample and placement: run that placement's AHRS, take the ZYX
 * Euler angles of q ⊗ q_ref, and store the row
 * `[acc x,y,z, gyro x,y,z, roll, pitch, yaw]` in a ring buffer holding the
 * last `window` rows. After the first `window` samples, and then every
 * `stride` samples, a window is ready: `buildWindow` copies it out with each
 * placement's yaw made relative to the window's first sample.
 *
 * The step from a segment's window 0 to its window 1 may be shorter than
 * `stride` (`setFirstStride`, contract step 7): the runtime staggers the
 * windows of wearers who started together, so their windows are not all due
 * on the same tick (edge/runtime/windowPhase.ts). Later steps are `stride`.
 *
 * The hot path (`push`) allocates nothing; the caller owns the output array.
 */
import { AhrsFilter } from "../fusion/ahrsFilter.js";
import type { PipelineParams } from "../contract/manifest.js";
import { eulerZYX, quatMultiply, wrapAngle } from "./euler.js";
import { GRID_CHANNELS } from "./resampler.js";

/** Columns per placement in a feature row (acc 3, gyro 3, roll, pitch, yaw). */
export const FEATURE_CHANNELS_PER_PLACEMENT = 9;
const YAW = 8;

export type FeatureBuilderOptions = Pick<
  PipelineParams,
  "placements" | "window" | "stride" | "beta" | "dtS" | "references"
>;

export class FeatureBuilder {
  /** Feature columns per row: 9 × placements. */
  readonly width: number;
  private readonly filters: AhrsFilter[];
  private readonly refs: Float64Array[];
  private readonly rows: Float64Array;
  private readonly qTmp = new Float64Array(4);
  /** Grid samples pushed since the last reset. */
  private count = 0;
  /** Samples from window 0's end to window 1's (1..stride); `stride` unless set for this segment. */
  private first: number;

  constructor(private readonly options: FeatureBuilderOptions) {
    const n = options.placements.length;
    if (options.references.length !== n) {
      throw new RangeError(`expected ${n} reference quaternions, got ${options.references.length}`);
    }
    if (options.stride < 1 || options.stride > options.window) {
      throw new RangeError(`stride ${options.stride} must be within 1..window (${options.window})`);
    }
    this.width = FEATURE_CHANNELS_PER_PLACEMENT * n;
    this.filters = options.placements.map(
      () =>
        new AhrsFilter({
          beta: options.beta,
          dtS: options.dtS,
        }),
    );
    this.refs = options.references.map((r) => Float64Array.from(r));
    this.rows = new Float64Array(options.window * this.width);
    this.first = options.stride;
  }

  /**
   * Add one grid sample: `values[placement*6 .. +6)` = acc x,y,z (m/s²), gyro
   * x,y,z (rad/s), as `GridResampler` emits them. Returns `windowReady()`.
   */
  push(values: ArrayLike<number>): boolean {
    const row = (this.count % this.options.window) * this.width;
    const rows = this.rows;
    for (let p = 0; p < this.filters.length; p++) {
      const i = p * GRID_CHANNELS;
      const ax = values[i]!, ay = values[i + 1]!, az = values[i + 2]!;
      const gx = values[i + 3]!, gy = values[i + 4]!, gz = values[i + 5]!;
      const filter = this.filters[p]!;
      filter.update(ax, ay, az, gx, gy, gz);
      const o = row + p * FEATURE_CHANNELS_PER_PLACEMENT;
      rows[o] = ax;
      rows[o + 1] = ay;
      rows[o + 2] = az;
      rows[o + 3] = gx;
      rows[o + 4] = gy;
      rows[o + 5] = gz;
      const q = quatMultiply(filter.q, this.refs[p]!, this.qTmp);
      eulerZYX(q[0]!, q[1]!, q[2]!, q[3]!, rows, o + 6);
    }
    this.count += 1;
    return this.windowReady();
  }

  /**
   * True right after the sample that completes a window: index window-1,
   * then `firstStride` later, then every stride.
   */
  windowReady(): boolean {
    const { window, stride } = this.options;
    if (this.count === window) return true;
    const after = this.count - window - this.first;
    return after >= 0 && after % stride === 0;
  }

  /** Index of the latest complete window (0 for the first); -1 before any. */
  get windowIndex(): number {
    const { window, stride } = this.options;
    if (this.count < window) return -1;
    if (this.count < window + this.first) return 0;
    return 1 + Math.floor((this.count - window - this.first) / stride);
  }

  /**
   * The samples window `i` of this segment has that window `i-1` had not: all
   * `window` for window 0, `firstStride` for window 1, `stride` after. The one
   * rule for what a window publishes (contract step 10) and for the step
   * between window i-1's first row and window i's (heading chaining).
   */
  newSamples(i: number): number {
    if (!Number.isInteger(i) || i < 0) throw new RangeError(`window index ${i} must be a non-negative integer`);
    return i === 0 ? this.options.window : i === 1 ? this.first : this.options.stride;
  }

  /** Samples between this segment's window 0 and window 1 (1..stride). */
  get firstStride(): number {
    return this.first;
  }

  /**
   * Window 1 of this segment ends `n` samples after window 0 (1..stride)
   * instead of `stride`; every later window `stride` after the one before.
   * Only before window 1 is complete: the windows already out stay as they were.
   */
  setFirstStride(n: number): void {
    const { window, stride } = this.options;
    if (!Number.isInteger(n) || n < 1 || n > stride) throw new RangeError(`first stride ${n} must be an integer within 1..stride (${stride})`);
    if (this.count >= window + Math.min(n, this.first)) {
      throw new Error(`window 1 of this segment is already complete (${this.count} samples): its first stride cannot change`);
    }
    this.first = n;
  }

  /** Grid samples pushed since the last reset. */
  get samples(): number {
    return this.count;
  }

  /** Grid index (within the segment) of the first sample of the latest `window` rows. */
  get windowStartIndex(): number {
    return this.count - this.options.window;
  }

  /** NaN-guard resets of all placements' filters. */
  get ahrsResets(): number {
    let n = 0;
    for (const f of this.filters) n += f.resets;
    return n;
  }

  /**
   * Copy the last `window` rows into `out` ([window][width], row-major), each
   * placement's yaw as wrap(yaw_j − yaw_0). Pass a Float64Array to compare
   * with the golden features, a Float32Array for the model.
   */
  buildWindow(out: Float32Array | Float64Array): void {
    const { window } = this.options;
    const width = this.width;
    if (this.count < window) throw new Error(`only ${this.count} of ${window} samples buffered`);
    if (out.length < window * width) throw new RangeError(`output holds ${out.length} values, need ${window * width}`);
    const first = this.count - window; // sample index of the window's row 0
    const firstRow = (first % window) * width;
    const nPlacements = this.filters.length;
    for (let j = 0; j < window; j++) {
      const src = ((first + j) % window) * width;
      const dst = j * width;
      for (let c = 0; c < width; c++) out[dst + c] = this.rows[src + c]!;
      for (let p = 0; p < nPlacements; p++) {
        const c = p * FEATURE_CHANNELS_PER_PLACEMENT + YAW;
        out[dst + c] = wrapAngle(this.rows[src + c]! - this.rows[firstRow + c]!);
      }
    }
  }

  /** Start over (new segment after a re-anchor): filters re-initialise from the next sample. */
  reset(): void {
    for (const f of this.filters) f.reset();
    this.count = 0;
    this.first = this.options.stride;
  }

  /** Heading reset command: display offset only, features unaffected. */
  resetHeading(): void {
    for (const f of this.filters) f.resetHeading();
  }

  /** Current heading per placement (display), radians. */
  headingRad(placementIndex: number): number {
    const f = this.filters[placementIndex];
    if (!f) throw new RangeError(`placement index ${placementIndex} out of range`);
    return f.headingRad();
  }
}
