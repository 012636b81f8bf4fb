/**
 * The edge's calibration against the training side's golden vectors
 * (test/fixtures/calibration/golden.json, written by
 * `python -m gaitlstm.mounting.golden`): same inputs, same numbers to ~1e-9.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  calibrate, checkPair, guessPlacement, handedness, jacobiEigenSym3, leadLagCorrelation, remount, rotationAngleDeg, stillFits, toRightHanded,
  type Calibration, type Mat3, type Vec3,
} from "../../edge/calibration/index.js";

type Op = ["remount", string] | ["mirror_z"] | ["slice", number, number];
interface GoldenCalibration {
  ok: boolean; reason: string; C: number[][] | null; quat: number[] | null; planarity: number; sign_margin: number;
  strides: number; seconds: number; stride_s: number; periodicity: number; stand_s: number; agreement_deg: number | null;
  handedness: { score: number; decision: string } | null;
  sign_source: "own" | "joint" | ""; joint_margin: number | null;
}
/** The golden inputs: the shipped trial's thigh and foot, and the synthetic legs of the joint sign rule. */
type Input = "thigh" | "foot" | "sym_thigh" | "foot_follows" | "foot_quarter";
interface GoldenCase {
  name: string; stream: Input | "still"; ops: Op[];
  /** A thigh calibrated with this foot (calibrated on its own) as its sign partner. */
  partner?: { stream: Input; ops: Op[] };
  calibration?: GoldenCalibration;
  handedness?: { score: number; decision: string };
  placement?: { placement: string; score: number; confidence: number };
  fit?: { decision: string; angle_deg: number | null; vertical_deg: number | null; flexion_deg: number | null };
}
interface Golden {
  schema: string; rate_hz: number; tolerance: { abs: number; deg: number };
  inputs: Record<Input, { acc: Vec3[]; gyro: Vec3[] }>;
  rotations: Record<string, Mat3>;
  cases: GoldenCase[];
  pairs: Array<{ name: string; thigh: "thigh" | "foot"; foot: "thigh" | "foot"; swapped: boolean | null; score: number }>;
}

const golden = JSON.parse(readFileSync(path.resolve("test/fixtures/calibration/golden.json"), "utf8")) as Golden;
const tol = golden.tolerance.abs;

/** The golden script's synthetic still stream (golden.still_stream), rebuilt here. */
function stillStream(n = 1200): { acc: Vec3[]; gyro: Vec3[] } {
  const up: Vec3 = [0.3, 0.9, -0.2];
  const norm = Math.sqrt(up[0] * up[0] + up[1] * up[1] + up[2] * up[2]);
  const g: Vec3 = [(up[0] / norm) * 9.80665, (up[1] / norm) * 9.80665, (up[2] / norm) * 9.80665];
  const round6 = (v: number): number => Math.round(v * 1e6) / 1e6;
  const acc: Vec3[] = [], gyro: Vec3[] = [];
  for (let k = 0; k < n; k++) {
    acc.push([round6(g[0] + 0.01 * Math.sin(0.37 * k)), round6(g[1] + 0.01 * Math.cos(0.23 * k)), round6(g[2] + 0.01 * Math.sin(0.11 * k))]);
    gyro.push([round6(0.002 * Math.sin(0.31 * k)), round6(0.002 * Math.sin(0.17 * k)), round6(0.002 * Math.cos(0.29 * k))]);
  }
  return { acc, gyro };
}

function streamOf(c: { stream: Input | "still"; ops: Op[] }): { acc: Vec3[]; gyro: Vec3[] } {
  let s = c.stream === "still" ? stillStream() : { acc: golden.inputs[c.stream].acc, gyro: golden.inputs[c.stream].gyro };
  for (const op of c.ops) {
    if (op[0] === "remount") {
      const Q = golden.rotations[op[1]];
      if (!Q) throw new Error(`no rotation ${op[1]}`);
      s = remount(s.acc, s.gyro, Q);
    } else if (op[0] === "mirror_z") s = toRightHanded(s.acc, s.gyro);
    else s = { acc: s.acc.slice(op[1], op[2]), gyro: s.gyro.slice(op[1], op[2]) };
  }
  return s;
}

