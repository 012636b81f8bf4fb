/** Format detection for `format: "auto"`: the first non-empty line decides, not the file name. */

import { looksLikeCamargoHeader } from "./camargo.js";
import { readLines, type ReadLinesOptions } from "./lines.js";
import { looksLikeRecording } from "./recording.js";
import type { ReplayFormat } from "./types.js";
import { looksLikeXsens } from "./xsens.js";

export function formatOfFirstLine(line: string): ReplayFormat | undefined {
  if (looksLikeRecording(line)) return "recording";
  if (looksLikeCamargoHeader(line)) return "camargo";
  if (looksLikeXsens(line)) return "xsens";
  return undefined;
}

/** Throws an Error naming the file when it is missing, empty or of no known format. */
export async function detectFormat(file: string, options: ReadLinesOptions = {}): Promise<ReplayFormat> {
  const lines = readLines(file, options);
  try {
    for await (const line of lines) {
      if (line.text.trim() === "") continue;
      const format = formatOfFirstLine(line.text);
      if (format) return format;
      const shown = line.text.length > 60 ? `${line.text.slice(0, 60)}...` : line.text;
      throw new Error(
        `${file}: unrecognised replay format (expected a Camargo IMU csv, an Xsens MT Manager export or a gait recording; line ${line.no} is "${shown}")`,
      );
    }
  } finally {
    await lines.return();
  }
  throw new Error(`${file}: empty file, cannot detect the replay format`);
}
