/**
 * The plain-text alternative to the binary frame, for boards whose firmware
 * is a `printf` loop (docs/serial-protocol.md, "CSV line mode"). One line per
 * sample:
 *
 *   sensorId,seq,t_us,ax,ay,az,gx,gy,gz[,mx,my,mz][*cs]
 *
 * `*cs`, optional, is a checksum over every character before the `*`: two
 * hex digits are the NMEA XOR of the bytes, four the CRC-16/CCITT-FALSE of
 * the binary frame. Without one a digit changed in transit is a valid line
 * with a wrong value (issue #13: the fuzz accepted 41 225 such lines in 10^6);
 * with one it is a bad line. Once a stream has carried a valid checksum,
 * a line without one is damaged (its `*cs` cut off), not a plain line: the
 * parser then requires it for the rest of the stream.
 *
 * Lines starting with `#` are comments; a header line (first field
 * `sensorId`) may appear at any time, e.g. reprinted after a board reset, and
 * is ignored; blank lines are ignored; `\r\n` is accepted. `nan`, `inf` and
 * `-inf` (what C's printf prints) are read as the non-finite numbers they
 * are, so the protocol layer reports them like a binary NaN.
 *
 * Output: the same `ImuFrame` objects as the binary parser, so protocol.ts
 * does not care which mode the board speaks. Bad lines are counted and
 * reported with their line number (since the stream started) and the reason.
 */

import { StringDecoder } from "node:string_decoder";
import { Transform, type TransformCallback } from "node:stream";
import type { SourceIssue, Vec3 } from "../types.js";
import { U16_RANGE, U32_RANGE, crc16CcittFalse, type ImuFrame } from "./frame.js";

/** Longer than any valid line; a longer run without `\n` is binary noise or the wrong mode. */
export const MAX_LINE_LENGTH = 256;
const FIELDS_IMU = 9;
const FIELDS_IMU_MAG = 12;
const FIELD_NAMES = ["sensorId", "seq", "t_us", "ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz"] as const;

const UNSIGNED = /^\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE: Readonly<Record<string, number>> = {
  nan: Number.NaN,
  "+nan": Number.NaN,
  "-nan": Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  "+inf": Number.POSITIVE_INFINITY,
  "-inf": Number.NEGATIVE_INFINITY,
  infinity: Number.POSITIVE_INFINITY,
  "+infinity": Number.POSITIVE_INFINITY,
  "-infinity": Number.NEGATIVE_INFINITY,
};

export interface CsvLineCounters {
  /** Every line seen, comments and blanks included (the numbering base). */
  lines: number;
  /** Lines decoded and pushed. */
  samples: number;
  badLines: number;
}

export interface CsvLineParserOptions {
  onIssue?: (issue: SourceIssue) => void;
}

export type CsvLineResult =
  | { readonly kind: "sample"; readonly frame: ImuFrame; readonly checksum: CsvChecksum | "none" }
  | { readonly kind: "skip" }
  | { readonly kind: "bad"; readonly reason: string };

export type CsvChecksum = "xor8" | "crc16";

/** The `*cs` suffix: 2 hex digits (NMEA XOR) or 4 (CRC-16/CCITT-FALSE), at the end of the line. */
const CHECKSUM_SUFFIX = /\*([0-9A-Fa-f]*)\s*$/;

