/**
 * A fast re-strap SUSPICION (docs/calibration.md "On the edge"): the full
 * re-strap judgement (`stillFits`) needs `walkS` (20) s of walking, and until
 * it comes the pipeline keeps rotating a re-strapped sensor's data with the
 * OLD rotation: a gait-features/2 model then publishes wrong angles that look
 * healthy. This check looks at the last 2.5-3 s of walking
 * and asks whether they still look like the calibrated frame:
 *
 *   - vertical: the mean specific force, rotated into the segment frame, vs
 *     the segment's y (which IS the walking-mean specific force of the
 *     calibration: docs/calibration.md step 7);
 *   - flexion axis: the principal axis of the angular rate in the segment's
 *     horizontal (x-z) plane vs its z (step 8: the calibration's flexion axis).
 *
 * A re-strap about any axis moves one or both (a turn about y moves only the
 * flexion axis, about a horizontal axis it tilts the vertical). What it cannot
 * see: a turn of 180 deg about y (z and x reversed, the same vertical and the
 * same axis line): only the sign rule of the full judgement tells those apart.
 *
 * Both statistics are sums over the window, so the window's ORDER does not
 * matter: the watcher below hands its ring buffer as it is. Only windows of
 * walking are judged (most samples moving, a walking rate): standing,
 * sitting or fidgeting say nothing, so sitting down (a thigh turned 90 deg
 * from its walking vertical, but still) is no suspicion. The thresholds are
 * chosen on AB06's 24 trials (false alarms) and on simulated re-straps
 * (delays): edge/bench/restrapSuspicion.ts measures both.
 * Pure (the watcher only keeps its ring of references); nothing is
 * allocated per sample.
 */
import { isStill } from "./calibrate.js";
import type { Mat3, Vec3 } from "./linalg.js";

/** Judged only when at least this share of the window is moving (not still by STILL_GYRO/STILL_ACC). */
export const SUSPECT_MIN_MOVING = 0.7;
/** ... and the angular rate's RMS (|w|, the same in any frame) reaches this (rad/s): walking, not shuffling. */
export const SUSPECT_MIN_RATE = 1.0;
/** The flexion axis is judged when the horizontal rate is planar: its principal axis takes this share. */
export const SUSPECT_MIN_PLANARITY = 0.7;
/** How often a watcher judges its window (s). */
export const SUSPECT_EVERY_S = 0.1;

export interface SuspicionThresholds {
  /** The window's mean specific force this far (deg) from the calibrated vertical: suspect. */
  readonly verticalDeg: number;
  /** The window's flexion axis this far (deg) from the calibrated one, in the horizontal plane: suspect. */
  readonly axisDeg: number;
  readonly minMoving: number;
  readonly minRate: number;
  readonly minPlanarity: number;
}

/** A watcher's window, cadence and thresholds. */
export interface SuspicionSettings extends SuspicionThresholds {
  /** Seconds of walking each judgement looks at (Hann-weighted when `taper`). */
  readonly windowS: number;
  readonly everyS: number;
  /** Consecutive suspect judgements before the watcher fires (one odd window is not a re-strap). */
  readonly consecutive: number;
  readonly taper: boolean;
}

const WALKING = { minMoving: SUSPECT_MIN_MOVING, minRate: SUSPECT_MIN_RATE, minPlanarity: SUSPECT_MIN_PLANARITY, everyS: SUSPECT_EVERY_S, taper: true };

/**
 * Per segment, chosen with edge/bench/restrapSuspicion.ts on AB06's 24 trials
 * (docs/calibration.md "On the edge"): the thigh's 2.5 s windows stay within 8.5
 * deg of its walking vertical on their own trial's calibration (11 against
 * another trial's) and mostly within 10 deg of its flexion axis (p99; single
 * windows up to 31 deg at turns and stops, which the `consecutive` rule rides
 * out). The foot's vertical swings more (heel strike and push-off, and a walking
 * vertical that moves with the speed: 15 deg max on 3 s windows, 21 against
 * another trial's calibration), so it looks longer and is allowed more.
 */
export const THIGH_SUSPICION: SuspicionSettings = { ...WALKING, windowS: 2.5, verticalDeg: 12, axisDeg: 22, consecutive: 3 };
export const FOOT_SUSPICION: SuspicionSettings = { ...WALKING, windowS: 3.0, verticalDeg: 16, axisDeg: 22, consecutive: 5 };

/** Pure: the settings of a placement's segment (`femur_*`: the thigh's, else the foot's, the stricter). */
export function suspicionSettings(placement: string): SuspicionSettings {
  return placement.startsWith("femur") ? THIGH_SUSPICION : FOOT_SUSPICION;
}

