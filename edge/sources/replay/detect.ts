/** Format detection for `format: "auto"`: the first non-empty line decides, not the file name. */

import { looksLikeCamargoHeader } from "./camargo.js";
import { SourceConfigError } from "../types.js";
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

/**
 * Throws a SourceConfigError naming the file when it is missing, unreadable,
 * empty or of no known format: all of these are input errors at start (the CLI
 * exits 78), not failures worth a systemd restart.
 */
export async function detectFormat(file: string, options: ReadLinesOptions = {}): Promise<ReplayFormat> {
  try {
    return await detectFormatOf(file, options);
  } catch (err) {
    if (err instanceof SourceConfigError) throw err;
    throw new SourceConfigError((err as Error).message, file);
  }
}

async function detectFormatOf(file: string, options: ReadLinesOptions): Promise<ReplayFormat> {
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
