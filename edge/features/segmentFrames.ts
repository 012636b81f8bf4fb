/**
 * Contract step 2b of `gait-features/2` (docs/contract.md): every
 * placement's acc and gyro, on the grid, rotated from the sensor frame into
 * its segment frame, `v_segment = C · v_sensor` (C's rows are the segment's
 * x, y, z in sensor coordinates), before the AHRS.
 *
 * The runtime learns C while it runs (the mounting module calibrates from
 * walking, or loads calibration.file), so this step also decides WHEN the
 * model may see features:
 *
 *   - a placement without a rotation (still calibrating, refused, swapped,
 *     stopped fitting and not yet recalibrated): `withheld`, no features at all:
 *     a model trained on segment frames fed sensor axes gives plausible
 *     garbage (AB06 re-expressed in random frames: 2.5 -> 14 deg RMSE);
 *   - a rotation that changed since the last sample (a first calibration, a
 *     recalibration after a re-strap): `changed`, so the caller restarts the
 *     AHRS and the windows (no window mixes two frames; the AHRS starts from
 *     the accelerometer in the new frame, as at the start of a training trial).
 *
 * Rotations are compared by identity: the mounting module makes a new matrix
 * for every calibration and keeps the same one otherwise.
 * Pure apart from its own scratch buffer; nothing allocated per sample.
 */
import type { Mat3 } from "../calibration/linalg.js";
import { GRID_CHANNELS } from "./resampler.js";

export type FrameStep =
  | { readonly kind: "rotated"; readonly changed: boolean }
  /** `placement`: index of the first placement without a rotation. */
  | { readonly kind: "withheld"; readonly placement: number };

// The two outcomes of a rotated step, made once: `apply` runs for every grid sample.
const ROTATED: FrameStep = { kind: "rotated", changed: false };
const ROTATED_NEW_FRAME: FrameStep = { kind: "rotated", changed: true };

export class SegmentFrames {
  /** The rotated grid sample of the last `rotated` step ([placement][acc, gyro]); reused. */
  readonly out: Float64Array;
  private readonly current: (Mat3 | undefined)[];

  constructor(readonly placements: number) {
    this.out = new Float64Array(placements * GRID_CHANNELS);
    this.current = new Array<Mat3 | undefined>(placements).fill(undefined);
  }

  /**
   * Rotate one grid sample (`values`, as the resampler emits it) with
   * `rotation(i)` per placement i. Withheld as soon as one placement has none.
   */
  apply(values: ArrayLike<number>, rotation: (placement: number) => Mat3 | undefined): FrameStep {
    let changed = false;
    for (let p = 0; p < this.placements; p++) {
      const C = rotation(p);
      if (C === undefined) {
        this.current.fill(undefined); // the next rotated sample starts a new frame for every placement
        return { kind: "withheld", placement: p };
      }
      if (C !== this.current[p]) {
        this.current[p] = C;
        changed = true;
      }
      const o = p * GRID_CHANNELS;
      rotate3(C, values, o, this.out);
      rotate3(C, values, o + 3, this.out);
    }
    return changed ? ROTATED_NEW_FRAME : ROTATED;
  }
}

/** out[o..o+3) = C · v[o..o+3). */
function rotate3(C: Mat3, v: ArrayLike<number>, o: number, out: Float64Array): void {
  const x = v[o]!, y = v[o + 1]!, z = v[o + 2]!;
  const r0 = C[0], r1 = C[1], r2 = C[2]; // indexed, not destructured: no iterator on the per-sample path
  out[o] = r0[0] * x + r0[1] * y + r0[2] * z;
  out[o + 1] = r1[0] * x + r1[1] * y + r1[2] * z;
  out[o + 2] = r2[0] * x + r2[1] * y + r2[2] * z;
}
