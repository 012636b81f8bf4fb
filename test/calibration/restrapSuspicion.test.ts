/**
 * The fast re-strap suspicion (edge/calibration/restrapSuspicion.ts) on the
 * shipped AB06 trial (real walking, taken at 100 Hz): quiet on the walking it
 * was calibrated on, and firing within a few seconds of a re-strap; what it
 * is blind to (a turn of 180 deg about the vertical) is pinned too.
 */
import { describe, expect, it } from "vitest";
import { calibrateConverting, withZFlipped, type Mat3, type Vec3 } from "../../edge/calibration/index.js";
import {
  FOOT_SUSPICION, hannWeights, judgeWindow, RestrapWatch, suspicionSettings, THIGH_SUSPICION,
} from "../../edge/calibration/restrapSuspicion.js";
import { matrixFromQuat } from "../../edge/modules/mounting.js";
import { ab06Rows, turn } from "../helpers/ab06.js";

const RATE = 100;

/** One sensor of the shipped trial at 100 Hz, and the map the mounting module would apply to it. */
function stream(which: "thigh" | "foot"): { acc: Vec3[]; gyro: Vec3[]; M: Mat3 } {
  const rows = ab06Rows().filter((_, i) => i % 2 === 0);
  const acc = rows.map((r) => r[which].acc), gyro = rows.map((r) => r[which].gyro);
  const { cal, handedness } = calibrateConverting(acc, gyro, { rateHz: RATE });
  if (!cal.C) throw new Error(`the shipped trial's ${which} does not calibrate: ${cal.reason}`);
  return { acc, gyro, M: handedness === "left" ? withZFlipped(cal.C) : cal.C };
}

/** A rotation of `deg` about `axis` (v_new = Q v_old). */
function rotation(axis: Vec3, deg: number): Mat3 {
  const n = Math.hypot(...axis), h = (deg * Math.PI) / 360, s = Math.sin(h) / n;
  return matrixFromQuat([Math.cos(h), axis[0] * s, axis[1] * s, axis[2] * s]);
}

/** Segment axis i of M (a row) as a sensor-frame vector: a re-strap about the segment's own x, y or z. */
const axisOf = (M: Mat3, i: number): Vec3 => M[i]!;

/** Sample indices where a watcher fires over the stream, re-strapped by Q from sample `from` on. */
function firings(which: "thigh" | "foot", Q?: Mat3, from = Number.POSITIVE_INFINITY): number[] {
  const s = stream(which);
  const w = new RestrapWatch(s.M, RATE, suspicionSettings(which === "thigh" ? "femur_r" : "calcn_r"));
  const out: number[] = [];
  s.acc.forEach((a, k) => {
    const g = s.gyro[k]!;
    if (w.push(Q && k >= from ? turn(Q, a) : a, Q && k >= from ? turn(Q, g) : g)) out.push(k);
  });
  return out;
}

/** The middle of the trial's walking (8.255 s start; it walks about 17 s). */
const RESTRAP_AT = 800;

describe("judgeWindow", () => {
  const thigh = stream("thigh");
  const win = (k: number, Q?: Mat3): { acc: Vec3[]; gyro: Vec3[] } => ({
    acc: thigh.acc.slice(k, k + 250).map((v) => (Q ? turn(Q, v) : v)),
    gyro: thigh.gyro.slice(k, k + 250).map((v) => (Q ? turn(Q, v) : v)),
  });

  it("walking it was calibrated on: judged, near the calibrated vertical and flexion axis, not suspect", () => {
    const w = win(RESTRAP_AT);
    const j = judgeWindow(thigh.M, w.acc, w.gyro, THIGH_SUSPICION);
    expect(j.judged).toBe(true);
    expect(j.verticalDeg!).toBeLessThan(THIGH_SUSPICION.verticalDeg);
    expect(j.axisDeg!).toBeLessThan(THIGH_SUSPICION.axisDeg);
    expect(j.suspect).toBe(false);
  });

  it("a re-strap about the segment's anterior axis tilts the vertical; one about its vertical turns only the flexion axis", () => {
    const tilted = win(RESTRAP_AT, rotation(axisOf(thigh.M, 0), 45));
    const tj = judgeWindow(thigh.M, tilted.acc, tilted.gyro, THIGH_SUSPICION);
    expect(tj).toMatchObject({ judged: true, suspect: true });
    expect(tj.verticalDeg!).toBeGreaterThan(35);

    const turned = win(RESTRAP_AT, rotation(axisOf(thigh.M, 1), 45));
    const uj = judgeWindow(thigh.M, turned.acc, turned.gyro, THIGH_SUSPICION);
    const plain = judgeWindow(thigh.M, win(RESTRAP_AT).acc, win(RESTRAP_AT).gyro, THIGH_SUSPICION);
    expect(uj.verticalDeg!).toBeCloseTo(plain.verticalDeg!, 6); // a turn about y leaves the vertical alone
    expect(uj.axisDeg!).toBeGreaterThan(35);
    expect(uj.suspect).toBe(true);
  });

  it("is blind to 180 deg about the vertical (the same vertical, the same axis line): only the full judgement's sign rule sees it", () => {
    const flipped = win(RESTRAP_AT, rotation(axisOf(thigh.M, 1), 180));
    const j = judgeWindow(thigh.M, flipped.acc, flipped.gyro, THIGH_SUSPICION);
    expect(j).toMatchObject({ judged: true, suspect: false });
  });

  it("judges nothing while standing still (a sitting thigh is 90 deg off its walking vertical, and no re-strap)", () => {
    const g: Vec3 = [0, 0, 0];
    const seated = Array.from({ length: 250 }, () => turn(rotation([1, 0, 0], 90), thigh.M[1].map((v) => v * 9.80665) as unknown as Vec3));
    expect(judgeWindow(thigh.M, seated, seated.map(() => g), THIGH_SUSPICION)).toMatchObject({ judged: false, suspect: false });
    expect(judgeWindow(thigh.M, [], [], THIGH_SUSPICION).judged).toBe(false);
  });

  it("reads a ring in any rotation: the taper follows the oldest sample", () => {
    const w = win(RESTRAP_AT, rotation([0.2, 0.5, -0.3], 30));
    const weights = hannWeights(w.acc.length);
    const ordered = judgeWindow(thigh.M, w.acc, w.gyro, THIGH_SUSPICION, { weights, oldest: 0 });
    const r = 97; // the same window stored as a ring whose oldest sample sits at slot r
    const ring = <T>(xs: T[]): T[] => [...xs.slice(xs.length - r), ...xs.slice(0, xs.length - r)];
    const asRing = judgeWindow(thigh.M, ring(w.acc), ring(w.gyro), THIGH_SUSPICION, { weights, oldest: r });
    expect(asRing.verticalDeg!).toBeCloseTo(ordered.verticalDeg!, 9);
    expect(asRing.axisDeg!).toBeCloseTo(ordered.axisDeg!, 9);
  });
});