export interface WindowJudgement {
  /** False: not walking (too still or too slow); the rest is then null / false. */
  readonly judged: boolean;
  /** Mean specific force (segment frame) vs y, deg. */
  readonly verticalDeg: number | null;
  /** Horizontal principal rate axis vs z, deg (0..90: an axis, not a direction); null when not planar. */
  readonly axisDeg: number | null;
  readonly suspect: boolean;
}

const NOT_JUDGED: WindowJudgement = { judged: false, verticalDeg: null, axisDeg: null, suspect: false };
const DEG = 180 / Math.PI;

/**
 * What a judgement needs of a window: its size, how many samples move, and the
 * (weighted) sums of the specific force and of the rate's second moments, sensor
 * frame. `sums` is [fx, fy, fz, sxx, syy, szz, sxy, sxz, syz]. judgeWindow loops
 * over a window for them; the watcher keeps them running (RestrapWatch below).
 */
export interface WindowSums {
  readonly n: number;
  readonly moving: number;
  readonly weightSum: number;
  readonly sums: ArrayLike<number>;
}

/** The nine sums of WindowSums.sums, in order. */
export const SUM_COUNT = 9;

/** Pure: one sample's nine quantities (the specific force, then the rate's second moments) into `out` at `at`. */
function quantities(out: Float64Array, at: number, f0: number, f1: number, f2: number, w0: number, w1: number, w2: number): void {
  out[at] = f0; out[at + 1] = f1; out[at + 2] = f2;
  out[at + 3] = w0 * w0; out[at + 4] = w1 * w1; out[at + 5] = w2 * w2;
  out[at + 6] = w0 * w1; out[at + 7] = w0 * w2; out[at + 8] = w1 * w2;
}

/**
 * Pure: does this window of walking (`acc`, `gyro`: sensor frame, any order, equal
 * lengths) still look calibrated by `M` (sensor -> segment, `v_segment = M v_sensor`;
 * for a converted left-handed stream the improper C · diag(1, 1, -1))?
 */
export function judgeWindow(M: Mat3, acc: readonly Vec3[], gyro: readonly Vec3[], th: SuspicionThresholds, taper?: Taper): WindowJudgement {
  const n = acc.length;
  if (n === 0 || gyro.length !== n || (taper && taper.weights.length !== n)) return NOT_JUDGED;
  let moving = 0;
  let weightSum = 0;
  const sums = new Float64Array(SUM_COUNT);
  const q = new Float64Array(SUM_COUNT);
  for (let k = 0; k < n; k++) {
    const f = acc[k]!, w = gyro[k]!;
    if (!isStill(f[0], f[1], f[2], w[0], w[1], w[2])) moving++;
    const c = taper ? taper.weights[k >= taper.oldest ? k - taper.oldest : k - taper.oldest + n]! : 1;
    weightSum += c;
    quantities(q, 0, f[0], f[1], f[2], w[0], w[1], w[2]);
    for (let i = 0; i < SUM_COUNT; i++) sums[i]! += c * q[i]!;
  }
  return judgeSums(M, { n, moving, weightSum, sums }, th);
}

/** Pure: the judgement of a window from its sums (WindowSums). */
export function judgeSums(M: Mat3, s: WindowSums, th: SuspicionThresholds): WindowJudgement {
  const { n, moving, weightSum } = s;
  const [fx, fy, fz, sxx, syy, szz, sxy, sxz, syz] = s.sums as unknown as [number, number, number, number, number, number, number, number, number];
  // Walking: mostly moving, and a rate of walking, not shuffling.
  if (n === 0 || moving < th.minMoving * n || !(weightSum > 0 && Math.sqrt((sxx + syy + szz) / weightSum) >= th.minRate)) return NOT_JUDGED;
  const [x, y, z] = M;
  const vx = x[0] * fx + x[1] * fy + x[2] * fz, vy = y[0] * fx + y[1] * fy + y[2] * fz, vz = z[0] * fx + z[1] * fy + z[2] * fz;
  const verticalDeg = Math.atan2(Math.hypot(vx, vz), vy) * DEG;
  // The segment's horizontal moments: a^T S b for segment axes a, b (rows of M).
  const moment = (a: Vec3, b: Vec3): number =>
    a[0] * (sxx * b[0] + sxy * b[1] + sxz * b[2]) + a[1] * (sxy * b[0] + syy * b[1] + syz * b[2]) + a[2] * (sxz * b[0] + syz * b[1] + szz * b[2]);
  const hxx = moment(x, x), hzz = moment(z, z), hxz = moment(x, z);
  // The 2x2 eigen-problem in closed form: the principal axis and its share. Not planar (a
  // re-strap that tilted the flexion axis out of the plane, say): the axis is not judged,
  // the vertical then is.
  const half = Math.hypot((hzz - hxx) / 2, hxz);
  const planar = hxx + hzz > 0 && 0.5 + half / (hxx + hzz) >= th.minPlanarity;
  const axisDeg = planar ? Math.abs(0.5 * Math.atan2(2 * hxz, hzz - hxx)) * DEG : null;
  return { judged: true, verticalDeg, axisDeg, suspect: verticalDeg > th.verticalDeg || (axisDeg !== null && axisDeg > th.axisDeg) };
}

