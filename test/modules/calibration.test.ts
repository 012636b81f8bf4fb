/** The calibration arithmetic, without a runtime: sums in, verdict out. */
import { describe, expect, it } from "vitest";
import { accumulate, angleToReference, judgeCapture, type Capture } from "../../edge/modules/calibration.js";
import type { Placement } from "../../edge/contract/manifest.js";

const IDENTITY = [1, 0, 0, 0];
const ctx = { wearers: ["default"], placements: ["femur_r", "calcn_r"] as Placement[], references: { femur_r: IDENTITY, calcn_r: IDENTITY }, maxGyroStd: 0.05, savedAt: "2026-01-01T00:00:00.000Z" };

function still(capture: Capture, placement: Placement, n: number, gyro: (k: number) => [number, number, number] = () => [0.02, -0.01, 0.005]): void {
  for (let k = 0; k < n; k++) accumulate(capture, { wearer: "default", placement, sample: { sensorId: placement, tUs: k * 10_000, acc: [0, 0, 9.8], gyro: gyro(k) } });
}

describe("judgeCapture", () => {
  it("turns a still capture into each sensor's mean gyro bias and its mounting offset", () => {
    const capture: Capture = new Map();
    still(capture, "femur_r", 50);
    still(capture, "calcn_r", 50);
    const { result, measured, problems } = judgeCapture(capture, ctx);
    expect(problems).toEqual([]);
    expect(result["default/femur_r"]!.gyroBias[0]).toBeCloseTo(0.02, 9);
    expect(result["default/femur_r"]!.mountingOffsetDeg).toBeCloseTo(0, 6); // gravity along +z, as the identity reference says
    expect(measured.map((m) => m.placement)).toEqual(["femur_r", "calcn_r"]);
  });

  it("gait-features/2: the standing vertical is measured in each sensor's segment frame (null until its mounting is calibrated)", () => {
    const capture: Capture = new Map();
    still(capture, "femur_r", 50); // gravity along sensor +z
    still(capture, "calcn_r", 50);
    // The segment reference: +z onto +y (docs/contract.md "Euler reference"); the thigh's mounting maps sensor z to segment y, tilted 10 deg.
    const SEGMENT_UP = [Math.SQRT1_2, -Math.SQRT1_2, 0, 0];
    const c = Math.cos((10 * Math.PI) / 180), s = Math.sin((10 * Math.PI) / 180);
    const thigh = [[1, 0, 0], [0, s, c], [0, -c, s]] as const; // rows: segment x, y, z in sensor coordinates
    const v2 = { ...ctx, references: { femur_r: SEGMENT_UP, calcn_r: SEGMENT_UP }, segmentFrame: (_w: string, p: Placement) => (p === "femur_r" ? thigh : undefined) };
    const { result, measured } = judgeCapture(capture, v2);
    expect(result["default/femur_r"]!.mountingOffsetDeg).toBeCloseTo(10, 6);
    expect(result["default/calcn_r"]!.mountingOffsetDeg).toBeNull(); // not calibrated from walking yet
    expect(measured.map((m) => m.placement)).toEqual(["femur_r", "calcn_r"]); // the gyro bias is kept all the same
  });

  it("refuses all of it when one placement moved, sent too little, or sent nothing", () => {
    const moving: Capture = new Map();
    still(moving, "femur_r", 50);
    still(moving, "calcn_r", 50, (k) => [2 * Math.sin(k / 3), 0, 0]);
    expect(judgeCapture(moving, ctx).problems).toEqual([expect.stringMatching(/^default\/calcn_r: moving during calibration \(gyro std \d/)]);
    const short: Capture = new Map();
    still(short, "femur_r", 50);
    still(short, "calcn_r", 5);
    expect(judgeCapture(short, ctx).problems).toEqual(["default/calcn_r: only 5 samples"]);
    const missing: Capture = new Map();
    still(missing, "femur_r", 50);
    expect(judgeCapture(missing, ctx).problems).toEqual(["default/calcn_r: no samples"]);
  });
});

describe("angleToReference", () => {
  it("is the angle between measured gravity and the reference's up", () => {
    expect(angleToReference([0, 0, 9.8], IDENTITY)).toBeCloseTo(0, 9);
    expect(angleToReference([9.8, 0, 0], IDENTITY)).toBeCloseTo(90, 9);
  });
});