describe("RestrapWatch", () => {
  it("stays quiet over the whole trial, thigh and foot, on the calibration found from it", () => {
    expect(firings("thigh")).toEqual([]);
    expect(firings("foot")).toEqual([]);
  });

  it.each([
    ["thigh", 45], ["thigh", 90], ["foot", 45], ["foot", 90],
  ] as const)("fires within 3 s of a %s re-strap of %i deg (never before it), once", (which, deg) => {
    const fired = firings(which, rotation([0.3, -0.8, 0.5], deg), RESTRAP_AT);
    expect(fired.length).toBe(1);
    expect(fired[0]!).toBeGreaterThanOrEqual(RESTRAP_AT);
    expect((fired[0]! - RESTRAP_AT) / RATE).toBeLessThan(3);
  });

  it("reset(M) starts over on a new rotation: the re-strapped stream judged against its own calibration is quiet", () => {
    const s = stream("thigh");
    const w = new RestrapWatch(s.M, RATE, THIGH_SUSPICION);
    const Q = rotation([1, 0, 0], 90);
    for (let k = 0; k < RESTRAP_AT; k++) w.push(s.acc[k]!, s.gyro[k]!);
    // Recalibrated to the re-strapped truth (C Q^T): the rest is quiet, no stale window judged against it.
    const Mq: Mat3 = [0, 1, 2].map((i) => [0, 1, 2].map((j) => s.M[i]![0] * Q[j]![0] + s.M[i]![1] * Q[j]![1] + s.M[i]![2] * Q[j]![2])) as unknown as Mat3;
    w.reset(Mq);
    let fired = 0;
    for (let k = RESTRAP_AT; k < s.acc.length; k++) if (w.push(turn(Q, s.acc[k]!), turn(Q, s.gyro[k]!))) fired++;
    expect(fired).toBe(0);
  });

  it.each(["thigh", "foot"] as const)("judges as judgeWindow does over the same window (%s; running sums through wraps, a re-strap and a reset)", (which) => {
    const s = stream(which);
    const settings = suspicionSettings(which === "thigh" ? "femur_r" : "calcn_r");
    const w = new RestrapWatch(s.M, RATE, settings);
    const n = Math.round(settings.windowS * RATE);
    const weights = hannWeights(n);
    const Q = rotation([0.3, -0.8, 0.5], 60);
    const resetAt = 1300;
    let start = 0, compared = 0, suspect = 0, last: unknown;
    for (let k = 0; k < s.acc.length; k++) {
      if (k === resetAt) {
        w.reset();
        start = k;
      }
      const a = k >= RESTRAP_AT ? turn(Q, s.acc[k]!) : s.acc[k]!, g = k >= RESTRAP_AT ? turn(Q, s.gyro[k]!) : s.gyro[k]!;
      w.push(a, g);
      if (w.last === undefined || w.last === last) continue;
      last = w.last;
      const from = k - n + 1;
      expect(from).toBeGreaterThanOrEqual(start);
      const idx = Array.from({ length: n }, (_, i) => from + i);
      const at = (i: number, xs: Vec3[]): Vec3 => (i >= RESTRAP_AT ? turn(Q, xs[i]!) : xs[i]!);
      const ref = judgeWindow(s.M, idx.map((i) => at(i, s.acc)), idx.map((i) => at(i, s.gyro)), settings, { weights, oldest: 0 });
      expect(w.last.judged).toBe(ref.judged);
      expect(w.last.suspect).toBe(ref.suspect);
      if (ref.judged) {
        expect(w.last.verticalDeg!).toBeCloseTo(ref.verticalDeg!, 9);
        if (ref.axisDeg === null) expect(w.last.axisDeg).toBeNull();
        else expect(w.last.axisDeg!).toBeCloseTo(ref.axisDeg, 9);
        if (ref.suspect) suspect++;
      }
      compared++;
    }
    // Judged 10 times a second over the walking of the trial (about 17 s), before and after the re-strap.
    expect(compared).toBeGreaterThan(50);
    expect(suspect).toBeGreaterThan(5);
  });

  it("the foot looks longer and allows more than the thigh (its vertical swings more within a stride)", () => {
    expect(suspicionSettings("femur_l")).toBe(THIGH_SUSPICION);
    expect(suspicionSettings("calcn_r")).toBe(FOOT_SUSPICION);
    expect(FOOT_SUSPICION.windowS).toBeGreaterThan(THIGH_SUSPICION.windowS);
    expect(FOOT_SUSPICION.verticalDeg).toBeGreaterThan(THIGH_SUSPICION.verticalDeg);
  });
});
