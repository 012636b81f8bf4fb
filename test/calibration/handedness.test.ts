/**
 * windowError keeps R and each step's rotation in scalars (for speed); the
 * matrix form it replaced, with linalg.rodrigues, is the reference here.
 */
import { describe, expect, it } from "vitest";
import { G, windowError } from "../../edge/calibration/handedness.js";
import { el, rodrigues, type Vec3 } from "../../edge/calibration/linalg.js";

function referenceWindowError(acc: readonly Vec3[], gyro: readonly Vec3[], start: number, n: number, sign: number, dt: number): number {
  let R = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  let mx = 0, my = 0, mz = 0;
  for (let k = start; k < start + n; k++) {
    const [a0, a1, a2] = acc[k] ?? [Number.NaN, Number.NaN, Number.NaN];
    mx += el(R, 0, 0) * a0 + el(R, 0, 1) * a1 + el(R, 0, 2) * a2;
    my += el(R, 1, 0) * a0 + el(R, 1, 1) * a1 + el(R, 1, 2) * a2;
    mz += el(R, 2, 0) * a0 + el(R, 2, 1) * a1 + el(R, 2, 2) * a2;
    const g = gyro[k] ?? [Number.NaN, Number.NaN, Number.NaN];
    const E = rodrigues(sign * g[0], sign * g[1], sign * g[2], dt);
    const next = new Array<number>(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) next[3 * i + j] = el(R, i, 0) * el(E, 0, j) + el(R, i, 1) * el(E, 1, j) + el(R, i, 2) * el(E, 2, j);
    R = next;
  }
  const e = Math.hypot(mx / n, my / n, mz / n) - G;
  return e * e;
}

/** A swinging limb's stream: a few rad/s about a tilted axis, gravity plus motion in the sensor frame. */
function stream(n: number, seed: number): { acc: Vec3[]; gyro: Vec3[] } {
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
  const acc: Vec3[] = [], gyro: Vec3[] = [];
  for (let k = 0; k < n; k++) {
    const t = k / 100;
    gyro.push([3 * Math.sin(2 * Math.PI * t) + 0.1 * rnd(), 0.5 * Math.cos(4 * Math.PI * t) + 0.1 * rnd(), 0.2 * rnd()]);
    acc.push([G * Math.sin(0.6 * Math.sin(2 * Math.PI * t)) + rnd(), G * Math.cos(0.6 * Math.sin(2 * Math.PI * t)) + rnd(), 0.3 * rnd()]);
  }
  // A still sample (zero rotation: the small-angle branch).
  gyro[7] = [0, 0, 0];
  return { acc, gyro };
}

describe("windowError", () => {
  it("equals the matrix form (rodrigues, 3x3 products) for both signs and any start", () => {
    const { acc, gyro } = stream(1000, 3);
    for (const sign of [1, -1]) {
      for (const start of [0, 200, 600]) {
        const want = referenceWindowError(acc, gyro, start, 400, sign, 0.01);
        const got = windowError(acc, gyro, start, 400, sign, 0.01);
        expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, want));
      }
    }
  });

  it("a window past the stream's end is NaN, as before", () => {
    const { acc, gyro } = stream(300, 5);
    expect(windowError(acc, gyro, 0, 400, 1, 0.01)).toBeNaN();
    expect(referenceWindowError(acc, gyro, 0, 400, 1, 0.01)).toBeNaN();
  });
});
