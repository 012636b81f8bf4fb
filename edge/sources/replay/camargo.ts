/**
 * Reader for Camargo et al. 2021 IMU tables (`*_imu.csv[.gz]`), the training set.
 *
 * Header: `time,{foot,shank,thigh,trunk}_{Accel,Gyro}_{X,Y,Z}`; time in seconds,
 * accelerometer in g, gyroscope in rad/s. Every row carries one reading of every
 * sensor, so it becomes one sample per sensor, named by its placement
 * (docs/contract.md: thigh -> femur_r, shank -> tibia_r, foot -> calcn_r, trunk -> torso).
 * The thigh's accelerometer is negated on read (CAMARGO_THIGH_ACC_SIGNS), as
 * training's reader does (training/gaitlstm/io/camargo.py).
 */

import type { ImuSample, Vec3 } from "../types.js";
import { readLines, type Line, type ReadLinesOptions } from "./lines.js";
import { issueItem, parseNumber, sampleItem, withSensors, type ReaderItem, type ReplayStream } from "./types.js";

/** Standard gravity: the contract's g to m/s² factor, the same number training uses. */
export const STANDARD_GRAVITY = 9.80665;

export const CAMARGO_PLACEMENTS: Readonly<Record<string, string>> = {
  thigh: "femur_r",
  shank: "tibia_r",
  foot: "calcn_r",
  trunk: "torso",
};

/**
 * Camargo's thigh stream is a consistent mirror of a proper sensor: fitted
 * against the femur's motion (`simulate validate`), its gyro map is a proper
 * rotation and its accelerometer map is -1 times it (the accelerometer reads
 * -f). Negating all three accelerometer axes gives what a correctly wired
 * sensor in the gyro's frame reads. No test on the stream itself can see this
 * mirror (docs/calibration.md, "What the test can and cannot see"), so it is
 * fixed here by name, for every file in Camargo's naming: the file names no
 * subject, and the dataset records every subject with the same sensors.
 */
export const CAMARGO_THIGH_ACC_SIGNS: Vec3 = [-1, -1, -1];

/** Per Camargo sensor prefix, the sign of each accelerometer axis on read (1 unless fixed above). */
function accSigns(prefix: string): Vec3 {
  return prefix === "thigh" ? CAMARGO_THIGH_ACC_SIGNS : [1, 1, 1];
}

const AXES = ["X", "Y", "Z"] as const;

interface SensorColumns {
  readonly sensorId: string;
  readonly prefix: string;
  /** Column indexes of Accel_X..Z then Gyro_X..Z. */
  readonly columns: readonly number[];
  /** g -> m/s² with the sensor's accelerometer sign fix folded in. */
  readonly accScale: Vec3;
  readonly names: readonly string[];
}

/** True when a first line looks like a Camargo IMU header. */
export function looksLikeCamargoHeader(line: string): boolean {
  const names = line.split(",").map((c) => c.trim());
  return names[0]?.toLowerCase() === "time" && names.some((n) => /_Accel_X$/.test(n));
}

function sensorColumns(file: string, header: string): { sensors: SensorColumns[]; width: number } {
  const names = header.split(",").map((c) => c.trim());
  if (names[0]?.toLowerCase() !== "time") {
    throw new Error(`${file}: not a Camargo IMU table: first column must be "time", got "${names[0] ?? ""}"`);
  }
  const index = new Map(names.map((n, i) => [n, i] as const));
  const sensors: SensorColumns[] = [];
  for (const [prefix, placement] of Object.entries(CAMARGO_PLACEMENTS)) {
    const wanted = ["Accel", "Gyro"].flatMap((q) => AXES.map((a) => `${prefix}_${q}_${a}`));
    const columns = wanted.map((w) => index.get(w));
    if (columns.every((c): c is number => c !== undefined)) {
      const signs = accSigns(prefix);
      const accScale: Vec3 = [signs[0] * STANDARD_GRAVITY, signs[1] * STANDARD_GRAVITY, signs[2] * STANDARD_GRAVITY];
      sensors.push({ sensorId: placement, prefix, columns, names: wanted, accScale });
    } else if (columns.some((c) => c !== undefined)) {
      const missing = wanted.filter((_, i) => columns[i] === undefined);
      throw new Error(`${file}: Camargo sensor "${prefix}" is missing columns ${missing.join(", ")}`);
    }
  }
  if (sensors.length === 0) {
    throw new Error(`${file}: no Camargo IMU columns ({foot,shank,thigh,trunk}_{Accel,Gyro}_{X,Y,Z}) in the header`);
  }
  return { sensors, width: names.length };
}

/**
 * Opens the file and checks its header (a bad header is an Error naming the
 * file); the returned stream then yields samples in file order.
 */
export async function openCamargo(file: string, options: ReadLinesOptions = {}): Promise<ReplayStream> {
  const lines = readLines(file, options);
  const first = await lines.next();
  let layout: ReturnType<typeof sensorColumns>;
  try {
    if (first.done) throw new Error(`${file}: empty file, expected a Camargo IMU header`);
    layout = sensorColumns(file, first.value.text);
  } catch (err) {
    await lines.return();
    throw err;
  }
  return withSensors(
    camargoRows(file, lines, layout.sensors, layout.width),
    layout.sensors.map((s) => s.sensorId),
  );
}

async function* camargoRows(
  file: string,
  lines: AsyncGenerator<Line, void, undefined>,
  sensors: readonly SensorColumns[],
  width: number,
): AsyncGenerator<ReaderItem, void, undefined> {
  try {
    for await (const line of lines) {
      if (line.text.trim() === "") continue;
      const fields = line.text.split(",");
      const where = `${file}:${line.no}`;
      if (fields.length !== width) {
        yield issueItem("bad_frame", `${where}: expected ${width} fields, got ${fields.length}`);
        continue;
      }
      const time = parseNumber(fields[0]);
      if (time === undefined) {
        yield issueItem("bad_value", `${where}: time is not a number ("${fields[0] ?? ""}")`);
        continue;
      }
      const tUs = Math.round(time * 1e6);
      for (const sensor of sensors) {
        // One bad channel drops only that sensor's reading of this row.
        const values: number[] = [];
        let bad: number | undefined;
        sensor.columns.forEach((col, i) => {
          const v = parseNumber(fields[col]);
          if (v === undefined) bad ??= i;
          else values.push(v);
        });
        if (bad !== undefined) {
          const col = sensor.columns[bad] ?? 0;
          yield issueItem(
            "bad_value",
            `${where}: ${sensor.names[bad] ?? "?"} is not a number ("${fields[col] ?? ""}")`,
            sensor.sensorId,
          );
          continue;
        }
        const [ax, ay, az, gx, gy, gz] = values as [number, number, number, number, number, number];
        const [sx, sy, sz] = sensor.accScale;
        const acc: Vec3 = [ax * sx, ay * sy, az * sz];
        const sample: ImuSample = { sensorId: sensor.sensorId, tUs, acc, gyro: [gx, gy, gz] };
        yield sampleItem(sample, where);
      }
    }
  } finally {
    await lines.return();
  }
}
