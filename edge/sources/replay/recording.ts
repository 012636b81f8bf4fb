/**
 * Reader for the runtime's own recordings (`gait-recording` v1, written by
 * edge/recording/recorder.ts). Replay plays the raw sample records ("k":"s");
 * published angles ("a"), events ("e") and kinds a later version may add are
 * skipped: they are outputs of a run, not inputs to the next one.
 */

import {
  RECORDING_FORMAT,
  RECORDING_VERSION,
  decodeSample,
  recordingHeaderSchema,
  type RecordingHeader,
} from "../../recording/format.js";
import { readLines, type Line, type ReadLinesOptions } from "./lines.js";
import { issueItem, sampleItem, withSensors, type ReaderItem, type ReplayStream } from "./types.js";

/** True when a first line looks like a recording header. */
export function looksLikeRecording(line: string): boolean {
  return line.trimStart().startsWith("{") && line.includes(`"${RECORDING_FORMAT}"`);
}

function parseHeader(file: string, text: string | undefined): RecordingHeader {
  let json: unknown;
  try {
    json = JSON.parse(text ?? "");
  } catch {
    throw new Error(`${file}: not a gait recording: the first line is not JSON`);
  }
  const header = recordingHeaderSchema.safeParse(json);
  if (!header.success) {
    throw new Error(`${file}: not a gait recording: the first line must be a header with format "${RECORDING_FORMAT}"`);
  }
  if (header.data.version !== RECORDING_VERSION) {
    throw new Error(`${file}: gait recording version ${header.data.version} is not supported (this runtime reads ${RECORDING_VERSION})`);
  }
  return header.data;
}

export async function openRecording(file: string, options: ReadLinesOptions = {}): Promise<ReplayStream> {
  const lines = readLines(file, options);
  let header: RecordingHeader;
  try {
    const first = await lines.next();
    header = parseHeader(file, first.done ? undefined : first.value.text);
  } catch (err) {
    await lines.return();
    throw err;
  }
  return withSensors(recordRows(file, lines), header.sensors?.map((s) => s.id));
}

async function* recordRows(file: string, lines: AsyncGenerator<Line, void, undefined>): AsyncGenerator<ReaderItem, void, undefined> {
  try {
    for await (const line of lines) {
      if (line.text.trim() === "") continue;
      const where = `${file}:${line.no}`;
      let record: unknown;
      try {
        record = JSON.parse(line.text);
      } catch {
        yield issueItem("bad_frame", `${where}: not a JSON record`);
        continue;
      }
      if (typeof record !== "object" || record === null || Array.isArray(record)) {
        yield issueItem("bad_frame", `${where}: a record must be a JSON object`);
        continue;
      }
      if ((record as { k?: unknown }).k !== "s") continue;
      const decoded = decodeSample(record);
      if ("error" in decoded) {
        const id = (record as { id?: unknown }).id;
        yield issueItem("bad_value", `${where}: bad sample record: ${decoded.error}`, typeof id === "string" ? id : undefined);
        continue;
      }
      yield sampleItem(decoded.sample, where);
    }
  } finally {
    await lines.return();
  }
}
