/**
 * Sensor-to-segment calibration from ordinary walking: port of
 * training/gaitlstm/mounting/calibrate.py, step for step (docs/calibration.md
 * gives the order of operations, every constant and every refusal).
 *
 * Segment frame (OpenSim body frames): x anterior, y up along the segment, z to
 * the right. C's rows are the segment axes in sensor coordinates:
 * v_segment = C v_sensor.
 */
import { handedness, G, type Handedness } from "./handedness.js";
import {
  axisAngleDeg, cross, dot, jacobiEigenSym3, normalize, quatFromMatrix, rotationAngleDeg, type Mat3, type Quat, type Vec3,
} from "./linalg.js";

/** The algorithm this file implements (docs/calibration.md); a v2 manifest's `calibration.algorithm` names the one it was trained with. */
export const CALIBRATION_ALGORITHM = "gait-calibration/2";
export const STILL_GYRO = 0.2;
export const STILL_ACC = 0.4;
export const STAND_S = 1.0;
export const NO_MOTION_GYRO = 0.05;
export const MIN_WALK_S = 8.0;
export const MIN_STRIDES = 6;
export const STRIDE_MIN_S = 0.7;
export const STRIDE_MAX_S = 2.0;
export const MIN_PERIODICITY = 0.1;
export const MIN_PLANARITY = 0.7;
export const SIGN_LAG_S = 0.2;
export const MIN_SIGN_MARGIN = 0.05;
/** |thigh-foot lead-lag correlation| below this: the sign is uncertain jointly too (AB06, simulated: >= 0.57). Since gait-calibration/2. */
export const MIN_JOINT_MARGIN = 0.3;
export const RESTRAP_DEG = 10.0;

export const REFUSALS = ["too_short", "no_motion", "standing_only", "no_gait", "mirrored", "not_planar", "sign_uncertain"] as const;
export type Refusal = (typeof REFUSALS)[number];

export interface Calibration {
  ok: boolean;
  reason: Refusal | "";
  C: Mat3 | null;
  quat: Quat | null;
  planarity: number;
  signMargin: number;
  strides: number;
  seconds: number;
  strideS: number;
  periodicity: number;
  handedness: Handedness | null;
  standS: number;
  agreementDeg: number | null;
  /**
   * Who decided z's sign: "own" (the time asymmetry), "joint" (the lead-lag correlation with the
   * foot of the same leg, when the own margin is below MIN_SIGN_MARGIN), "" (not reached).
   */
  signSource: "own" | "joint" | "";
  /** The lead-lag correlation with the foot on the chosen z (>= 0 when it decided); null without a sign partner. */
  jointMargin: number | null;
}

export interface CalibrateOptions {
  rateHz?: number;
  /** A previous calibration: agreementDeg is the rotation between it and the new one. */
  previous?: Mat3;
  /** "walking" (default, what training uses): mean specific force over whole strides; "stand": the longest still stand. */
  vertical?: "walking" | "stand";
  /** false skips the handedness step (the slow one; remounting does not change its score). Default true. */
  checkHandedness?: boolean;
  /**
   * Thighs only: the sagittal rate (C_foot · gyro_foot)_z of the CALIBRATED foot of the same
   * leg, on the same samples as acc/gyro. Then jointMargin is reported, and it decides z's
   * sign when the thigh's own margin is below MIN_SIGN_MARGIN.
   */
  signPartner?: readonly number[];
}

const at = (s: readonly Vec3[], k: number): Vec3 => s[k] ?? [Number.NaN, Number.NaN, Number.NaN];
const norm3 = (v: Vec3): number => Math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);

/**
 * The still rule, one sample: |w| < STILL_GYRO and ||f| - g| < STILL_ACC. Scalars, so the
 * per-sample callers (the mounting module, the re-strap watch) allocate nothing; NaN is not still.
 */
export function isStill(ax: number, ay: number, az: number, gx: number, gy: number, gz: number): boolean {
  return Math.sqrt(gx * gx + gy * gy + gz * gz) < STILL_GYRO && Math.abs(Math.sqrt(ax * ax + ay * ay + az * az) - G) < STILL_ACC;
}

