/**
 * Is a stream right-handed? Port of training/gaitlstm/mounting/handedness.py;
 * the reasoning (why window means of the gyro-integrated specific force, why
 * the instantaneous df/dt = -w x f test fails on a swinging limb, and which
 * channel faults it can and cannot see) is in docs/calibration.md.
 */
import { rodrigues, el, type Vec3 } from "./linalg.js";

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

/** (|mean_k R_k f_k| - g)^2 over samples start..start+n, R integrated from sign * gyro. */
export function windowError(acc: readonly Vec3[], gyro: readonly Vec3[], start: number, n: number, sign: number, dt: number): number {
  let R = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  let mx = 0, my = 0, mz = 0;
  for (let k = start; k < start + n; k++) {
    const [a0, a1, a2] = at(acc, k);
    mx += el(R, 0, 0) * a0 + el(R, 0, 1) * a1 + el(R, 0, 2) * a2;
    my += el(R, 1, 0) * a0 + el(R, 1, 1) * a1 + el(R, 1, 2) * a2;
    mz += el(R, 2, 0) * a0 + el(R, 2, 1) * a1 + el(R, 2, 2) * a2;
    const g = at(gyro, k);
    const E = rodrigues(sign * g[0], sign * g[1], sign * g[2], dt);
    const next = new Array<number>(9);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) next[3 * i + j] = el(R, i, 0) * el(E, 0, j) + el(R, i, 1) * el(E, 1, j) + el(R, i, 2) * el(E, 2, j);
    }
    R = next;
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
