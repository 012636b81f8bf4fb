/**
 * Reader for Xsens MT Manager text exports (`MT_<...>_<deviceId>.txt`), the format
 * of the OpenSense example data: one file per sensor.
 *
 * The export has many variants (see test/fixtures/replay/README.md): `//` header
 * lines, a column header row, tab / space / semicolon / comma separators, optional
 * columns (SampleTimeFine, UTC, Mag, Quat, Mat, Euler), empty or `NaN` fields.
 * We read only what the contract needs: Acc_* (m/s²) and Gyr_* (rad/s), plus
 * Quat_q0..q3 when present. Mag_* is not emitted: Xsens writes it in arbitrary
 * units normalised to the field at calibration, not the contract's µT.
 *
 * Time: SampleTimeFine (10 kHz ticks, u32, wraps) when the file has it;
 * otherwise PacketCounter (u16, wraps) divided by the update rate (the
 * `// Update Rate:` header line, else the configured rate). Both are absolute
 * device counts, so the files of one recording stay aligned when merged.
 */

import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { ImuSample, Quat } from "../types.js";
import { readLines, type Line } from "./lines.js";
import { issueItem, parseNumber, sampleItem, withSensors, type ReaderItem, type ReplayStream } from "./types.js";

export interface XsensOptions {
  /** sensorId for the samples; default: the device id in the file name. */
  readonly sensorId?: string;
  /** Rate used with PacketCounter when the file states none, Hz. */
  readonly rateHz: number;
  /** Line cap (lines.ts). */
  readonly maxLineLength?: number;
}

const STF_TICK_US = 100; // SampleTimeFine counts 10 kHz ticks
const STF_MOD = 2 ** 32;
const COUNTER_MOD = 2 ** 16;

/** True when a first line looks like an Xsens export. */
export function looksLikeXsens(line: string): boolean {
  return line.startsWith("//") || /\bPacketCounter\b/.test(line) || /\bAcc_X\b/.test(line);
}

/** `MT_012005D6_009-001_00B421EF.txt` -> `00B421EF`; other names -> the name without extension. */
export function xsensSensorIdFromName(file: string): string {
  const name = basename(file).replace(/\.txt(\.gz)?$/i, "");
  const match = /_([0-9A-Fa-f]{8})$/.exec(name);
  return match?.[1] ?? name;
}

/**
 * Parses an OpenSense `myIMUMappings.xml`: device id -> placement, where
 * `<ExperimentalSensor name="_00B4227C"><name_in_model>femur_r_imu</name_in_model>`
 * gives `00B4227C -> femur_r` (the model's IMU frame name without `_imu`).
 */
export function parseXsensMappings(xml: string): Map<string, string> {
  const map = new Map<string, string>();
  const sensor = /<ExperimentalSensor\s+name\s*=\s*"([^"]+)"\s*>([\s\S]*?)<\/ExperimentalSensor>/g;
  for (const m of xml.matchAll(sensor)) {
    const model = /<name_in_model>\s*([^<]*?)\s*<\/name_in_model>/.exec(m[2] ?? "");
    const id = (m[1] ?? "").replace(/^_/, "");
    if (model?.[1] && id) map.set(id, model[1].replace(/_imu$/, ""));
  }
  return map;
}

export async function readXsensMappings(file: string): Promise<Map<string, string>> {
  let xml: string;
  try {
    xml = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`${file}: cannot read Xsens mapping file: ${(err as Error).message}`, { cause: err });
  }
  const map = parseXsensMappings(xml);
  if (map.size === 0) throw new Error(`${file}: no <ExperimentalSensor> with <name_in_model> found`);
  return map;
}

type Separator = "\t" | ";" | "," | " ";

function detectSeparator(header: string): Separator {
  if (header.includes("\t")) return "\t";
  if (header.includes(";")) return ";";
  if (header.includes(",")) return ",";
  return " ";
}

interface Layout {
  readonly separator: Separator;
  readonly width: number;
  readonly acc: readonly [number, number, number];
  readonly gyro: readonly [number, number, number];
  readonly quat?: readonly [number, number, number, number];
  readonly sampleTimeFine?: number;
  readonly packetCounter?: number;
  readonly rateHz: number;
}

function columns(index: Map<string, number>, names: readonly string[]): number[] | undefined {
  const found = names.map((n) => index.get(n));
  return found.every((i): i is number => i !== undefined) ? found : undefined;
}

function layoutFrom(file: string, header: string, rateHz: number): Layout {
  const separator = detectSeparator(header);
  const names = header.split(separator).map((n) => n.trim());
  while (names.length > 0 && names[names.length - 1] === "") names.pop();
  const index = new Map(names.map((n, i) => [n, i] as const));
  const acc = columns(index, ["Acc_X", "Acc_Y", "Acc_Z"]);
  const gyro = columns(index, ["Gyr_X", "Gyr_Y", "Gyr_Z"]);
  const quat = columns(index, ["Quat_q0", "Quat_q1", "Quat_q2", "Quat_q3"]);
  if (!gyro) throw new Error(`${file}: no gyroscope columns (Gyr_X..): the runtime needs angular rate`);
  if (!acc) throw new Error(`${file}: no accelerometer columns (Acc_X..): the runtime needs specific force`);
  const sampleTimeFine = index.get("SampleTimeFine");
  const packetCounter = index.get("PacketCounter");
  if (sampleTimeFine === undefined && packetCounter === undefined) {
    throw new Error(`${file}: no time column (SampleTimeFine or PacketCounter)`);
  }
  return {
    separator,
    width: names.length,
    acc: acc as [number, number, number],
    gyro: gyro as [number, number, number],
    ...(quat ? { quat: quat as [number, number, number, number] } : {}),
    ...(sampleTimeFine !== undefined ? { sampleTimeFine } : {}),
    ...(packetCounter !== undefined ? { packetCounter } : {}),
    rateHz,
  };
}

