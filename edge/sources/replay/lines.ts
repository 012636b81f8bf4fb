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
    throw new Error(`${file}: cannot open replay file: ${why}`);
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
 */
export async function* readLines(file: string): AsyncGenerator<Line, void, undefined> {
  const gzip = await isGzipFile(file);
  const { text, close } = openText(file, gzip);
  let no = 0;
  let rest = "";
  try {
    try {
      for await (const chunk of text) {
        const parts = (rest + (chunk as string)).split("\n");
        rest = parts.pop() ?? "";
        for (const part of parts) {
          no += 1;
          yield { text: part.endsWith("\r") ? part.slice(0, -1) : part, no };
        }
      }
    } catch (err) {
      throw new ReplayReadError(file, no, err);
    }
    if (rest.length > 0) {
      no += 1;
      yield { text: rest.endsWith("\r") ? rest.slice(0, -1) : rest, no };
    }
  } finally {
    close();
  }
}