/** NMEA 0183's checksum: the XOR of every byte. */
export function xor8(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

/** The `*cs` suffix a firmware appends to `body` (the line before `*`), e.g. for fixtures and simulators. */
export function csvChecksum(body: string, kind: CsvChecksum): string {
  const bytes = Buffer.from(body, "utf8");
  return kind === "xor8" ? xor8(bytes).toString(16).toUpperCase().padStart(2, "0") : crc16CcittFalse(bytes).toString(16).toUpperCase().padStart(4, "0");
}

/**
 * Verifies and strips a `*cs` suffix. `required`: a line without one is bad
 * (the stream has carried checksums, so this one lost its suffix).
 */
function checkSum(line: string, required: boolean): { body: string; checksum: CsvChecksum | "none" } | { bad: string } {
  const star = line.lastIndexOf("*");
  if (star < 0) return required ? { bad: "no checksum (*cs), while earlier lines carried one" } : { body: line, checksum: "none" };
  const hex = CHECKSUM_SUFFIX.exec(line.slice(star))?.[1];
  if (hex === undefined || (hex.length !== 2 && hex.length !== 4)) return { bad: `checksum "${line.slice(star)}" is not *hh (XOR) or *hhhh (CRC-16)` };
  const body = line.slice(0, star);
  const kind: CsvChecksum = hex.length === 2 ? "xor8" : "crc16";
  const want = csvChecksum(body, kind);
  if (want !== hex.toUpperCase()) return { bad: `bad checksum: *${hex} sent, the line gives *${want}` };
  return { body, checksum: kind };
}

/**
 * Parses one line (without its `\n`). Pure; exported for tests and tools.
 * `requireChecksum`: a line without `*cs` is bad (see the file comment).
 */
export function parseCsvLine(rawLine: string, options: { readonly requireChecksum?: boolean } = {}): CsvLineResult {
  const trimmed = rawLine.trim();
  if (trimmed === "" || trimmed.startsWith("#")) return { kind: "skip" };
  // A header may be reprinted after a reset, checksum or not.
  if (/^sensorid\s*(,|$)/i.test(trimmed)) return { kind: "skip" };
  // The checksum covers the characters as sent, up to the `*` (a trailing \r is the line end, not data).
  const summed = checkSum(rawLine.replace(/\r$/, ""), options.requireChecksum ?? false);
  if ("bad" in summed) return { kind: "bad", reason: summed.bad };
  const line = summed.body.trim();
  const fields = line.split(",").map((f) => f.trim());
  if (fields.length !== FIELDS_IMU && fields.length !== FIELDS_IMU_MAG) {
    return { kind: "bad", reason: `expected ${FIELDS_IMU} or ${FIELDS_IMU_MAG} fields, got ${fields.length}` };
  }

  const ints: number[] = [];
  const limits = [0x100, U16_RANGE, U32_RANGE];
  for (let i = 0; i < 3; i++) {
    const text = fields[i] as string;
    const value = UNSIGNED.test(text) ? Number(text) : Number.NaN;
    if (!(value < (limits[i] as number))) {
      return { kind: "bad", reason: `${FIELD_NAMES[i]} "${text}" is not an integer in 0..${(limits[i] as number) - 1}` };
    }
    ints.push(value);
  }

  const values: number[] = [];
  for (let i = 3; i < fields.length; i++) {
    const text = fields[i] as string;
    const value = DECIMAL.test(text) ? Number(text) : NON_FINITE[text.toLowerCase()];
    if (value === undefined) return { kind: "bad", reason: `${FIELD_NAMES[i]} "${text}" is not a number` };
    values.push(value);
  }

  const vec = (i: number): Vec3 => [values[i] as number, values[i + 1] as number, values[i + 2] as number];
  const frame: ImuFrame = {
    sensorId: ints[0] as number,
    seq: ints[1] as number,
    tUs: ints[2] as number,
    acc: vec(0),
    gyro: vec(3),
    ...(values.length === 9 ? { mag: vec(6) } : {}),
  };
  return { kind: "sample", frame, checksum: summed.checksum };
}

export class CsvLineParser extends Transform {
  readonly counters: CsvLineCounters = { lines: 0, samples: 0, badLines: 0 };
  private readonly decoder = new StringDecoder("utf8");
  private partial = "";
  /** True while discarding the rest of an over-long line up to its `\n`. */
  private skippingLongLine = false;
  /** Set by the first line with a valid checksum: from then on every line needs one. */
  private checksummed = false;
  private readonly onIssue: (issue: SourceIssue) => void;

  constructor(options: CsvLineParserOptions = {}) {
    super({ readableObjectMode: true });
    this.onIssue = options.onIssue ?? (() => undefined);
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = this.partial + (typeof chunk === "string" ? chunk : this.decoder.write(chunk));
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) this.handleLine(line);
    if (this.partial.length > MAX_LINE_LENGTH) {
      if (!this.skippingLongLine) {
        this.counters.lines++;
        this.bad(`line longer than ${MAX_LINE_LENGTH} characters (binary data in CSV mode?)`);
        this.skippingLongLine = true;
      }
      this.partial = "";
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const rest = this.partial + this.decoder.end();
    this.partial = "";
    if (rest.trim() !== "") this.handleLine(rest);
    callback();
  }

  private handleLine(line: string): void {
    if (this.skippingLongLine) {
      // The tail of an over-long line: already counted and reported.
      this.skippingLongLine = false;
      return;
    }
    this.counters.lines++;
    const result = parseCsvLine(line, { requireChecksum: this.checksummed });
    if (result.kind === "sample") {
      if (result.checksum !== "none") this.checksummed = true;
      this.counters.samples++;
      this.push(result.frame);
    } else if (result.kind === "bad") {
      this.bad(`${result.reason}: "${truncate(line.trim(), 60)}"`);
    }
  }

  private bad(reason: string): void {
    this.counters.badLines++;
    this.onIssue({ kind: "bad_frame", message: `serial csv line ${this.counters.lines}: ${reason}` });
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max) + "…";
}
