import { describe, expect, it } from "vitest";
import { isFiniteAngles, legPose, SEGMENTS, type Point } from "../../web/dashboard/lib/stickFigure.js";

const dist = (a: Point, b: Point): number => Math.hypot(a.x - b.x, a.y - b.y);
const pose = (hip: number, knee: number, ankle: number) => legPose({ hipFlexionDeg: hip, kneeFlexionDeg: knee, ankleDorsiflexionDeg: ankle });

describe("legPose (sagittal, x forward, y up)", () => {
  it("stands straight at zero angles, the foot flat and pointing forward", () => {
    const p = pose(0, 0, 0);
    expect(p.knee.x).toBeCloseTo(0, 9);
    expect(p.knee.y).toBeCloseTo(-SEGMENTS.thigh, 9);
    expect(p.ankle.x).toBeCloseTo(0, 9);
    expect(p.ankle.y).toBeCloseTo(-SEGMENTS.thigh - SEGMENTS.shank, 9);
    expect(p.toe.y).toBeCloseTo(p.heel.y, 9);
    expect(p.toe.x).toBeGreaterThan(p.heel.x);
    expect(p.heel.x).toBeLessThan(0);
  });

  it("swings the thigh forward with hip flexion", () => {
    const p = pose(90, 0, 0);
    expect(p.knee.x).toBeCloseTo(SEGMENTS.thigh, 9);
    expect(p.knee.y).toBeCloseTo(0, 9);
    expect(pose(-20, 0, 0).knee.x).toBeLessThan(0); // extension: behind the hip
  });

  it("folds the shank backwards with knee flexion", () => {
    const p = pose(0, 90, 0);
    expect(p.ankle.x).toBeCloseTo(-SEGMENTS.shank, 9);
    expect(p.ankle.y).toBeCloseTo(-SEGMENTS.thigh, 9);
    // Sitting (hip 90, knee 90): shank hangs straight down from a forward knee.
    const sit = pose(90, 90, 0);
    expect(sit.ankle.x).toBeCloseTo(SEGMENTS.thigh, 9);
    expect(sit.ankle.y).toBeCloseTo(-SEGMENTS.shank, 9);
  });

  it("lifts the toes with dorsiflexion and drops them with plantarflexion", () => {
    expect(pose(0, 0, 15).toe.y).toBeGreaterThan(pose(0, 0, 15).heel.y);
    expect(pose(0, 0, -30).toe.y).toBeLessThan(pose(0, 0, -30).heel.y);
  });

  it("keeps every segment's length whatever the angles", () => {
    for (const [h, k, a] of [
      [30, 60, -10],
      [-15, 5, 20],
      [100, 120, -40],
    ] as const) {
      const p = pose(h, k, a);
      expect(dist(p.hip, p.knee)).toBeCloseTo(SEGMENTS.thigh, 9);
      expect(dist(p.knee, p.ankle)).toBeCloseTo(SEGMENTS.shank, 9);
      expect(dist(p.heel, p.toe)).toBeCloseTo(SEGMENTS.foot, 9);
    }
  });

  it("tells a drawable pose from one with a missing angle", () => {
    expect(isFiniteAngles({ hipFlexionDeg: 1, kneeFlexionDeg: 2, ankleDorsiflexionDeg: 3 })).toBe(true);
    expect(isFiniteAngles({ hipFlexionDeg: 1, kneeFlexionDeg: Number.NaN, ankleDorsiflexionDeg: 3 })).toBe(false);
  });
});
