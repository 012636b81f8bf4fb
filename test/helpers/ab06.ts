/**
 * The shipped AB06 trial (data/ab06) as routed samples, read synchronously
 * for module tests: thigh -> femur_r, foot -> calcn_r, 200 Hz, accelerometer
 * g -> m/s² and the thigh's accelerometer negated (as the replay source
 * converts it: CAMARGO_THIGH_ACC_SIGNS).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import type { Placement } from "../../edge/contract/manifest.js";
import type { RoutedSample } from "../../edge/core/events.js";
import { CAMARGO_THIGH_ACC_SIGNS } from "../../edge/sources/replay/camargo.js";
import type { Vec3 } from "../../edge/sources/types.js";

export const AB06_TRIAL = "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz";
const G = 9.80665;

export interface Ab06Row {
  tUs: number;
  thigh: { acc: Vec3; gyro: Vec3 };
  foot: { acc: Vec3; gyro: Vec3 };
}

let cache: Ab06Row[] | undefined;

export function ab06Rows(): Ab06Row[] {
  if (cache) return cache;
  const lines = gunzipSync(readFileSync(path.resolve(AB06_TRIAL))).toString("utf8").trim().split("\n");
  const names = lines[0]!.split(",");
  const col = (n: string): number => names.indexOf(n);
  const idx = (p: string): number[] => ["Accel_X", "Accel_Y", "Accel_Z", "Gyro_X", "Gyro_Y", "Gyro_Z"].map((a) => col(`${p}_${a}`));
  const th = idx("thigh"), ft = idx("foot");
  const part = (f: number[], c: number[], s: Vec3 = [1, 1, 1]): { acc: Vec3; gyro: Vec3 } => ({
    acc: [f[c[0]!]! * G * s[0], f[c[1]!]! * G * s[1], f[c[2]!]! * G * s[2]],
    gyro: [f[c[3]!]!, f[c[4]!]!, f[c[5]!]!],
  });
  cache = lines.slice(1).map((l) => {
    const f = l.split(",").map(Number);
    return { tUs: Math.round(f[0]! * 1e6), thigh: part(f, th, CAMARGO_THIGH_ACC_SIGNS), foot: part(f, ft) };
  });
  return cache;
}

/** v_new = Q v_old: the same motion read by a sensor turned by Q. */
export function turn(Q: readonly Vec3[], v: Vec3): Vec3 {
  return [0, 1, 2].map((i) => Q[i]![0] * v[0] + Q[i]![1] * v[1] + Q[i]![2] * v[2]) as unknown as Vec3;
}

/**
 * The trial as routed samples, `repeat` times back to back (the trial walks
 * 17 s; the copies are shifted in time so the clock keeps going 5 ms a step).
 * `thighId`/`footId` name the sensors; `mount(placement, k)` may turn a sample (remount).
 */
export function ab06Samples(options: {
  repeat?: number;
  wearer?: string;
  thighAs?: Placement;
  footAs?: Placement;
  mount?: (placement: "thigh" | "foot", k: number) => readonly Vec3[] | undefined;
} = {}): RoutedSample[] {
  const rows = ab06Rows();
  const span = rows.at(-1)!.tUs - rows[0]!.tUs + 5000;
  const out: RoutedSample[] = [];
  let k = 0;
  for (let r = 0; r < (options.repeat ?? 1); r++) {
    for (const row of rows) {
      const tUs = row.tUs + r * span;
      for (const which of ["thigh", "foot"] as const) {
        const placement = which === "thigh" ? options.thighAs ?? "femur_r" : options.footAs ?? "calcn_r";
        const Q = options.mount?.(which, k);
        const s = row[which];
        out.push({
          wearer: options.wearer ?? "default",
          placement,
          sample: { sensorId: which === "thigh" ? "femur_r" : "calcn_r", tUs, acc: Q ? turn(Q, s.acc) : s.acc, gyro: Q ? turn(Q, s.gyro) : s.gyro },
        });
      }
      k++;
    }
  }
  return out;
}
