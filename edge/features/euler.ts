/**
 * Quaternion and Euler-angle helpers of the feature pipeline `gait-features/1`
 * (docs/contract.md, steps 4 and 5). Every formula is written exactly as the
 * Python side (`training/gaitlstm/features.py`) writes it, operation for
 * operation, so both agree far below the golden tolerance.
 *
 * The hot path calls these once per grid sample and placement, so they take
 * plain numbers and write into caller-owned arrays instead of allocating.
 */

/** Quaternion as a 4-element array-like, w first (sensor to earth). */
export type QuatLike = ArrayLike<number>;

const TWO_PI = 2.0 * Math.PI;

/** Hamilton product `out = a ⊗ b` (w first). `out` may not alias `a` or `b`. */
export function quatMultiply(a: QuatLike, b: QuatLike, out: Float64Array): Float64Array {
  const aw = a[0]!, ax = a[1]!, ay = a[2]!, az = a[3]!;
  const bw = b[0]!, bx = b[1]!, by = b[2]!, bz = b[3]!;
  out[0] = aw * bw - ax * bx - ay * by - az * bz;
  out[1] = aw * bx + ax * bw + ay * bz - az * by;
  out[2] = aw * by - ax * bz + ay * bw + az * bx;
  out[3] = aw * bz + ax * by - ay * bx + az * bw;
  return out;
}

/**
 * ZYX Euler angles of the unit quaternion (w, x, y, z), written to
 * `out[offset..offset+3)` as roll, pitch, yaw in radians.
 */
export function eulerZYX(
  w: number,
  x: number,
  y: number,
  z: number,
  out: Float64Array,
  offset = 0,
): void {
  out[offset] = Math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y));
  // clamp: a normalised quaternion can still give 1 + 1e-16 here, and asin would be NaN
  const s = 2.0 * (w * y - z * x);
  out[offset + 1] = Math.asin(s < -1.0 ? -1.0 : s > 1.0 ? 1.0 : s);
  out[offset + 2] = Math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z));
}

/**
 * Wrap radians into (-π, π]. Same arithmetic as numpy's
 * `np.mod(a + π, 2π) - π` (fmod, then shifted into the divisor's sign), with
 * -π mapped to +π.
 */
export function wrapAngle(a: number): number {
  let m = (a + Math.PI) % TWO_PI;
  if (m < 0) m += TWO_PI;
  const w = m - Math.PI;
  return w === -Math.PI ? Math.PI : w;
}