/**
 * Opens the file and reads its header (Error naming the file if it has no
 * column row, no gyroscope, no accelerometer or no time column); the stream
 * then yields one sample per data row.
 */
export async function openXsens(file: string, options: XsensOptions): Promise<ReplayStream> {
  const lines = readLines(file, options.maxLineLength === undefined ? {} : { maxLineLength: options.maxLineLength });
  let layout: Layout | undefined;
  try {
    let rateHz = options.rateHz;
    for (;;) {
      const next = await lines.next();
      if (next.done) throw new Error(`${file}: no column header row (PacketCounter, Acc_X, ...) found`);
      const text = next.value.text;
      if (text.trim() === "") continue;
      if (text.startsWith("//")) {
        const rate = /Update Rate:\s*([0-9.]+)\s*Hz/i.exec(text);
        const parsed = parseNumber(rate?.[1]);
        if (parsed !== undefined && parsed > 0) rateHz = parsed;
        continue;
      }
      layout = layoutFrom(file, text, rateHz);
      break;
    }
  } catch (err) {
    await lines.return();
    throw err;
  }
  const sensorId = options.sensorId ?? xsensSensorIdFromName(file);
  return withSensors(xsensRows(file, lines, layout, sensorId), [sensorId]);
}

/** Unwraps a counter that wraps at `mod`: a big step backwards is a wrap, not a rewind. */
class Unwrapper {
  private previous: number | undefined;
  private offset = 0;
  constructor(private readonly mod: number) {}
  next(raw: number): number {
    if (this.previous !== undefined && raw < this.previous - this.mod / 2) this.offset += this.mod;
    this.previous = raw;
    return raw + this.offset;
  }
}

async function* xsensRows(
  file: string,
  lines: AsyncGenerator<Line, void, undefined>,
  layout: Layout,
  sensorId: string,
): AsyncGenerator<ReaderItem, void, undefined> {
  // The time column is chosen on the first row that has one: some exports keep
  // a SampleTimeFine header over empty or NaN fields.
  let clock: "fine" | "counter" | undefined;
  const fine = new Unwrapper(STF_MOD);
  const counter = new Unwrapper(COUNTER_MOD);
  try {
    for await (const line of lines) {
      if (line.text.trim() === "" || line.text.startsWith("//")) continue;
      const where = `${file}:${line.no}`;
      const fields = line.text.split(layout.separator);
      if (fields.length > layout.width && fields.slice(layout.width).every((f) => f.trim() === "")) {
        fields.length = layout.width; // a trailing separator
      }
      if (fields.length !== layout.width) {
        yield issueItem("bad_frame", `${where}: expected ${layout.width} fields, got ${fields.length}`, sensorId);
        continue;
      }

      const stf = layout.sampleTimeFine === undefined ? undefined : parseNumber(fields[layout.sampleTimeFine]);
      const packet = layout.packetCounter === undefined ? undefined : parseNumber(fields[layout.packetCounter]);
      clock ??= stf !== undefined ? "fine" : packet !== undefined ? "counter" : undefined;
      let tUs: number | undefined;
      if (clock === "fine" && stf !== undefined) tUs = fine.next(stf) * STF_TICK_US;
      if (clock === "counter" && packet !== undefined) tUs = Math.round((counter.next(packet) * 1e6) / layout.rateHz);
      if (tUs === undefined) {
        const name = clock === "counter" ? "PacketCounter" : "SampleTimeFine";
        yield issueItem("bad_value", `${where}: no time (${name} is not a number)`, sensorId);
        continue;
      }

      const acc = layout.acc.map((i) => parseNumber(fields[i]));
      const gyro = layout.gyro.map((i) => parseNumber(fields[i]));
      const badAt = [...acc, ...gyro].findIndex((v) => v === undefined);
      if (badAt >= 0) {
        const name = ["Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z"][badAt] ?? "?";
        const col = [...layout.acc, ...layout.gyro][badAt] ?? 0;
        yield issueItem("bad_value", `${where}: ${name} is not a number ("${fields[col] ?? ""}")`, sensorId);
        continue;
      }
      const [ax, ay, az] = acc as [number, number, number];
      const [gx, gy, gz] = gyro as [number, number, number];
      // The device's orientation is optional in the contract: a NaN quaternion is dropped, not the row.
      const q = layout.quat?.map((i) => parseNumber(fields[i]));
      const quat = q && q.every((v) => v !== undefined) ? (q as unknown as Quat) : undefined;
      const sample: ImuSample = {
        sensorId,
        tUs,
        ...(packet !== undefined ? { seq: packet } : {}),
        acc: [ax, ay, az],
        gyro: [gx, gy, gz],
        ...(quat ? { quat } : {}),
      };
      yield sampleItem(sample, where);
    }
  } finally {
    await lines.return();
  }
}