const near = (got: number | null, want: number | null, what: string): void => {
  if (want === null) {
    expect(got, what).toBeNull();
    return;
  }
  expect(got, what).not.toBeNull();
  expect(Math.abs((got ?? Number.NaN) - want), `${what}: ${got} vs ${want}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want)));
};

function compareCalibration(got: Calibration, want: GoldenCalibration): void {
  expect(got.ok).toBe(want.ok);
  expect(got.reason).toBe(want.reason);
  if (want.C === null) expect(got.C).toBeNull();
  else want.C.forEach((row, i) => row.forEach((v, j) => near(got.C?.[i]?.[j] ?? null, v, `C[${i}][${j}]`)));
  if (want.quat === null) expect(got.quat).toBeNull();
  else want.quat.forEach((v, i) => near(got.quat?.[i] ?? null, v, `quat[${i}]`));
  near(got.planarity, want.planarity, "planarity");
  near(got.signMargin, want.sign_margin, "sign_margin");
  expect(got.strides).toBe(want.strides);
  near(got.seconds, want.seconds, "seconds");
  near(got.strideS, want.stride_s, "stride_s");
  near(got.periodicity, want.periodicity, "periodicity");
  near(got.standS, want.stand_s, "stand_s");
  near(got.agreementDeg, want.agreement_deg, "agreement_deg");
  if (want.handedness === null) expect(got.handedness).toBeNull();
  else {
    near(got.handedness?.score ?? null, want.handedness.score, "handedness.score");
    expect(got.handedness?.decision).toBe(want.handedness.decision);
  }
  expect(got.signSource).toBe(want.sign_source);
  near(got.jointMargin, want.joint_margin, "joint_margin");
}

/** A foot's sagittal rate (C gyro)_z from its own calibration: a thigh's sign partner. */
function footRate(s: { acc: Vec3[]; gyro: Vec3[] }): number[] {
  const c = calibrate(s.acc, s.gyro);
  if (!c.C) throw new Error(`partner foot refused: ${c.reason}`);
  const z = c.C[2];
  return s.gyro.map((g) => g[0] * z[0] + g[1] * z[1] + g[2] * z[2]);
}

const footCalibration = (): Mat3 => {
  const c = calibrate(golden.inputs.foot.acc, golden.inputs.foot.gyro);
  if (!c.C) throw new Error(`foot calibration refused: ${c.reason}`);
  return c.C;
};

describe("calibration golden vectors", () => {
  it("are the ones this test was written for", () => {
    expect(golden.schema).toBe("gait-calibration-golden/1");
    expect(golden.cases.length).toBeGreaterThanOrEqual(10);
  });

  it.each(golden.cases.map((c) => [c.name, c] as const))("%s", (name, c) => {
    const { acc, gyro } = streamOf(c);
    if (c.calibration) {
      const previousCase = name.startsWith("thigh_remount") ? "thigh" : name.startsWith("foot_remount") ? "foot" : null;
      const previous = previousCase ? calibrate(golden.inputs[previousCase].acc, golden.inputs[previousCase].gyro).C ?? undefined : undefined;
      const signPartner = c.partner ? footRate(streamOf(c.partner)) : undefined;
      compareCalibration(calibrate(acc, gyro, { previous, ...(signPartner ? { signPartner } : {}) }), c.calibration);
    }
    if (c.handedness) {
      const h = handedness(acc, gyro);
      near(h.score, c.handedness.score, "handedness.score");
      expect(h.decision).toBe(c.handedness.decision);
    }
    if (c.placement) {
      const p = guessPlacement(acc, gyro);
      expect(p.placement).toBe(c.placement.placement);
      near(p.score, c.placement.score, "placement.score");
      near(p.confidence, c.placement.confidence, "placement.confidence");
    }
    if (c.fit) {
      const f = stillFits(footCalibration(), acc, gyro);
      expect(f.decision).toBe(c.fit.decision);
      near(f.angleDeg, c.fit.angle_deg, "fit.angle_deg");
      near(f.verticalDeg, c.fit.vertical_deg, "fit.vertical_deg");
      near(f.flexionDeg, c.fit.flexion_deg, "fit.flexion_deg");
    }
  });

  it.each(golden.pairs.map((p) => [p.name, p] as const))("pair %s", (_name, p) => {
    const t = golden.inputs[p.thigh], f = golden.inputs[p.foot];
    const got = checkPair(t.acc, t.gyro, f.acc, f.gyro);
    expect(got.swapped).toBe(p.swapped);
    near(got.score, p.score, "pair score");
  });
});

describe("calibration behaviour", () => {
  it("the joint sign statistic is odd in the thigh, and a confident thigh keeps its own sign", () => {
    const { acc, gyro } = golden.inputs.thigh;
    const wFoot = footRate(golden.inputs.foot);
    const own = calibrate(acc, gyro);
    const both = calibrate(acc, gyro, { signPartner: wFoot });
    expect(both.signSource).toBe("own");
    expect(both.C).toEqual(own.C);
    expect(both.jointMargin).toBeGreaterThan(0.5);
    const z = own.C?.[2] ?? [0, 0, 0];
    const w = gyro.map((g) => g[0] * z[0] + g[1] * z[1] + g[2] * z[2]);
    expect(leadLagCorrelation(w.map((v) => -v), wFoot, 20)).toBeCloseTo(-leadLagCorrelation(w, wFoot, 20), 15);
    expect(() => calibrate(acc, gyro, { signPartner: wFoot.slice(1) })).toThrow(/signPartner: expected the foot's sagittal rate on the same 1500 samples, got 1499/);
  });

  it("the Jacobi solver diagonalises symmetric matrices", () => {
    const S: Mat3 = [[4, 1, -2], [1, 3, 0.5], [-2, 0.5, 1]];
    const { values, vectors } = jacobiEigenSym3(S);
    expect(values[0]).toBeGreaterThanOrEqual(values[1]);
    expect(values[1]).toBeGreaterThanOrEqual(values[2]);
    for (let i = 0; i < 3; i++) {
      const v: Vec3 = [vectors[0][i] ?? 0, vectors[1][i] ?? 0, vectors[2][i] ?? 0];
      const Sv = S.map((row) => row[0] * v[0] + row[1] * v[1] + row[2] * v[2]);
      Sv.forEach((x, k) => expect(Math.abs(x - (values[i] ?? 0) * (v[k] ?? 0))).toBeLessThan(1e-12));
    }
  });

  it("a remounted sensor gives C Q^T and an agreement equal to the remount's angle", () => {
    const { acc, gyro } = golden.inputs.thigh;
    const base = calibrate(acc, gyro);
    const Q = golden.rotations.r2;
    if (!base.C || !Q) throw new Error("fixture");
    const moved = remount(acc, gyro, Q);
    const c = calibrate(moved.acc, moved.gyro, { previous: base.C });
    const I: Mat3 = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    expect(c.agreementDeg).toBeCloseTo(rotationAngleDeg(Q, I), 6);
  });

  it("refuses a mirrored stream and calibrates it once converted", () => {
    const { acc, gyro } = golden.inputs.foot;
    const m = toRightHanded(acc, gyro);
    expect(calibrate(m.acc, m.gyro).reason).toBe("mirrored");
    const back = toRightHanded(m.acc, m.gyro);
    expect(calibrate(back.acc, back.gyro).ok).toBe(true);
  });
});
