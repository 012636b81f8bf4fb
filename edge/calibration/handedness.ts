/**
 * Is a stream right-handed? Port of training/gaitlstm/mounting/handedness.py;
 * the reasoning (why window means of the gyro-integrated specific force, why
 * the instantaneous df/dt = -w x f test fails on a swinging limb, and which
 * channel faults it can and cannot see) is in docs/calibration.md.
 */
import { rodriguesInto, type Vec3 } from "./linalg.js";

export const G = 9.80665;
export const HANDEDNESS_WINDOW = 400;
export const HANDEDNESS_HOP = 200;
export const HANDEDNESS_DECIDE = 0.2;
export const HANDEDNESS_MIN_RATE = 0.3;

export type HandednessDecision = "right" | "mirrored" | "undecided";

export interface Handedness {
  /** (D- - D+) / (D- + D+) in [-1, 1]: > 0 right-handed, < 0 mirrored. */
  score: number;
  decision: HandednessDecision;
  /** Why undecided ("too_short" | "too_still" | "weak"), else "". */
  reason: string;
  windows: number;
}

const at = (s: readonly Vec3[], k: number): Vec3 => s[k] ?? [Number.NaN, Number.NaN, Number.NaN];

/**
 * (|mean_k R_k f_k| - g)^2 over samples start..start+n, R integrated from sign * gyro.
 *
 * R is kept in scalars and each step's exp([w dt]x) written into one
 * scratch (linalg.rodriguesInto): this loop runs 2 x 400 samples per window at every judgement of
 * every sensor, most of a calibration's time, and a new 3x3 per sample was
 * most of that (the same sums, in the same order, as the matrix form).
 */
export function windowError(acc: readonly Vec3[], gyro: readonly Vec3[], start: number, n: number, sign: number, dt: number): number {
  let r00 = 1, r01 = 0, r02 = 0, r10 = 0, r11 = 1, r12 = 0, r20 = 0, r21 = 0, r22 = 1;
  let mx = 0, my = 0, mz = 0;
  const step = new Float64Array(9);
  for (let k = start; k < start + n; k++) {
    const a = at(acc, k);
    const a0 = a[0], a1 = a[1], a2 = a[2];
    mx += r00 * a0 + r01 * a1 + r02 * a2;
    my += r10 * a0 + r11 * a1 + r12 * a2;
    mz += r20 * a0 + r21 * a1 + r22 * a2;
    const g = at(gyro, k);
    const E = rodriguesInto(sign * g[0], sign * g[1], sign * g[2], dt, step);
    const e00 = E[0]!, e01 = E[1]!, e02 = E[2]!, e10 = E[3]!, e11 = E[4]!, e12 = E[5]!, e20 = E[6]!, e21 = E[7]!, e22 = E[8]!;
    const n00 = r00 * e00 + r01 * e10 + r02 * e20, n01 = r00 * e01 + r01 * e11 + r02 * e21, n02 = r00 * e02 + r01 * e12 + r02 * e22;
    const n10 = r10 * e00 + r11 * e10 + r12 * e20, n11 = r10 * e01 + r11 * e11 + r12 * e21, n12 = r10 * e02 + r11 * e12 + r12 * e22;
    const n20 = r20 * e00 + r21 * e10 + r22 * e20, n21 = r20 * e01 + r21 * e11 + r22 * e21, n22 = r20 * e02 + r21 * e12 + r22 * e22;
    r00 = n00; r01 = n01; r02 = n02;
    r10 = n10; r11 = n11; r12 = n12;
    r20 = n20; r21 = n21; r22 = n22;
  }
  mx /= n;
  my /= n;
  mz /= n;
  const e = Math.sqrt(mx * mx + my * my + mz * mz) - G;
  return e * e;
}

export function handedness(acc: readonly Vec3[], gyro: readonly Vec3[], rateHz = 100): Handedness {
  const n = acc.length;
  const dt = 1.0 / rateHz;
  const starts: number[] = [];
  for (let s = 0; s <= n - HANDEDNESS_WINDOW; s += HANDEDNESS_HOP) starts.push(s);
  if (starts.length === 0) return { score: 0, decision: "undecided", reason: "too_short", windows: 0 };
  let rateSum = 0;
  for (const g of gyro) rateSum += Math.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
  const meanRate = rateSum / n;
  let dp = 0, dm = 0;
  for (const s of starts) {
    dp += windowError(acc, gyro, s, HANDEDNESS_WINDOW, 1.0, dt);
    dm += windowError(acc, gyro, s, HANDEDNESS_WINDOW, -1.0, dt);
  }
  const score = dm + dp > 0 ? (dm - dp) / (dm + dp) : 0;
  const windows = starts.length;
  if (meanRate < HANDEDNESS_MIN_RATE) return { score, decision: "undecided", reason: "too_still", windows };
  if (Math.abs(score) < HANDEDNESS_DECIDE) return { score, decision: "undecided", reason: "weak", windows };
  return { score, decision: score > 0 ? "right" : "mirrored", reason: "", windows };
}

/**
 * Undo a Z label flipped on BOTH channels (a mirrored stream): flip it back on
 * both. A negated gyro, the other fault the test flags, differs from this fix by
 * the consistent mirror no one-stream test can see (docs/calibration.md).
 */
export function toRightHanded(acc: readonly Vec3[], gyro: readonly Vec3[]): { acc: Vec3[]; gyro: Vec3[] } {
  return {
    acc: acc.map((a): Vec3 => [a[0] * 1.0, a[1] * 1.0, a[2] * -1.0]),
    gyro: gyro.map((g): Vec3 => [g[0] * 1.0, g[1] * 1.0, g[2] * -1.0]),
  };
}