export function stillMask(acc: readonly Vec3[], gyro: readonly Vec3[]): boolean[] {
  return acc.map((a, k) => {
    const w = at(gyro, k);
    return isStill(a[0], a[1], a[2], w[0], w[1], w[2]);
  });
}

/** [start, end) of every run of true. */
export function runs(mask: readonly boolean[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = -1;
  mask.forEach((m, i) => {
    if (m && start < 0) start = i;
    else if (!m && start >= 0) {
      out.push([start, i]);
      start = -1;
    }
  });
  if (start >= 0) out.push([start, mask.length]);
  return out;
}

export function stands(acc: readonly Vec3[], gyro: readonly Vec3[], rateHz: number): Array<[number, number]> {
  const need = Math.round(STAND_S * rateHz);
  return runs(stillMask(acc, gyro)).filter(([a, b]) => b - a >= need);
}

/** The first longest run (Python's max keeps the first of equals). */
function longest(rs: ReadonlyArray<readonly [number, number]>): [number, number] {
  let best: [number, number] = [0, 0];
  let found = false;
  for (const [a, b] of rs) {
    if (!found || b - a > best[1] - best[0]) {
      best = [a, b];
      found = true;
    }
  }
  return best;
}

/** (lag in samples, normalised autocorrelation) of |w| - mean over STRIDE_MIN_S..STRIDE_MAX_S. */
export function stridePeriod(gyro: readonly Vec3[], rateHz: number): { lag: number; r: number } {
  // Typed: the lag loop below is O(samples x lags), the costliest step of a calibration after handedness.
  const n = gyro.length;
  const x = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) sum += (x[k] = norm3(gyro[k]!));
  const mean = sum / n;
  let r0 = 0;
  for (let k = 0; k < n; k++) {
    const v = (x[k]! -= mean);
    r0 += v * v;
  }
  const lo = Math.round(STRIDE_MIN_S * rateHz), hi = Math.min(Math.round(STRIDE_MAX_S * rateHz), n - 1);
  let best = lo, bestR = -Infinity;
  for (let L = lo; L <= hi; L++) {
    let s = 0;
    for (let k = 0; k + L < n; k++) s += x[k]! * x[k + L]!;
    const r = r0 > 0 ? s / r0 : 0;
    if (r > bestR) {
      best = L;
      bestR = r;
    }
  }
  return { lag: best, r: bestR };
}

/** (E[w_t^2 w_{t+L}] - E[w_t w_{t+L}^2]) / E[w^2]^1.5: odd in w and in time (the sign rule). */
export function timeAsymmetry(w: readonly number[], lag: number): number {
  let m2 = 0;
  for (const v of w) m2 += v * v;
  m2 /= w.length;
  let s1 = 0, s2 = 0;
  const n = w.length - lag;
  for (let k = 0; k < n; k++) {
    const a = w[k] ?? 0, b = w[k + lag] ?? 0;
    s1 += a * a * b;
    s2 += a * b * b;
  }
  return m2 > 0 ? (s1 - s2) / n / m2 ** 1.5 : 0;
}

/**
 * E[w_thigh,t · w_foot,t+L] / sqrt(E[w_thigh²] E[w_foot²]): the joint sign statistic. In walking
 * the foot's swing rotation follows the thigh's hip flexion by about 0.2 s, so with both z's
 * right it is positive; flipping the thigh's z negates it (docs/calibration.md).
 */
export function leadLagCorrelation(wThigh: readonly number[], wFoot: readonly number[], lag: number): number {
  let et = 0, ef = 0;
  for (const v of wThigh) et += v * v;
  for (const v of wFoot) ef += v * v;
  et /= wThigh.length;
  ef /= wFoot.length;
  let s = 0;
  const n = wThigh.length - lag;
  for (let k = 0; k < n; k++) s += (wThigh[k] ?? 0) * (wFoot[k + lag] ?? 0);
  return et > 0 && ef > 0 ? s / n / Math.sqrt(et * ef) : 0;
}

/** A result with every quality figure at its "not computed" value, overridden by `part`. */
function result(part: Partial<Calibration>): Calibration {
  return {
    ok: false, reason: "", C: null, quat: null, planarity: 0, signMargin: 0, strides: 0, seconds: 0, strideS: 0, periodicity: 0,
    handedness: null, standS: 0, agreementDeg: null, signSource: "", jointMargin: null, ...part,
  };
}

