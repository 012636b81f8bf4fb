import { describe, expect, it } from "vitest";
import { eulerZYX, quatMultiply, wrapAngle } from "../../edge/features/euler.js";

const axisAngle = (ax: number, ay: number, az: number, angle: number): Float64Array =>
  Float64Array.from([Math.cos(angle / 2), ax * Math.sin(angle / 2), ay * Math.sin(angle / 2), az * Math.sin(angle / 2)]);

function euler(q: ArrayLike<number>): number[] {
  const out = new Float64Array(3);
  eulerZYX(q[0]!, q[1]!, q[2]!, q[3]!, out);
  return Array.from(out);
}

describe("quatMultiply", () => {
  it("composes rotations about the same axis by adding angles", () => {
    const out = quatMultiply(axisAngle(0, 0, 1, 0.3), axisAngle(0, 0, 1, 0.4), new Float64Array(4));
    const want = axisAngle(0, 0, 1, 0.7);
    for (let i = 0; i < 4; i++) expect(out[i]).toBeCloseTo(want[i]!, 14);
  });

  it("is the Hamilton product (i*j = k, j*i = -k)", () => {
    const i = [0, 1, 0, 0], j = [0, 0, 1, 0];
    expect(Array.from(quatMultiply(i, j, new Float64Array(4)))).toEqual([0, 0, 0, 1]);
    expect(Array.from(quatMultiply(j, i, new Float64Array(4)))).toEqual([0, 0, 0, -1]);
  });
});

describe("eulerZYX", () => {
  it("reads roll, pitch and yaw of single-axis rotations", () => {
    expect(euler(axisAngle(1, 0, 0, 0.5))[0]).toBeCloseTo(0.5, 14);
    expect(euler(axisAngle(0, 1, 0, 0.5))[1]).toBeCloseTo(0.5, 14);
    expect(euler(axisAngle(0, 0, 1, -2.5))[2]).toBeCloseTo(-2.5, 14);
  });

  it("follows the ZYX sequence: q = Rz(yaw) Ry(pitch) Rx(roll)", () => {
    const tmp = new Float64Array(4), q = new Float64Array(4);
    quatMultiply(axisAngle(0, 0, 1, 1.0), axisAngle(0, 1, 0, 0.2), tmp);
    quatMultiply(tmp, axisAngle(1, 0, 0, -0.4), q);
    const [roll, pitch, yaw] = euler(q);
    expect(roll).toBeCloseTo(-0.4, 12);
    expect(pitch).toBeCloseTo(0.2, 12);
    expect(yaw).toBeCloseTo(1.0, 12);
  });

  it("clamps the pitch argument instead of returning NaN at ±90°", () => {
    // 2(wy - zx) slightly above 1 through rounding
    const s = Math.SQRT1_2 + 1e-16;
    expect(Number.isNaN(euler([s, 0, s, 0])[1])).toBe(false);
    expect(euler([s, 0, s, 0])[1]).toBeCloseTo(Math.PI / 2, 7);
  });
});

describe("wrapAngle", () => {
  it("wraps into (-π, π] like the training side", () => {
    expect(wrapAngle(0)).toBe(0);
    expect(wrapAngle(Math.PI)).toBe(Math.PI);
    expect(wrapAngle(-Math.PI)).toBe(Math.PI);
    expect(wrapAngle(3 * Math.PI)).toBeCloseTo(Math.PI, 12);
    expect(wrapAngle(-1.5 * Math.PI)).toBeCloseTo(0.5 * Math.PI, 12);
    expect(wrapAngle(2 * Math.PI + 0.25)).toBeCloseTo(0.25, 12);
    expect(wrapAngle(-0.25)).toBe(-0.25);
  });
});
