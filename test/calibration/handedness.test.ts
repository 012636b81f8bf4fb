/**
 * windowError keeps R in scalars and each step's rotation in one scratch
 * (linalg.rodriguesInto, for speed); the matrix form it replaced (I + s K +
 * c K K as 3x3 products, a new array per sample) is the reference here.
 */
import { describe, expect, it } from "vitest";
import { G, windowError } from "../../edge/calibration/handedness.js";
import { el, rodrigues, type Vec3 } from "../../edge/calibration/linalg.js";

/** exp([w dt]x) as the 3x3 products the original rodrigues() summed. */
function matrixRodrigues(w0: number, w1: number, w2: number, dt: number): number[] {
  const kx = w0 * dt, ky = w1 * dt, kz = w2 * dt;
  const th2 = kx * kx + ky * ky + kz * kz;
  const th = Math.sqrt(th2);
  const s = th2 < 1e-24 ? 1.0 : Math.sin(th) / th, c = th2 < 1e-24 ? 0.5 : (1.0 - Math.cos(th)) / th2;
  const K = [0.0, -kz, ky, kz, 0.0, -kx, -ky, kx, 0.0];
  const out = new Array<number>(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let k2 = 0;
      for (let m = 0; m < 3; m++) k2 += el(K, i, m) * el(K, m, j);
      out[3 * i + j] = (i === j ? 1.0 : 0.0) + s * el(K, i, j) + c * k2;
    }
  }
  return out;
}

function referenceWindowError(acc: readonly Vec3[], gyro: readonly Vec3[], start: number, n: number, sign: number, dt: number): number {
  let R = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  let mx = 0, my = 0, mz = 0;
  for (let k = start; k < start + n; k++) {
    const [a0, a1, a2] = acc[k] ?? [Number.NaN, Number.NaN, Number.NaN];
    mx += el(R, 0, 0) * a0 + el(R, 0, 1) * a1 + el(R, 0, 2) * a2;
    my += el(R, 1, 0) * a0 + el(R, 1, 1) * a1 + el(R, 1, 2) * a2;
    mz += el(R, 2, 0) * a0 + el(R, 2, 1) * a1 + el(R, 2, 2) * a2;
    const g = gyro[k] ?? [Number.NaN, Number.NaN, Number.NaN];
    const E = matrixRodrigues(sign * g[0], sign * g[1], sign * g[2], dt);
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

describe("rodrigues", () => {
  it("equals the 3x3 product form, the still (small-angle) branch too", () => {
    for (const w of [[3, -0.5, 0.2], [0, 0, 0], [1e-14, 0, 0], [-7, 2, 11]] as const) {
      const got = rodrigues(w[0], w[1], w[2], 0.01), want = matrixRodrigues(w[0], w[1], w[2], 0.01);
      got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-15));
    }
  });
});

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