function refuse(reason: Refusal, part: Partial<Calibration> = {}): Calibration {
  return result({ ...part, ok: false, reason });
}

function sumRows(s: readonly Vec3[], from: number, to: number): Vec3 {
  let x = 0, y = 0, z = 0;
  for (let k = from; k < to; k++) {
    const v = at(s, k);
    x += v[0];
    y += v[1];
    z += v[2];
  }
  return [x, y, z];
}

/** Calibrate one sensor from 8-30 s of walking on the grid (acc m/s^2, gyro rad/s). */
export function calibrate(acc: readonly Vec3[], gyro: readonly Vec3[], options: CalibrateOptions = {}): Calibration {
  const rateHz = options.rateHz ?? 100;
  const vertical = options.vertical ?? "walking";
  const n = acc.length;
  const partner = options.signPartner;
  if (partner !== undefined && partner.length !== n) {
    throw new Error(`signPartner: expected the foot's sagittal rate on the same ${n} samples, got ${partner.length}`);
  }
  const found = stands(acc, gyro, rateHz);
  const standS = found.reduce((m, [a, b]) => Math.max(m, b - a), 0) / rateHz;
  const win = Math.round(rateHz);
  let maxRms = n === 0 ? 0 : -Infinity;
  for (let s = 0; s < Math.max(n - win + 1, 1); s += win) {
    const end = Math.min(s + win, n);
    let e = 0;
    for (let k = s; k < end; k++) {
      const g = at(gyro, k);
      e += g[0] * g[0] + g[1] * g[1] + g[2] * g[2];
    }
    maxRms = Math.max(maxRms, Math.sqrt(e / (end - s)));
  }
  if (n === 0 || maxRms < NO_MOTION_GYRO) return refuse("no_motion", { standS });
  const inStand = new Array<boolean>(n).fill(false);
  for (const [a, b] of found) inStand.fill(true, a, b);
  const [w0, w1] = longest(runs(inStand.map((v) => !v)));
  if (w1 - w0 < MIN_WALK_S * rateHz) {
    const stillShare = inStand.filter((v) => v).length / n;
    return refuse(stillShare >= 0.5 ? "standing_only" : "too_short", { standS, seconds: (w1 - w0) / rateHz });
  }
  const wa = acc.slice(w0, w1), wg = gyro.slice(w0, w1);
  const { lag, r: periodicity } = stridePeriod(wg, rateHz);
  if (periodicity < MIN_PERIODICITY) return refuse("no_gait", { standS, periodicity, seconds: (w1 - w0) / rateHz });
  const strides = Math.floor((w1 - w0) / lag);
  if (strides < MIN_STRIDES) return refuse("too_short", { standS, periodicity, strides, strideS: lag / rateHz });
  const used = strides * lag;
  const ua = wa.slice(0, used), ug = wg.slice(0, used);
  const common: Partial<Calibration> = { standS, periodicity, strides, strideS: lag / rateHz, seconds: used / rateHz };

  const hand = options.checkHandedness === false ? null : handedness(ua, ug, rateHz);
  common.handedness = hand;
  if (hand !== null && hand.decision === "mirrored") return refuse("mirrored", common);

  let y: Vec3;
  if (vertical === "stand" && found.length > 0) {
    const [a, b] = longest(found);
    y = normalize(sumRows(acc, a, b));
  } else {
    y = normalize(sumRows(ua, 0, ua.length));
  }

  // Flexion axis: principal axis of the gyro without its vertical part (turns are vertical rates).
  const wh: Vec3[] = ug.map((g) => {
    const p = dot(g, y);
    return [g[0] - p * y[0], g[1] - p * y[1], g[2] - p * y[2]];
  });
  // Second moment of the horizontal rate (the same sums as numpy's wh.T @ wh).
  let s00 = 0, s01 = 0, s02 = 0, s11 = 0, s12 = 0, s22 = 0;
  for (const v of wh) {
    s00 += v[0] * v[0];
    s01 += v[0] * v[1];
    s02 += v[0] * v[2];
    s11 += v[1] * v[1];
    s12 += v[1] * v[2];
    s22 += v[2] * v[2];
  }
  const Sm: Mat3 = [[s00, s01, s02], [s01, s11, s12], [s02, s12, s22]];
  const { vectors } = jacobiEigenSym3(Sm);
  const e: Vec3 = [vectors[0][0], vectors[1][0], vectors[2][0]];
  const ey = dot(e, y);
  let z = normalize([e[0] - ey * y[0], e[1] - ey * y[1], e[2] - ey * y[2]]);
  const wz = ug.map((g) => dot(g, z));
  let onZ = 0, horizontal = 0;
  for (const v of wz) onZ += v * v;
  for (const v of wh) horizontal += v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
  const planarity = onZ / horizontal;
  common.planarity = planarity;
  if (planarity < MIN_PLANARITY) return refuse("not_planar", common);
  const lagS = Math.round(SIGN_LAG_S * rateHz);
  let asym = timeAsymmetry(wz, lagS);
  let flip = asym < 0;
  if (flip) asym = -asym;
  let source: "own" | "joint" = "own";
  let joint: number | null = null;
  if (partner !== undefined) {
    const sign = flip ? -1 : 1;
    joint = leadLagCorrelation(wz.map((v) => sign * v), partner.slice(w0, w0 + used), lagS);
    if (asym < MIN_SIGN_MARGIN) {
      // The thigh cannot tell forward from backward alone: its foot decides.
      source = "joint";
      if (joint < 0) {
        flip = !flip;
        asym = -asym;
        joint = -joint;
      }
    }
  }
  if (flip) z = [-z[0], -z[1], -z[2]];
  common.signMargin = asym;
  common.signSource = source;
  common.jointMargin = joint;
  if (asym < MIN_SIGN_MARGIN && (source === "own" || (joint ?? 0) < MIN_JOINT_MARGIN)) return refuse("sign_uncertain", common);
  const x = cross(y, z);
  const C: Mat3 = [x, y, z];
  return result({
    ...common,
    ok: true,
    C,
    quat: quatFromMatrix(C),
    agreementDeg: options.previous ? rotationAngleDeg(C, options.previous) : null,
  });
}

