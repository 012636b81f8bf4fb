/**
 * Which segment does a stream look like: thigh (femur) or foot (calcn)? Port of
 * training/gaitlstm/mounting/placement.py (features and thresholds justified in
 * docs/calibration.md). Norms only: no calibration needed, any mounting.
 */
import type { Vec3 } from "./linalg.js";
import { G } from "./handedness.js";

export const GYRO_P99_SPLIT = 6.5;
export const ACC_P99_SPLIT = 17.5;
export const PLACEMENT_UNDECIDED = 0.05;

export interface PlacementFeatures {
  /** rad/s, 99th percentile of |w|. */
  gyroP99: number;
  /** m/s^2, 99th percentile of ||f| - g|. */
  accP99: number;
}

export interface PlacementGuess {
  placement: "femur" | "calcn" | "undecided";
  /** > 0 foot-like, < 0 thigh-like. */
  score: number;
  confidence: number;
  features: PlacementFeatures;
}

/**
 * numpy's default percentile (linear between order statistics). Sorted as a
 * Float64Array (numeric, no comparator calls): the pair check sorts two
 * sensors' 2000-6000 norms at every judgement. NaN sorts last, as in numpy.
 */
export function percentile99(values: ArrayLike<number>): number {
  const s = Float64Array.from(values).sort();
  const pos = 0.99 * (s.length - 1);
  const i = Math.floor(pos);
  const j = Math.min(i + 1, s.length - 1);
  const si = s[i] ?? Number.NaN, sj = s[j] ?? Number.NaN;
  return si + (pos - i) * (sj - si);
}

export function placementFeatures(acc: readonly Vec3[], gyro: readonly Vec3[]): PlacementFeatures {
  const wn = new Float64Array(gyro.length);
  for (let k = 0; k < gyro.length; k++) {
    const g = gyro[k]!;
    wn[k] = Math.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
  }
  const an = new Float64Array(acc.length);
  for (let k = 0; k < acc.length; k++) {
    const a = acc[k]!;
    an[k] = Math.abs(Math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]) - G);
  }
  return { gyroP99: percentile99(wn), accP99: percentile99(an) };
}

export function guessPlacement(acc: readonly Vec3[], gyro: readonly Vec3[]): PlacementGuess {
  const f = placementFeatures(acc, gyro);
  const score = 0.5 * (Math.log(f.gyroP99 / GYRO_P99_SPLIT) + Math.log(f.accP99 / ACC_P99_SPLIT));
  const placement = Math.abs(score) < PLACEMENT_UNDECIDED ? "undecided" : score > 0 ? "calcn" : "femur";
  return { placement, score, confidence: Math.min(1.0, Math.abs(score) / 0.5), features: f };
}

export interface PairCheck {
  /** null: undecided. */
  swapped: boolean | null;
  /** > 0: the stream labelled foot is the more foot-like (as expected). */
  score: number;
  thigh: PlacementFeatures;
  foot: PlacementFeatures;
}

/** Were the thigh and foot sensors of one walk swapped? */
export function checkPair(thighAcc: readonly Vec3[], thighGyro: readonly Vec3[], footAcc: readonly Vec3[], footGyro: readonly Vec3[]): PairCheck {
  const ft = placementFeatures(thighAcc, thighGyro), ff = placementFeatures(footAcc, footGyro);
  const score = 0.5 * (Math.log(ff.gyroP99 / ft.gyroP99) + Math.log(ff.accP99 / ft.accP99));
  return { swapped: Math.abs(score) < PLACEMENT_UNDECIDED ? null : score < 0, score, thigh: ft, foot: ff };
}