/**
 * Weights by age: sample k of a ring is the ((k - oldest) mod n)-th oldest and weighs
 * `weights` of that. A Hann taper: a window's mean over a part-stride at either end is
 * what biases a boxcar's mean (the foot's specific force swings by several g within
 * a stride); the taper lets the ends fade in and out.
 */
export interface Taper {
  readonly weights: readonly number[];
  readonly oldest: number;
}

/** Pure: the Hann weights of an n-sample window (oldest first), sin^2(pi (k + 0.5) / n). */
export function hannWeights(n: number): number[] {
  return Array.from({ length: n }, (_, k) => Math.sin((Math.PI * (k + 0.5)) / n) ** 2);
}

export interface Suspicion {
  /** What moved: the vertical, the flexion axis, or both. */
  readonly what: "vertical" | "flexion axis" | "vertical and flexion axis";
  readonly verticalDeg: number;
  readonly axisDeg: number | null;
}

/**
 * One calibrated sensor's watcher (`M`: its sensor -> segment map): the last `windowS` of grid samples in a ring,
 * judged every `everyS`; `push` returns a Suspicion on the judgement that makes
 * `consecutive` suspect ones in a row (then again only after a judged window
 * that looks calibrated: one suspicion per episode). Windows not judged (standing)
 * neither count nor break the run. `reset()` when the rotation changes or the stream
 * breaks (a new grid segment): the window must hold one strapping's samples of one stream.
 *
 * Running sums, not a loop per judgement: summing the whole window at every judgement
 * cost 25-30 passes over each sample (2.5-3 s judged every 0.1 s), the largest share of
 * the main thread at 200 wearers. The watcher keeps each of the nine quantities' plain
 * sum and its sum weighted by the ring slot's phase e^(i 2 pi slot / n); the Hann weight
 * of a sample of age a is sin^2(pi (a + 0.5) / n) = (1 - cos(2 pi (a + 0.5) / n)) / 2, and
 * a's phase is the slot's minus the oldest slot's, so the tapered sum is
 * (plain - Re(phased · e^(-i phi))) / 2 with phi = 2 pi (oldest - 0.5) / n: O(1) per sample
 * and per judgement. Adding and subtracting drifts by rounding, so the sums are recomputed
 * from the ring every time it wraps (once per n samples). judgeWindow over the same window
 * gives the same judgement (test/calibration/restrapSuspicion.test.ts, to 1e-9 deg).
 * Nothing is allocated per sample: a calibrated sensor pushes 100 samples a second for as
 * long as it is worn.
 */
export class RestrapWatch {
  /** Per ring slot, the nine quantities of its sample (`quantities`). */
  private readonly slots: Float64Array;
  /** Per ring slot, 1 when its sample is moving (not isStill). */
  private readonly movingSlot: Uint8Array;
  /** The ring's sums of each quantity: plain, and weighted by cos / sin of the slot's phase. */
  private readonly plain = new Float64Array(SUM_COUNT);
  private readonly phasedCos = new Float64Array(SUM_COUNT);
  private readonly phasedSin = new Float64Array(SUM_COUNT);
  private readonly cosOf: Float64Array;
  private readonly sinOf: Float64Array;
  /** The incoming sample's nine quantities (reused: one sample at a time). */
  private readonly incoming = new Float64Array(SUM_COUNT);
  /** The tapered sums handed to judgeSums (reused: one judgement at a time). */
  private readonly judged = new Float64Array(SUM_COUNT);
  private moving = 0;
  /** Samples in the window since the last reset (the ring is judged once it is full). */
  private filled = 0;
  private next = 0;
  private sinceJudged = 0;
  private run = 0;
  private fired = false;
  private readonly size: number;
  private readonly every: number;
  private readonly weightSum: number;
  private lastJudgement: WindowJudgement | undefined;

