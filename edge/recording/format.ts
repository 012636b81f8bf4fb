/**
 * The runtime's own recording format, `gait-recording` version 1
 * (docs/recording-format.md): JSON Lines, optionally gzip, a header line then
 * one record per line. The recorder writes it and the replay source reads it,
 * so both use the encoders and schemas here.
 */

import { z } from "zod";
import type { ImuSample } from "../sources/types.js";

export const RECORDING_FORMAT = "gait-recording";
export const RECORDING_VERSION = 1;

export const recordingHeaderSchema = z.object({
  format: z.literal(RECORDING_FORMAT),
  version: z.number().int(),
  /** ISO 8601 wall-clock time the file was opened. */
  created: z.string(),
  deviceId: z.string(),
  /** 1 for the first file of a recording, then +1 at every rotation. */
  part: z.number().int().positive().optional(),
  /** The session name given to `record_start`, when there was one. */
  session: z.string().optional(),
  model: z.object({ name: z.string(), version: z.string() }).optional(),
  sensors: z.array(z.object({ id: z.string(), placement: z.string().optional() })).optional(),
});
export type RecordingHeader = z.infer<typeof recordingHeaderSchema>;

const finite = z.number().refine(Number.isFinite, "not a finite number");
const vec3 = z.tuple([finite, finite, finite]);

/** A raw sample record: `{"k":"s","id":..,"t":µs,"seq"?,"a":[..],"g":[..],"m"?,"q"?}`. */
export const sampleRecordSchema = z.object({
  k: z.literal("s"),
  id: z.string().min(1),
  t: finite,
  seq: z.number().int().optional(),
  a: vec3,
  g: vec3,
  m: vec3.optional(),
  q: z.tuple([finite, finite, finite, finite]).optional(),
});

/** One sample as one JSON line (no newline). Field order is fixed so files diff well. */
export function encodeSample(sample: ImuSample): string {
  const record: Record<string, unknown> = { k: "s", id: sample.sensorId, t: sample.tUs };
  if (sample.seq !== undefined) record.seq = sample.seq;
  record.a = sample.acc;
  record.g = sample.gyro;
  if (sample.mag) record.m = sample.mag;
  if (sample.quat) record.q = sample.quat;
  return JSON.stringify(record);
}

/** The sample of a parsed `"k":"s"` record, or the zod error text explaining why not. */
export function decodeSample(record: unknown): { sample: ImuSample } | { error: string } {
  const parsed = sampleRecordSchema.safeParse(record);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const path = first?.path.join(".") || "record";
    return { error: `${path}: ${first?.message ?? "invalid"}` };
  }
  const r = parsed.data;
  const sample: ImuSample = {
    sensorId: r.id,
    tUs: r.t,
    ...(r.seq !== undefined ? { seq: r.seq } : {}),
    acc: r.a,
    gyro: r.g,
    ...(r.m ? { mag: r.m } : {}),
    ...(r.q ? { quat: r.q } : {}),
  };
  return { sample };
}
