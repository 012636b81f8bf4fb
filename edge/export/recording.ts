/**
 * A `gait-recording` (docs/recording-format.md) parsed for export: header,
 * raw samples and published angles. `parseRecording` is pure (text in);
 * `readRecording` adds the file and gzip handling.
 *
 * Export is forgiving where the replay source is: a line that is not a valid
 * record (a power cut mid-line, a bad sample) is skipped and listed in
 * `problems`, so an interrupted recording still exports. A missing or foreign
 * header is not forgiven: that file is not a recording at all (ConfigError).
 */
import { readFile } from "node:fs/promises";
import { constants, gunzipSync } from "node:zlib";
import { z } from "zod";
import { decodeSample, recordingHeaderSchema, RECORDING_FORMAT, RECORDING_VERSION, type RecordingHeader } from "../recording/format.js";
import { ConfigError } from "../runtime/config.js";
import type { ImuSample } from "../sources/types.js";

const finite = z.number().refine(Number.isFinite, "not a finite number");

/** A `"k":"a"` record: one published AnglesMessage (edge/mqtt/topics.ts) plus the wall time `w`. */
export const anglesRecordSchema = z
  .object({
    k: z.literal("a"),
    w: z.number(),
    seq: z.number().int().optional(),
    joints: z.array(z.string().min(1)).min(1),
    /** Unix ms per sample. */
    t: z.array(finite),
    /** [sample][joint], degrees, docs/contract.md signs. */
    angles: z.array(z.array(finite)),
    /** Device clock per sample, µs. */
    sensorTimeUs: z.array(finite).optional(),
    wearer: z.string().optional(),
  })
  .refine((r) => r.angles.length === r.t.length && (r.sensorTimeUs?.length ?? r.t.length) === r.t.length, "t, angles and sensorTimeUs differ in length")
  .refine((r) => r.angles.every((row) => row.length === r.joints.length), "an angles row does not have one value per joint");
export type AnglesRecord = z.infer<typeof anglesRecordSchema>;

export interface ParsedRecording {
  readonly file: string;
  readonly header: RecordingHeader;
  readonly samples: ImuSample[];
  readonly angles: AnglesRecord[];
  /** "file:line: why" for every line skipped. */
  readonly problems: string[];
}

export function parseRecording(file: string, text: string): ParsedRecording {
  const lines = text.split("\n");
  const header = parseHeader(file, lines[0] ?? "");
  const samples: ImuSample[] = [];
  const angles: AnglesRecord[] = [];
  const problems: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const where = `${file}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      problems.push(`${where}: not a JSON record (cut off?)`);
      continue;
    }
    const kind = (record as { k?: unknown } | null)?.k;
    if (kind === "s") {
      const decoded = decodeSample(record);
      if ("error" in decoded) problems.push(`${where}: bad sample: ${decoded.error}`);
      else samples.push(decoded.sample);
    } else if (kind === "a") {
      const r = anglesRecordSchema.safeParse(record);
      if (r.success) angles.push(r.data);
      else problems.push(`${where}: bad angles record: ${r.error.issues[0]?.message ?? "invalid"}`);
    }
    // Events and kinds a later version adds are not exported.
  }
  return { file, header, samples, angles, problems };
}

function parseHeader(file: string, line: string): RecordingHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ConfigError(`${file}:1: not a ${RECORDING_FORMAT} file (the first line is not a JSON header)`);
  }
  const r = recordingHeaderSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError(`${file}:1: not a ${RECORDING_FORMAT} header (${issue?.path.join(".") || "header"}: ${issue?.message ?? "invalid"})`);
  }
  if (r.data.version !== RECORDING_VERSION) throw new ConfigError(`${file}:1: ${RECORDING_FORMAT} version ${r.data.version} is not supported (only ${RECORDING_VERSION})`);
  return r.data;
}

/** Reads a `.jsonl` or `.jsonl.gz` (by its magic bytes); a gzip cut off by a power loss reads up to its last flush. */
export async function readRecording(file: string): Promise<ParsedRecording> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the recording (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
  // Z_SYNC_FLUSH: no error at a missing trailer, the data up to the last flush comes out.
  const text = (gzip ? gunzipSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH }) : bytes).toString("utf8");
  return parseRecording(file, text);
}
