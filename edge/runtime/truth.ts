/**
 * Reference joint angles for the demo's accuracy check: a Camargo `*_ik.csv[.gz]`
 * file in the project's sign convention (docs/contract.md), and RMSE of a
 * published angle stream against it, interpolated at the stream's grid times
 * exactly as `make evaluate` does.
 */
import { readLines } from "../sources/replay/lines.js";

/** Project joint name -> (Camargo column, sign). Camargo's knee flexion is negative. */
const CAMARGO_COLUMNS: Record<string, [string, number]> = {
  hip_flexion_r: ["hip_flexion_r", 1],
  hip_adduction_r: ["hip_adduction_r", 1],
  hip_rotation_r: ["hip_rotation_r", 1],
  knee_flexion_r: ["knee_angle_r", -1],
  ankle_dorsiflexion_r: ["ankle_angle_r", 1],
  hip_flexion_l: ["hip_flexion_l", 1],
  hip_adduction_l: ["hip_adduction_l", 1],
  hip_rotation_l: ["hip_rotation_l", 1],
  knee_flexion_l: ["knee_angle_l", -1],
  ankle_dorsiflexion_l: ["ankle_angle_l", 1],
};

export interface ReferenceAngles {
  /** Seconds. */
  readonly t: Float64Array;
  readonly joints: Readonly<Record<string, Float64Array>>;
}

export async function readCamargoAngles(file: string, joints: readonly string[]): Promise<ReferenceAngles> {
  let header: string[] | undefined;
  let cols: number[] = [];
  const t: number[] = [];
  const values: number[][] = joints.map(() => []);
  for await (const line of readLines(file)) {
    if (!header) {
      header = line.text.trim().split(",");
      const missing: string[] = [];
      cols = joints.map((j) => {
        const spec = CAMARGO_COLUMNS[j];
        const i = spec ? header!.indexOf(spec[0]) : -1;
        if (i < 0) missing.push(spec ? spec[0] : j);
        return i;
      });
      if (header[0] !== "time") missing.unshift("time");
      if (missing.length) throw new Error(`${file}: missing column(s) ${missing.join(", ")}`);
      continue;
    }
    if (!line.text.trim()) continue;
    const f = line.text.split(",");
    const time = Number(f[0]);
    if (!Number.isFinite(time)) throw new Error(`${file} line ${line.no}, column 'time': non-numeric value '${f[0]}'`);
    t.push(time);
    cols.forEach((c, k) => {
      const [column, sign] = CAMARGO_COLUMNS[joints[k]!]!;
      const v = Number(f[c]);
      if (f[c] === undefined || f[c].trim() === "" || !Number.isFinite(v)) {
        throw new Error(`${file} line ${line.no}, column '${column}': not a number ('${f[c] ?? ""}')`);
      }
      values[k]!.push(sign * v);
    });
  }
  if (t.length < 2) throw new Error(`${file}: fewer than two rows of joint angles`);
  return { t: Float64Array.from(t), joints: Object.fromEntries(joints.map((j, k) => [j, Float64Array.from(values[k]!)])) };
}

/** numpy.interp: linear, clamped at the ends. */
export function interp(x: number, xs: Float64Array, ys: Float64Array): number {
  const n = xs.length;
  if (x <= xs[0]!) return ys[0]!;
  if (x >= xs[n - 1]!) return ys[n - 1]!;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! <= x) lo = mid;
    else hi = mid;
  }
  const slope = (ys[hi]! - ys[lo]!) / (xs[hi]! - xs[lo]!);
  return slope * (x - xs[lo]!) + ys[lo]!;
}

/** Accumulates squared errors of published samples against the reference. */
export class RmseMeter {
  private readonly sq: number[];
  private n = 0;

  constructor(
    private readonly reference: ReferenceAngles,
    readonly joints: readonly string[],
  ) {
    this.sq = joints.map(() => 0);
  }

  /** One published sample: its grid time (µs, the trial's clock) and angles in `joints` order. */
  add(sensorTimeUs: number, angles: readonly number[]): void {
    const ts = sensorTimeUs / 1e6;
    this.joints.forEach((j, k) => {
      const e = angles[k]! - interp(ts, this.reference.t, this.reference.joints[j]!);
      this.sq[k]! += e * e;
    });
    this.n += 1;
  }

  get samples(): number {
    return this.n;
  }

  result(): { joints: Record<string, number>; mean: number } {
    const joints = Object.fromEntries(this.joints.map((j, k) => [j, Math.sqrt(this.sq[k]! / this.n)]));
    const vals = Object.values(joints);
    return { joints, mean: vals.reduce((a, b) => a + b, 0) / vals.length };
  }
}
