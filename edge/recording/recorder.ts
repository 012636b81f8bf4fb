/**
 * Recorder: keeps a local copy of everything the runtime sees and says (raw
 * samples, published angles, events) in `gait-recording` files
 * (docs/recording-format.md), so nothing is lost while the broker is down and
 * any session can be replayed later through ReplaySource.
 *
 * The record* methods are called from the sample hot path, so they never wait:
 * a line goes into the stream's buffer and returns. If the disk cannot keep up
 * and the buffer passes `maxBufferedMb`, records are dropped and counted (with
 * one warning per episode) rather than growing memory until the Pi falls over.
 */

import { once } from "node:events";
import { createWriteStream, existsSync, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { createGzip, type Gzip } from "node:zlib";
import { z } from "zod";
import { createLogger, type Logger } from "../log.js";
import { ConfigError } from "../runtime/configError.js";
import type { ImuSample } from "../sources/types.js";
import { RECORDING_FORMAT, RECORDING_VERSION, encodeSample, type RecordingHeader } from "./format.js";

/** Names that go into file names: only characters every filesystem accepts. */
export const fileNamePartSchema = (what: string): z.ZodString =>
  z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9._-]+$/, `${what} may contain only letters, digits, '.', '_' and '-'`);

export const recorderSchema = z.object({
  dir: z.string().min(1).default("recordings"),
  deviceId: fileNamePartSchema("deviceId").default("gait-edge"),
  /**
   * Record from start to stop of the runtime. false: only between the
   * `record_start` and `record_stop` commands (edge/modules/recorder.ts).
   */
  autoStart: z.boolean().default(true),
  /** Start a new file after this many MB of (uncompressed) records. */
  rotateMb: z.number().positive().default(64),
  gzip: z.boolean().default(true),
  /** Above this much unwritten data, records are dropped and counted. */
  maxBufferedMb: z.number().positive().default(8),
  /** With gzip, flush the compressor this often so a crash loses at most this much. */
  flushIntervalMs: z.number().int().nonnegative().default(5000),
});
export type RecorderConfig = z.infer<typeof recorderSchema>;

export interface RecorderDeps {
  readonly logger?: Logger;
  /** Wall clock, injectable for tests. */
  readonly now?: () => Date;
}

/** What the header of every file of this recording says besides the fixed fields. */
export interface RecordingInfo {
  /** Named recording (the `record_start` command): goes into the header and the file names. */
  readonly session?: string;
  readonly model?: { readonly name: string; readonly version: string };
  readonly sensors?: ReadonlyArray<{ readonly id: string; readonly placement?: string }>;
}

export interface RecorderStats {
  readonly records: number;
  /** Uncompressed bytes handed to the file streams. */
  readonly bytes: number;
  readonly dropped: number;
  readonly files: number;
  readonly errors: number;
  readonly currentFile: string | undefined;
}

/** One open output file: `head` is what we write into (gzip or the file itself). */
interface OpenFile {
  readonly path: string;
  readonly head: Writable;
  readonly file: WriteStream;
  readonly gzip: Gzip | undefined;
  /** Settles when everything written has reached the disk and the file is closed. */
  readonly closed: Promise<void>;
  bytes: number;
}

const MB = 1024 * 1024;

