/**
 * Small 3-vector / 3x3 helpers, operation for operation as
 * training/gaitlstm/mounting/linalg.py: both sides are held to the same golden
 * vectors (test/fixtures/calibration/golden.json) to ~1e-9, which a library
 * eigen-solver on one side would break (docs/calibration.md).
 */

export type Vec3 = readonly [number, number, number];
/** Rows. */
export type Mat3 = readonly [Vec3, Vec3, Vec3];

export function normalize(v: Vec3): Vec3 {
  const n = Math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  return [v[0] / n, v[1] / n, v[2] / n];
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** Row-major 3x3 as a flat array, for the in-place loops below. */
type Flat = number[];
const el = (m: Flat, i: number, j: number): number => m[3 * i + j] ?? Number.NaN;

export interface Eigen {
  /** Descending. */
  values: Vec3;
  /** Eigenvectors as COLUMNS (vectors[k][i] = component k of eigenvector i), like numpy. */
  vectors: Mat3;
}

/**
 * Eigenvalues (descending) and eigenvectors of a symmetric 3x3 matrix: cyclic
 * Jacobi, pairs (0,1), (0,2), (1,2), stable rotation
 * t = sgn(theta) / (|theta| + sqrt(theta^2 + 1)); stops when the off-diagonal
 * sum of squares is below 1e-30 of the squared norm, or after `sweeps`.
 */
export function jacobiEigenSym3(S: Mat3, sweeps = 50): Eigen {
  const a: Flat = [S[0][0], S[0][1], S[0][2], S[1][0], S[1][1], S[1][2], S[2][0], S[2][1], S[2][2]];
  const v: Flat = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const scale =
    el(a, 0, 0) * el(a, 0, 0) + el(a, 1, 1) * el(a, 1, 1) + el(a, 2, 2) * el(a, 2, 2) +
    2.0 * (el(a, 0, 1) * el(a, 0, 1) + el(a, 0, 2) * el(a, 0, 2) + el(a, 1, 2) * el(a, 1, 2));
  const pairs: ReadonlyArray<readonly [number, number]> = [[0, 1], [0, 2], [1, 2]];
  for (let sweep = 0; sweep < sweeps; sweep++) {
    const off = el(a, 0, 1) * el(a, 0, 1) + el(a, 0, 2) * el(a, 0, 2) + el(a, 1, 2) * el(a, 1, 2);
    if (off <= 1e-30 * scale) break;
    for (const [p, q] of pairs) {
      const apq = el(a, p, q);
      if (apq === 0.0) continue;
      const theta = (el(a, q, q) - el(a, p, p)) / (2.0 * apq);
      const t = (theta >= 0.0 ? 1.0 : -1.0) / (Math.abs(theta) + Math.sqrt(theta * theta + 1.0));
      const c = 1.0 / Math.sqrt(t * t + 1.0);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = el(a, k, p), akq = el(a, k, q);
        a[3 * k + p] = c * akp - s * akq;
        a[3 * k + q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = el(a, p, k), aqk = el(a, q, k);
        a[3 * p + k] = c * apk - s * aqk;
        a[3 * q + k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = el(v, k, p), vkq = el(v, k, q);
        v[3 * k + p] = c * vkp - s * vkq;
        v[3 * k + q] = s * vkp + c * vkq;
      }
    }
  }
  // Stable sort, descending (Python's sorted with key -a_ii keeps ties in index order too).
  const order = [0, 1, 2].sort((p, q) => {
    const ap = el(a, p, p), aq = el(a, q, q);
    return aq > ap ? 1 : aq < ap ? -1 : 0;
  });
  const [i0, i1, i2] = [order[0] ?? 0, order[1] ?? 1, order[2] ?? 2];
  const values: Vec3 = [el(a, i0, i0), el(a, i1, i1), el(a, i2, i2)];
  const vectors: Mat3 = [
    [el(v, 0, i0), el(v, 0, i1), el(v, 0, i2)],
    [el(v, 1, i0), el(v, 1, i1), el(v, 1, i2)],
    [el(v, 2, i0), el(v, 2, i1), el(v, 2, i2)],
  ];
  return { values, vectors };
}

/** Element (i, j) of a Mat3 for a computed index. */
export const m3 = (M: Mat3, i: number, j: number): number => M[i]?.[j] ?? Number.NaN;

/** Angle (deg) of R = A B^T: atan2(|vee(R - R^T)| / 2, (trace R - 1) / 2), accurate near 0. */
export function rotationAngleDeg(A: Mat3, B: Mat3): number {
  const R: number[][] = [];
  for (let i = 0; i < 3; i++) {
    const row: number[] = [];
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += m3(A, i, k) * m3(B, j, k);
      row.push(s);
    }
    R.push(row);
  }
  const r = (i: number, j: number): number => R[i]?.[j] ?? Number.NaN;
  const sx = r(2, 1) - r(1, 2), sy = r(0, 2) - r(2, 0), sz = r(1, 0) - r(0, 1);
  const s = 0.5 * Math.sqrt(sx * sx + sy * sy + sz * sz);
  const c = 0.5 * (r(0, 0) + r(1, 1) + r(2, 2) - 1.0);
  return (Math.atan2(s, c) * 180) / Math.PI;
}

/** Angle (deg) between two unit vectors. */
export function axisAngleDeg(a: Vec3, b: Vec3): number {
  return (Math.acos(Math.max(-1.0, Math.min(1.0, dot(a, b)))) * 180) / Math.PI;
}

export type Quat = readonly [number, number, number, number];

/** (w, x, y, z), w >= 0, of a proper rotation matrix (Shepperd's branch on the largest term). */
export function quatFromMatrix(C: Mat3): Quat {
  const [m00, m11, m22] = [C[0][0], C[1][1], C[2][2]];
  const tr = m00 + m11 + m22;
  let q: [number, number, number, number];
  if (tr >= m00 && tr >= m11 && tr >= m22) {
    const r = Math.sqrt(1.0 + tr);
    q = [0.5 * r, (C[2][1] - C[1][2]) / (2 * r), (C[0][2] - C[2][0]) / (2 * r), (C[1][0] - C[0][1]) / (2 * r)];
  } else if (m00 >= m11 && m00 >= m22) {
    const r = Math.sqrt(1.0 + m00 - m11 - m22);
    q = [(C[2][1] - C[1][2]) / (2 * r), 0.5 * r, (C[0][1] + C[1][0]) / (2 * r), (C[0][2] + C[2][0]) / (2 * r)];
  } else if (m11 >= m22) {
    const r = Math.sqrt(1.0 + m11 - m00 - m22);
    q = [(C[0][2] - C[2][0]) / (2 * r), (C[0][1] + C[1][0]) / (2 * r), 0.5 * r, (C[1][2] + C[2][1]) / (2 * r)];
  } else {
    const r = Math.sqrt(1.0 + m22 - m00 - m11);
    q = [(C[1][0] - C[0][1]) / (2 * r), (C[0][2] + C[2][0]) / (2 * r), (C[1][2] + C[2][1]) / (2 * r), 0.5 * r];
  }
  return q[0] < 0 ? [-q[0], -q[1], -q[2], -q[3]] : q;
}

/** exp([w dt]x) as a flat row-major 3x3: the rotation a gyro reading w (rad/s) makes in dt seconds. */
export function rodrigues(w0: number, w1: number, w2: number, dt: number): Flat {
  return Array.from(rodriguesInto(w0, w1, w2, dt, new Float64Array(9)));
}

/**
 * rodrigues() written into `out` (row-major), allocating nothing: for loops
 * that integrate a gyro stream sample by sample (handedness.windowError).
 */
export function rodriguesInto(w0: number, w1: number, w2: number, dt: number, out: Float64Array): Float64Array {
  const kx = w0 * dt, ky = w1 * dt, kz = w2 * dt;
  const th2 = kx * kx + ky * ky + kz * kz;
  let s: number, c: number;
  if (th2 < 1e-24) {
    s = 1.0;
    c = 0.5;
  } else {
    const th = Math.sqrt(th2);
    s = Math.sin(th) / th;
    c = (1.0 - Math.cos(th)) / th2;
  }
  // I + s K + c K^2, K = [k]x; K^2 = k k^T - |k|^2 I, as the products of K K.
  out[0] = 1.0 + c * (-kz * kz + ky * -ky);
  out[1] = -s * kz + c * (ky * kx);
  out[2] = s * ky + c * (-kz * -kx);
  out[3] = s * kz + c * (-kx * -ky);
  out[4] = 1.0 + c * (kz * -kz + -kx * kx);
  out[5] = -s * kx + c * (kz * ky);
  out[6] = -s * ky + c * (kx * kz);
  out[7] = s * kx + c * (-ky * -kz);
  out[8] = 1.0 + c * (-ky * ky + kx * -kx);
  return out;
}

export { el };
export type { Flat };
