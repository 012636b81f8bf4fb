/** Contract step 2b's arithmetic: v_segment = C · v_sensor per placement, and when a new frame starts. */
import { describe, expect, it } from "vitest";
import type { Mat3 } from "../../edge/calibration/index.js";
import { SegmentFrames } from "../../edge/features/segmentFrames.js";

// Rows are the segment axes in sensor coordinates: sensor z is the segment's y (up), sensor x its z.
const C: Mat3 = [[0, 1, 0], [0, 0, 1], [1, 0, 0]];
const I: Mat3 = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
//              thigh: acc        gyro       foot: acc        gyro
const SAMPLE = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

describe("SegmentFrames", () => {
  it("rotates acc and gyro of each placement by its own C", () => {
    const f = new SegmentFrames(2);
    expect(f.apply(SAMPLE, (p) => (p === 0 ? C : I))).toEqual({ kind: "rotated", changed: true });
    expect([...f.out]).toEqual([2, 3, 1, 5, 6, 4, 7, 8, 9, 10, 11, 12]);
  });

  it("says changed only when a rotation is new, and withholds while one is missing", () => {
    const f = new SegmentFrames(2);
    const rotations: (Mat3 | undefined)[] = [C, undefined];
    expect(f.apply(SAMPLE, (p) => rotations[p])).toEqual({ kind: "withheld", placement: 1 });
    rotations[1] = I;
    expect(f.apply(SAMPLE, (p) => rotations[p])).toEqual({ kind: "rotated", changed: true });
    expect(f.apply(SAMPLE, (p) => rotations[p])).toEqual({ kind: "rotated", changed: false });
    rotations[0] = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]; // the same numbers, a new calibration
    expect(f.apply(SAMPLE, (p) => rotations[p])).toEqual({ kind: "rotated", changed: true });
    // Back from a withheld spell with the SAME rotations: still a new frame (the features restart).
    rotations[1] = undefined;
    expect(f.apply(SAMPLE, (p) => rotations[p]).kind).toBe("withheld");
    rotations[1] = I;
    expect(f.apply(SAMPLE, (p) => rotations[p])).toEqual({ kind: "rotated", changed: true });
  });
});