export class Recorder {
  private readonly logger: Logger;
  private readonly now: () => Date;
  private info: RecordingInfo = {};
  private current: OpenFile | undefined;
  private readonly closing: Promise<void>[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private part = 0;
  /** Paths this recorder opened: a stream opens asynchronously, so existsSync alone cannot see them yet. */
  private readonly usedPaths = new Set<string>();
  private records = 0;
  private bytes = 0;
  private dropped = 0;
  private droppedInEpisode = 0;
  private errors = 0;
  private files = 0;
  private broken = false;

  constructor(
    private readonly config: RecorderConfig,
    deps: RecorderDeps = {},
  ) {
    this.logger = deps.logger ?? createLogger("recorder");
    this.now = deps.now ?? (() => new Date());
  }

  /** Creates the directory and opens the first file; rejects with a ConfigError naming the path if it cannot. */
  async start(info: RecordingInfo = {}): Promise<void> {
    if (this.current) throw new Error("recorder: already started");
    this.info = info;
    this.broken = false;
    try {
      await mkdir(this.config.dir, { recursive: true });
    } catch (err) {
      throw new ConfigError(`recorder: cannot create ${this.config.dir}: ${(err as Error).message}`);
    }
    const opened = this.openNext();
    try {
      // Surface a permission or path problem now rather than as a later log line.
      await once(opened.file, "open");
    } catch (err) {
      this.current = undefined;
      await opened.closed;
      throw new ConfigError(`recorder: cannot write ${opened.path}: ${(err as Error).message}`);
    }
    if (this.config.gzip && this.config.flushIntervalMs > 0) {
      this.flushTimer = setInterval(() => this.current?.gzip?.flush(), this.config.flushIntervalMs);
      this.flushTimer.unref();
    }
    this.logger.info("recording", { file: opened.path });
  }

  recordSample(sample: ImuSample): void {
    this.write(encodeSample(sample));
  }

  /** A published angles message (whatever the publisher sends), stamped with wall time `w` (ms). */
  recordAngles(message: unknown): void {
    const body = typeof message === "object" && message !== null && !Array.isArray(message) ? message : { value: message };
    this.write(JSON.stringify({ k: "a", w: this.now().getTime(), ...withoutKind(body) }));
  }

  recordEvent(name: string, data?: unknown): void {
    const record: Record<string, unknown> = { k: "e", w: this.now().getTime(), name };
    if (data !== undefined) record.data = data;
    this.write(JSON.stringify(record));
  }

  /** Flushes and closes the current file; resolves when it is on disk. */
  async stop(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    const last = this.current;
    this.current = undefined;
    if (last) this.close(last);
    await Promise.all(this.closing);
    this.closing.length = 0;
    if (last) this.logger.info("recording closed", { ...this.stats(), currentFile: last.path });
  }

  stats(): RecorderStats {
    return {
      records: this.records,
      bytes: this.bytes,
      dropped: this.dropped,
      files: this.files,
      errors: this.errors,
      currentFile: this.current?.path,
    };
  }

  /** Every file this recorder has opened, in order (a rotated recording has several). */
  paths(): string[] {
    return [...this.usedPaths];
  }

  private write(json: string): void {
    const out = this.current;
    if (!out || this.broken) {
      this.dropped += 1;
      return;
    }
    const buffered = out.head.writableLength + (out.gzip ? out.file.writableLength : 0);
    if (buffered > this.config.maxBufferedMb * MB) {
      if (this.droppedInEpisode === 0) {
        this.logger.warn("disk cannot keep up: dropping records until the buffer drains", { bufferedBytes: buffered });
        out.head.once("drain", () => {
          this.logger.info("recording caught up", { droppedRecords: this.droppedInEpisode });
          this.droppedInEpisode = 0;
        });
      }
      this.dropped += 1;
      this.droppedInEpisode += 1;
      return;
    }
    const line = json + "\n";
    const size = Buffer.byteLength(line);
    // write() returning false only means "buffer above highWaterMark": we keep
    // going (the caller must not block) and rely on the maxBufferedMb cap above.
    out.head.write(line);
    out.bytes += size;
    this.bytes += size;
    this.records += 1;
    if (out.bytes >= this.config.rotateMb * MB) this.rotate();
  }

  private rotate(): void {
    const old = this.current;
    this.current = undefined;
    if (old) this.close(old);
    const next = this.openNext();
    this.logger.info("recording rotated", { file: next.path, previous: old?.path });
  }

  private close(out: OpenFile): void {
    out.head.end();
    this.closing.push(out.closed);
  }

  private fileName(created: Date): string {
    const ext = this.config.gzip ? ".jsonl.gz" : ".jsonl";
    // ISO time without ':' (not allowed on FAT/exFAT SD cards and Windows).
    const session = this.info.session ? `${this.info.session}-` : "";
    const base = `${this.config.deviceId}-${session}${created.toISOString().replace(/:/g, "-")}`;
    let path = join(this.config.dir, base + ext);
    // Two rotations within a millisecond (tiny rotateMb) must not overwrite each other.
    for (let n = 1; this.usedPaths.has(path) || existsSync(path); n++) path = join(this.config.dir, `${base}-${n}${ext}`);
    this.usedPaths.add(path);
    return path;
  }

  private openNext(): OpenFile {
    const created = this.now();
    const path = this.fileName(created);
    const file = createWriteStream(path, { flags: "wx" });
    const gzip = this.config.gzip ? createGzip() : undefined;
    const head: Writable = gzip ?? file;
    // pipeline/finished keep an error listener on the streams, so a late disk
    // error is reported through `closed`, never thrown as an unhandled 'error'.
    const done = gzip ? pipeline(gzip, file) : finished(file);
    const closed = done.catch((err: unknown) => this.fail(path, err));
    this.part += 1;
    this.files += 1;
    const out: OpenFile = { path, head, file, gzip, closed, bytes: 0 };
    this.current = out;
    const header: RecordingHeader = {
      format: RECORDING_FORMAT,
      version: RECORDING_VERSION,
      created: created.toISOString(),
      deviceId: this.config.deviceId,
      part: this.part,
      ...(this.info.session ? { session: this.info.session } : {}),
      ...(this.info.model ? { model: { ...this.info.model } } : {}),
      ...(this.info.sensors ? { sensors: this.info.sensors.map((s) => ({ ...s })) } : {}),
    };
    // The header does not count towards rotation, so a tiny rotateMb cannot rotate forever.
    const line = JSON.stringify(header) + "\n";
    head.write(line);
    this.bytes += Buffer.byteLength(line);
    return out;
  }

  private fail(path: string, err: unknown): void {
    this.errors += 1;
    if (!this.broken) {
      this.logger.error("recording failed: records are dropped from now on", {
        file: path,
        error: err instanceof Error ? err.message : String(err),
      });
    }
    this.broken = true;
  }
}

function withoutKind(body: object): Record<string, unknown> {
  const { k: _ignored, ...rest } = body as Record<string, unknown>;
  return rest;
}