  constructor(
    private M: Mat3,
    rateHz: number,
    private readonly settings: SuspicionSettings,
  ) {
    this.size = Math.max(1, Math.round(settings.windowS * rateHz));
    this.every = Math.max(1, Math.round(settings.everyS * rateHz));
    this.weightSum = settings.taper ? hannWeights(this.size).reduce((a, b) => a + b, 0) : this.size;
    this.slots = new Float64Array(this.size * SUM_COUNT);
    this.movingSlot = new Uint8Array(this.size);
    this.cosOf = Float64Array.from({ length: this.size }, (_, k) => Math.cos((2 * Math.PI * k) / this.size));
    this.sinOf = Float64Array.from({ length: this.size }, (_, k) => Math.sin((2 * Math.PI * k) / this.size));
  }

  /** The latest judgement since the last reset (for tests and the bench; undefined before the first). */
  get last(): WindowJudgement | undefined {
    return this.lastJudgement;
  }

  /** A new rotation (or the same after a break): start from an empty window. */
  reset(M: Mat3 = this.M): void {
    this.M = M;
    this.filled = 0;
    this.next = 0;
    this.sinceJudged = 0;
    this.run = 0;
    this.fired = false;
    this.lastJudgement = undefined;
    this.moving = 0;
    this.plain.fill(0);
    this.phasedCos.fill(0);
    this.phasedSin.fill(0);
  }

  /** The running sums recomputed from the ring (the window is full): rounding drift gone. */
  private resum(): void {
    this.moving = 0;
    this.plain.fill(0);
    this.phasedCos.fill(0);
    this.phasedSin.fill(0);
    for (let at = 0; at < this.size; at++) {
      const base = at * SUM_COUNT, c = this.cosOf[at]!, sn = this.sinOf[at]!;
      for (let i = 0; i < SUM_COUNT; i++) {
        const v = this.slots[base + i]!;
        this.plain[i]! += v;
        this.phasedCos[i]! += c * v;
        this.phasedSin[i]! += sn * v;
      }
      this.moving += this.movingSlot[at]!;
    }
  }

  /** One grid sample (sensor frame, as `M` applies to it; its values are copied into the ring). */
  push(acc: Vec3, gyro: Vec3): Suspicion | undefined {
    // Filling: the next free slot. Full: the oldest slot, `next` (slot 0 right after a fill).
    const full = this.filled === this.size;
    const at = full ? this.next : this.filled++;
    if (full) this.next = (this.next + 1) % this.size;
    // The new sample replaces the slot's (nothing while filling: its stale values are not in the
    // sums); the slot's phase is the same for both, so each sum moves by the difference.
    const q = this.incoming, base = at * SUM_COUNT, c = this.cosOf[at]!, sn = this.sinOf[at]!;
    quantities(q, 0, acc[0], acc[1], acc[2], gyro[0], gyro[1], gyro[2]);
    for (let i = 0; i < SUM_COUNT; i++) {
      const d = q[i]! - (full ? this.slots[base + i]! : 0);
      this.slots[base + i] = q[i]!;
      this.plain[i]! += d;
      this.phasedCos[i]! += c * d;
      this.phasedSin[i]! += sn * d;
    }
    const moving = isStill(acc[0], acc[1], acc[2], gyro[0], gyro[1], gyro[2]) ? 0 : 1;
    this.moving += moving - (full ? this.movingSlot[at]! : 0);
    this.movingSlot[at] = moving;
    if (full && this.next === 0) this.resum();
    if (this.filled < this.size || ++this.sinceJudged < this.every) return undefined;
    this.sinceJudged = 0;
    const th = this.settings;
    const j = judgeSums(this.M, { n: this.size, moving: this.moving, weightSum: this.weightSum, sums: this.taperedSums() }, th);
    this.lastJudgement = j;
    if (!j.judged) return undefined;
    if (!j.suspect) {
      this.run = 0;
      this.fired = false;
      return undefined;
    }
    if (++this.run < th.consecutive || this.fired) return undefined;
    this.fired = true;
    const v = j.verticalDeg! > th.verticalDeg, a = j.axisDeg !== null && j.axisDeg > th.axisDeg;
    return { what: v && a ? "vertical and flexion axis" : v ? "vertical" : "flexion axis", verticalDeg: j.verticalDeg!, axisDeg: j.axisDeg };
  }

  /** The full ring's sums, Hann-weighted by age when the settings taper (`next` is the oldest slot). */
  private taperedSums(): Float64Array {
    if (!this.settings.taper) return this.plain;
    const phi = (2 * Math.PI * (this.next - 0.5)) / this.size, c = Math.cos(phi), sn = Math.sin(phi);
    for (let i = 0; i < SUM_COUNT; i++) this.judged[i] = 0.5 * (this.plain[i]! - (this.phasedCos[i]! * c + this.phasedSin[i]! * sn));
    return this.judged;
  }
}
