/**
 * Recorded angles and orientations as tables, and tables as OpenSim `.mot`,
 * OpenSense `.sto` and CSV text. Pure: no I/O.
 *
 * Signs. The edge publishes docs/contract.md's conventions (knee_flexion_r
 * positive in flexion, ankle_dorsiflexion_r positive in dorsiflexion). The
 * `.mot` speaks OpenSim coordinates in the gait2392/Camargo convention, the
 * one our own reader (training/gaitlstm/io/opensim.py) converts back:
 *
 *   hip_flexion/adduction/rotation_<s>  unchanged
 *   knee_flexion_<s>                    -> knee_angle_<s>  NEGATED (gait2392: negative in flexion)
 *   ankle_dorsiflexion_<s>              -> ankle_angle_<s> unchanged
 *   anything else                       unchanged
 *
 * Time. Both files run on the device clock (the samples' `t`, the angles'
 * `sensorTimeUs`) from one origin, the recording's earliest device time, so
 * the `.mot` and the `.sto` line up row for row. Angles recorded without
 * `sensorTimeUs` fall back to their wall time `t`, from the first message.
 */
import type { AnglesRecord } from "./recording.js";

export const DEFAULT_WEARER = "default";

export interface AngleTable {
  readonly wearer: string;
  /** Project joint names (docs/contract.md), the column order of `angles`. */
  readonly joints: readonly string[];
  /** Whole µs from the origin, strictly increasing. */
  readonly timeUs: readonly number[];
  /** Unix ms when the edge computed each row (for the CSV). */
  readonly unixMs: readonly number[];
  readonly angles: ReadonlyArray<readonly number[]>;
  /** Which clock `timeUs` is on. */
  readonly clock: "device" | "wall";
  /** Rows left out: time not after the previous row (a clock restart, a repeated window) or other joints than the first message's. */
  readonly skipped: number;
}

/** One table per wearer, in order of first appearance. `originUs`: the device-clock origin, if the recording has one. */
export function angleTables(records: readonly AnglesRecord[], originUs: number | undefined): AngleTable[] {
  const byWearer = new Map<string, AnglesRecord[]>();
  for (const r of records) {
    const w = r.wearer ?? DEFAULT_WEARER;
    byWearer.set(w, [...(byWearer.get(w) ?? []), r]);
  }
  return [...byWearer].map(([wearer, list]) => angleTable(wearer, list, originUs));
}

function angleTable(wearer: string, list: readonly AnglesRecord[], originUs: number | undefined): AngleTable {
  const joints = list[0]!.joints;
  const device = list.every((r) => r.sensorTimeUs !== undefined);
  const origin = device ? (originUs ?? list[0]!.sensorTimeUs![0]!) : list[0]!.t[0]! * 1000;
  const rows: Array<{ us: number; unixMs: number; angles: readonly number[] }> = [];
  let skipped = 0;
  for (const r of list) {
    if (!sameJoints(r.joints, joints)) {
      skipped += r.t.length;
      continue;
    }
    r.t.forEach((unixMs, i) => {
      const us = Math.round((device ? r.sensorTimeUs![i]! : unixMs * 1000) - origin);
      rows.push({ us, unixMs, angles: r.angles[i]! });
    });
  }
  // Stable sort by time, then keep strictly increasing times only (OpenSim refuses the rest).
  rows.sort((a, b) => a.us - b.us);
  const kept = rows.filter((row, i) => i === 0 || row.us > rows[i - 1]!.us);
  skipped += rows.length - kept.length;
  return {
    wearer,
    joints,
    timeUs: kept.map((r) => r.us),
    unixMs: kept.map((r) => r.unixMs),
    angles: kept.map((r) => r.angles),
    clock: device ? "device" : "wall",
    skipped,
  };
}

function sameJoints(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((j, i) => j === b[i]);
}

/** Project joint -> OpenSim coordinate name and the factor that converts the value. */
export function openSimCoordinate(joint: string): { name: string; sign: 1 | -1 } {
  const m = /^(knee_flexion|ankle_dorsiflexion)_([rl])$/.exec(joint);
  if (!m) return { name: joint, sign: 1 };
  return m[1] === "knee_flexion" ? { name: `knee_angle_${m[2]}`, sign: -1 } : { name: `ankle_angle_${m[2]}`, sign: 1 };
}

/** Shortest text that reads back as the same double; never "-0". */
export function num(x: number): string {
  return x === 0 ? "0" : String(x);
}

/** Whole µs as seconds: exact decimal text (an integer over 1e6 rounds to the nearest double, whose shortest form is the decimal). */
const seconds = (us: number): string => num(us / 1e6);

/** OpenSim 4 motion file, degrees, tab-separated (what IK writes and OpenSim's GUI loads). */
export function motText(table: AngleTable, name = "Coordinates"): string {
  const coords = table.joints.map(openSimCoordinate);
  const lines = [
    name,
    "version=1",
    `nRows=${table.timeUs.length}`,
    `nColumns=${coords.length + 1}`,
    "inDegrees=yes",
    "endheader",
    ["time", ...coords.map((c) => c.name)].join("\t"),
  ];
  table.timeUs.forEach((us, i) => {
    const row = table.angles[i]!;
    lines.push([seconds(us), ...coords.map((c, j) => num(c.sign * row[j]!))].join("\t"));
  });
  return lines.join("\n") + "\n";
}

/** The project's own angles (docs/contract.md signs), one row per sample. */
export function anglesCsvText(table: AngleTable): string {
  const lines = [["time_s", "unix_ms", ...table.joints].join(",")];
  table.timeUs.forEach((us, i) => lines.push([seconds(us), num(table.unixMs[i]!), ...table.angles[i]!.map(num)].join(",")));
  return lines.join("\n") + "\n";
}

export interface OrientationTable {
  readonly wearer: string;
  /** Placements, the column order of `quats`. */
  readonly placements: readonly string[];
  readonly timeUs: readonly number[];
  /** [row][placement] = [w, x, y, z], sensor to earth. */
  readonly quats: ReadonlyArray<ReadonlyArray<readonly [number, number, number, number]>>;
}

/**
 * OpenSense orientations (`IMUPlacer`/`IMUInverseKinematicsTool` input), the
 * layout of training/tests/fixtures/opensim/imuOrientations.sto: one
 * `w,x,y,z` cell per sensor, columns `<placement>_imu` (OpenSense pairs them
 * with the model's bodies by that name).
 */
export function stoText(table: OrientationTable): string {
  const lines = ["DataType=Quaternion", "version=3", "OpenSimVersion=4.1", "endheader", ["time", ...table.placements.map((p) => `${p}_imu`)].join("\t")];
  table.timeUs.forEach((us, i) => lines.push([seconds(us), ...table.quats[i]!.map((q) => q.map(num).join(","))].join("\t")));
  return lines.join("\n") + "\n";
}

/** Orientations on the `.mot`'s time axis: whole µs from `originUs`, strictly increasing (a clock restart's rows are left out). */
export function shiftOrientations(table: OrientationTable, originUs: number): { table: OrientationTable; skipped: number } {
  const timeUs: number[] = [];
  const quats: Array<OrientationTable["quats"][number]> = [];
  table.timeUs.forEach((t, i) => {
    const us = Math.round(t - originUs);
    if (timeUs.length && us <= timeUs[timeUs.length - 1]!) return;
    timeUs.push(us);
    quats.push(table.quats[i]!);
  });
  return { table: { ...table, timeUs, quats }, skipped: table.timeUs.length - timeUs.length };
}