export interface Fit {
  decision: "fits" | "stopped_fitting" | "undecided";
  angleDeg: number | null;
  verticalDeg: number | null;
  flexionDeg: number | null;
  /** The new stretch's refusal when undecided. */
  reason: string;
  /** The new stretch's own calibration (null when undecided): a caller re-anchoring on it need not calibrate again. */
  C: Mat3 | null;
}

/** Does a new stretch of walking still fit calibration C? ("stopped_fitting": recalibrate.) `signPartner`: as in calibrate. */
export function stillFits(
  C: Mat3, acc: readonly Vec3[], gyro: readonly Vec3[], rateHz = 100, thresholdDeg = RESTRAP_DEG, signPartner?: readonly number[],
): Fit {
  const fresh = calibrate(acc, gyro, { rateHz, ...(signPartner !== undefined ? { signPartner } : {}) });
  if (!fresh.ok || fresh.C === null) return { decision: "undecided", angleDeg: null, verticalDeg: null, flexionDeg: null, reason: fresh.reason, C: null };
  const angle = rotationAngleDeg(fresh.C, C);
  return {
    decision: angle <= thresholdDeg ? "fits" : "stopped_fitting",
    angleDeg: angle,
    verticalDeg: axisAngleDeg(fresh.C[1], C[1]),
    flexionDeg: axisAngleDeg(fresh.C[2], C[2]),
    reason: "",
    C: fresh.C,
  };
}

/** The same motion read by a sensor turned by Q (v_new = Q v_old): a stream calibrated to C becomes one calibrated to C Q^T. */
export function remount(acc: readonly Vec3[], gyro: readonly Vec3[], Q: Mat3): { acc: Vec3[]; gyro: Vec3[] } {
  const turn = (v: Vec3): Vec3 => [
    Q[0][0] * v[0] + Q[0][1] * v[1] + Q[0][2] * v[2],
    Q[1][0] * v[0] + Q[1][1] * v[1] + Q[1][2] * v[2],
    Q[2][0] * v[0] + Q[2][1] * v[1] + Q[2][2] * v[2],
  ];
  return { acc: acc.map(turn), gyro: gyro.map(turn) };
}
