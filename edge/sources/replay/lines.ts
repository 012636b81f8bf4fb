/**
 * Line-by-line reading of a replay file, plain or gzip, without ever holding the
 * whole file in memory (a 20 s Camargo trial is small, a day of recordings is not).
 *
 * We split lines ourselves instead of using `readline`: readline does not reliably
 * hand the input stream's errors to its async iterator, and a truncated `.gz` (a
 * recorder that lost power) must end in a clear error, not in silence.
 */

import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { pipeline } from "node:stream";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";

export interface Line {
  readonly text: string;
  /** 1-based line number in the (decompressed) file, for messages. */
  readonly no: number;
}

/** Thrown when the bytes stop making sense mid-file (truncated or corrupt gzip, I/O error). */
export class ReplayReadError extends Error {
  constructor(
    readonly file: string,
    readonly afterLine: number,
    cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`${file}: read failed after line ${afterLine} (truncated or corrupt file?): ${why}`);
    this.name = "ReplayReadError";
  }
}

/** Default cap on one line: 1000 times a Camargo row; a longer one is not data. */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

export interface ReadLinesOptions {
  /** Longest line accepted, in characters; a longer one ends the file with a ReplayLineTooLongError. */
  readonly maxLineLength?: number;
}

/**
 * A line without end: typically a zero-filled SD-card block after a power cut
 * (a 2 MB .gz can hold a 256 MB line of zeros). Reading stops at the cap
 * instead of growing one string without bound.
 */
export class ReplayLineTooLongError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly maxLineLength: number,
  ) {
    super(
      `${file}:${line}: line longer than ${maxLineLength} characters without a newline ` +
        `(a zero-filled block after a power cut? raise maxLineLength if the data is real); stopped reading the file here`,
    );
    this.name = "ReplayLineTooLongError";
  }
}

/**
 * Sniffs the gzip magic bytes (rather than trusting the extension). Doubles as
 * the existence check: a missing or unreadable file is an Error naming it.
 */
export async function isGzipFile(file: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "file not found" : (err as Error).message;
    throw new Error(`${file}: cannot open replay file: ${why}`, { cause: err });
  }
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, 0);
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

function openText(file: string, gzip: boolean): { text: Readable; close: () => void } {
  const raw = createReadStream(file);
  if (!gzip) {
    raw.setEncoding("utf8");
    return { text: raw, close: () => raw.destroy() };
  }
  const gunzip = createGunzip();
  // pipeline forwards a read error of the file into the gunzip stream we iterate;
  // its callback must exist but has nothing to add (the iterator sees the error).
  pipeline(raw, gunzip, () => undefined);
  gunzip.setEncoding("utf8");
  return {
    text: gunzip,
    close: () => {
      raw.destroy();
      gunzip.destroy();
    },
  };
}

/**
 * Yields every line (without its `\n` or `\r\n`). A final line without newline is
 * yielded too, except after a read error: a half-decompressed line is not data.
 * Closing the generator early (break, return) closes the file.
 *
 * Linear time: the pieces of an unfinished line are kept in a list and joined
 * once, when its newline comes (concatenating `rest + chunk` on every chunk is
 * quadratic in the line length, which hung on a 256 MB line). The cap bounds memory.
 */
export async function* readLines(file: string, options: ReadLinesOptions = {}): AsyncGenerator<Line, void, undefined> {
  const max = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  const gzip = await isGzipFile(file);
  const { text, close } = openText(file, gzip);
  let no = 0;
  /** The unfinished line so far, in pieces. */
  let pieces: string[] = [];
  let pending = 0;
  const take = (last: string): string => {
    const whole = pieces.length === 0 ? last : pieces.join("") + last;
    pieces = [];
    pending = 0;
    return whole.endsWith("\r") ? whole.slice(0, -1) : whole;
  };
  try {
    const lines: Line[] = [];
    try {
      for await (const chunk of text) {
        const str = chunk as string;
        let from = 0;
        for (let nl = str.indexOf("\n"); nl >= 0; nl = str.indexOf("\n", from)) {
          // Bounded: pending is at most max + 1 here, and the chunk is one read.
          const line = take(str.slice(from, nl));
          if (line.length > max) throw new ReplayLineTooLongError(file, no + 1, max);
          no += 1;
          lines.push({ text: line, no });
          from = nl + 1;
        }
        if (from < str.length) {
          pending += str.length - from;
          // +1: a "\r" before a newline still to come is not part of the line.
          if (pending > max + 1) throw new ReplayLineTooLongError(file, no + 1, max);
          pieces.push(str.slice(from));
        }
        for (const line of lines) yield line;
        lines.length = 0;
      }
    } catch (err) {
      // The lines before the bad spot in this chunk are good data: deliver them first.
      for (const line of lines) yield line;
      if (err instanceof ReplayLineTooLongError) throw err;
      throw new ReplayReadError(file, no, err);
    }
    if (pending > 0) {
      const line = take("");
      if (line.length > max) throw new ReplayLineTooLongError(file, no + 1, max);
      no += 1;
      yield { text: line, no };
    }
  } finally {
    close();
  }
}
