/**
 * ReplaySource: plays recorded IMU files through the same `ImuSource` contract
 * as the live sources, so the whole runtime (fusion, features, model, publish)
 * can be exercised on the training data or on the runtime's own recordings.
 *
 * Pacing: with `speed > 0` sample k is delivered when the wall clock has
 * advanced (t_k - t_0) / speed since the first sample; with `speed = 0` samples
 * go as fast as the consumer takes them, `chunk` at a time, with a turn of the
 * event loop (setImmediate) and the optional `waitForDrain` hook between chunks
 * so MQTT, timers and stop() keep working during a fast replay.
 *
 * Refused at start (SourceConfigError, so the CLI can exit 78 instead of
 * "succeeding" with no angles): a file set without a sensor the runtime needs
 * (`requiredSensors`), or without a single sample (a header-only file).
 * Row errors (bad fields, time going back) are reported with file:line and
 * the field, logged at warn (rate-limited by the core) and counted.
 */

import { performance } from "node:perf_hooks";
import { z } from "zod";
import { createLogger, type Logger } from "../../log.js";
import { SourceCore, noDataTimeoutMsSchema, reasonOf } from "../core.js";
import { SourceConfigError, type ImuSample, type ImuSource, type SourceHandlers, type SourceStats } from "../types.js";
import { openCamargo } from "./camargo.js";
import { detectFormat } from "./detect.js";
import { DEFAULT_MAX_LINE_LENGTH, isGzipFile } from "./lines.js";
import { mergeByTime } from "./merge.js";
import { openRecording } from "./recording.js";
import type { ReaderItem, ReplayFormat, ReplayStream } from "./types.js";
import { openXsens, readXsensMappings } from "./xsens.js";

export const replaySourceSchema = z.object({
  /** One file to play. Give `file` or `files`, not both. */
  file: z.string().min(1).optional(),
  /** Several files merged in timestamp order (one file per sensor for Xsens, or recording parts). */
  files: z.array(z.string().min(1)).min(1).optional(),
  format: z.enum(["auto", "camargo", "xsens", "recording"]).default("auto"),
  /** 1 = real time, 2 = twice as fast, 0 = as fast as the consumer takes it. */
  speed: z.number().min(0).default(1),
  /** Start over at the end; timestamps keep increasing across passes. */
  loop: z.boolean().default(false),
  /** Renames sensors: id in the file (Xsens device id, Camargo placement) -> placement. */
  placements: z.record(z.string(), z.string()).optional(),
  /** OpenSense `myIMUMappings.xml`: Xsens device id -> `<name_in_model>` without `_imu`. */
  mappingFile: z.string().min(1).optional(),
  /** Xsens exports timed only by PacketCounter and stating no update rate are read at this rate. */
  xsensRateHz: z.number().positive().default(100),
  /** Samples delivered between two turns of the event loop. */
  chunk: z.number().int().positive().default(256),
  /** Longest line read, in characters; a longer one (zero-filled block) ends that file with an io_error. */
  maxLineLength: z.number().int().positive().default(DEFAULT_MAX_LINE_LENGTH),
  /** Sensor ids (after placements/mappingFile renames) the files must hold; start() fails otherwise. */
  requiredSensors: z.array(z.string().min(1)).optional(),
  noDataTimeoutMs: noDataTimeoutMsSchema,
});
export type ReplaySourceConfig = z.infer<typeof replaySourceSchema>;

export interface ReplaySourceDeps {
  readonly logger?: Logger;
  /** Backpressure: awaited between chunks; resolve when the consumer can take more. */
  readonly waitForDrain?: () => Promise<void>;
  /**
   * Sensor ids the consumer needs (the model's placements, from the runtime);
   * added to `config.requiredSensors`. start() fails with a SourceConfigError
   * naming the file and the missing ones.
   */
  readonly requiredSensors?: readonly string[];
}

/**
 * Throws a SourceConfigError unless every required sensor is present. Exported
 * so a caller holding a list of sensors (a runtime, a CLI check) applies the
 * same rule and message.
 */
export function checkReplayCovers(where: string, present: Iterable<string>, required: readonly string[], how = "holds"): void {
  const have = new Set(present);
  const missing = required.filter((id) => !have.has(id));
  if (missing.length === 0) return;
  const list = [...have].sort();
  throw new SourceConfigError(
    `${where}: no samples for required sensor(s) ${missing.join(", ")}; the replay ${how} ${list.length > 0 ? list.join(", ") : "no sensor"}` +
      ` (rename with "placements" or "mappingFile")`,
    where,
  );
}

/** With no header list of sensors, start() reads this many samples ahead looking for the required ones. */
const READ_AHEAD_SAMPLES = 10_000;

interface PlannedFile {
  readonly file: string;
  readonly format: ReplayFormat;
}

/** Waits below this are not worth a timer: the sample is delivered now. */
const MIN_SLEEP_MS = 1;

export class ReplaySource implements ImuSource {
  readonly kind = "replay";
  private readonly logger: Logger;
  private playing: Promise<void> | undefined;
  private stopping = false;
  /** Ends the current wait (timer or drain) early; set while waiting. */
  private wake: (() => void) | undefined;
  private readonly core: SourceCore;

  constructor(
    private readonly config: ReplaySourceConfig,
    private readonly deps: ReplaySourceDeps = {},
  ) {
    this.logger = deps.logger ?? createLogger("source:replay");
    this.core = new SourceCore({ name: "replay", logger: this.logger, noDataTimeoutMs: config.noDataTimeoutMs, unit: "row" });
  }

  /**
   * Opens every file and checks its header, so a missing file, an unknown
   * format or an Xsens export without gyroscope fails here with an Error naming
   * the file; a file set without a required sensor or without any sample fails
   * with a SourceConfigError. Playback then runs in the background until the
   * end (onEnd) or stop().
   */
  async start(handlers: SourceHandlers): Promise<void> {
    if (this.playing) throw new Error("replay: already started");
    const files = this.fileList();
    const plan: PlannedFile[] = [];
    const lineOptions = { maxLineLength: this.config.maxLineLength };
    for (const file of files) {
      await isGzipFile(file); // the clear "cannot open" error before anything else
      plan.push({ file, format: this.config.format === "auto" ? await detectFormat(file, lineOptions) : this.config.format });
    }
    const renames = new Map<string, string>();
    if (this.config.mappingFile) {
      for (const [id, placement] of await readXsensMappings(this.config.mappingFile)) renames.set(id, placement);
    }
    for (const [id, placement] of Object.entries(this.config.placements ?? {})) renames.set(id, placement);

    const opened = await this.openAll(plan);
    let first: ReplayStream;
    try {
      first = await this.readAhead(opened, files.join(", "), renames);
    } catch (err) {
      await opened.return();
      throw err;
    }
    this.stopping = false;
    this.logger.info("replay started", {
      files: plan.map((p) => `${p.file} (${p.format})`),
      speed: this.config.speed,
      loop: this.config.loop,
    });
    this.core.begin(handlers);
    this.playing = this.play(plan, first, renames, opened).catch((err: unknown) => {
      // A failure after start (a file cut short, one vanishing before a loop) ends the replay, reported.
      // A throwing consumer does not get here: the core catches it per sample.
      this.core.issue({ kind: "io_error", message: `replay stopped: ${reasonOf(err)}` });
      this.core.end();
    });
  }

  /**
   * Reads up to the first sample, so a file with none (header only, every row
   * bad) is refused at start, and checks the required sensors: against the
   * header's list when the files declare one, else against the sensors seen
   * in the first READ_AHEAD_SAMPLES samples. Returns a stream that yields what
   * was read ahead first (issues included, reported once playing: no handler
   * runs inside start()).
   */
  private async readAhead(stream: ReplayStream, where: string, renames: ReadonlyMap<string, string>): Promise<ReplayStream> {
    const required = [...new Set([...(this.config.requiredSensors ?? []), ...(this.deps.requiredSensors ?? [])])];
    const rename = (id: string): string => renames.get(id) ?? id;
    const declared = stream.sensors?.map(rename);
    if (declared) checkReplayCovers(where, declared, required, "declares");

    const ahead: ReaderItem[] = [];
    const seen = new Set<string>();
    const issues: Record<string, number> = {};
    let samples = 0;
    let failure: unknown;
    const satisfied = (): boolean => samples > 0 && (declared !== undefined || required.every((id) => seen.has(id)));
    try {
      while (!satisfied() && samples < READ_AHEAD_SAMPLES) {
        const next = await stream.next();
        if (next.done) break;
        ahead.push(next.value);
        if (next.value.kind === "sample") {
          samples++;
          seen.add(rename(next.value.sample.sensorId));
        } else {
          issues[next.value.issue.kind] = (issues[next.value.issue.kind] ?? 0) + 1;
        }
      }
    } catch (err) {
      // A file cut short after some rows: play what was read, then fail as playback would.
      failure = err;
    }
    if (samples === 0) {
      if (failure !== undefined) throw failure instanceof Error ? failure : new Error(describeFailure(failure));
      const rejected = Object.entries(issues).map(([k, n]) => `${k} ${n}`);
      throw new SourceConfigError(
        `${where}: no samples to replay (${rejected.length > 0 ? `every row was rejected: ${rejected.join(", ")}` : "header only?"})`,
        where,
      );
    }
    if (!declared && failure === undefined) {
      checkReplayCovers(where, seen, required, samples < READ_AHEAD_SAMPLES ? "holds" : `holds in its first ${samples} samples`);
    }
    return prepend(ahead, stream, failure);
  }

  /** Stops playback (no onEnd) and closes the files. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.core.halt();
    this.wake?.();
    const playing = this.playing;
    this.playing = undefined;
    await playing;
  }

  stats(): SourceStats {
    return this.core.stats();
  }

  private fileList(): string[] {
    const { file, files } = this.config;
    if (file !== undefined && files !== undefined) throw new Error('replay: set "file" or "files", not both');
    const list = files ?? (file !== undefined ? [file] : []);
    if (list.length === 0) throw new Error('replay: no file to play (set "file" or "files")');
    return list;
  }

  private async openOne(entry: PlannedFile): Promise<ReplayStream> {
    switch (entry.format) {
      case "camargo":
        return openCamargo(entry.file, { maxLineLength: this.config.maxLineLength });
      case "xsens":
        return openXsens(entry.file, { rateHz: this.config.xsensRateHz, maxLineLength: this.config.maxLineLength });
      case "recording":
        return openRecording(entry.file, { maxLineLength: this.config.maxLineLength });
    }
  }

  private async openAll(plan: readonly PlannedFile[]): Promise<ReplayStream> {
    const opened: ReplayStream[] = [];
    try {
      for (const entry of plan) opened.push(await this.openOne(entry));
    } catch (err) {
      await Promise.all(opened.map((s) => s.return()));
      throw err;
    }
    return opened.length === 1 && opened[0] ? opened[0] : mergeByTime(opened);
  }

  /** Resolves when `done` settles or stop() is called, whichever is first. */
  private waitUnlessStopped(done: Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.wake = resolve;
      done.then(resolve, reject);
    }).finally(() => {
      this.wake = undefined;
    });
  }

  private sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    return this.waitUnlessStopped(elapsed).finally(() => clearTimeout(timer));
  }

  private async play(
    plan: readonly PlannedFile[],
    firstPass: ReplayStream,
    renames: ReadonlyMap<string, string>,
    /** The reader under firstPass: a generator never iterated does not run its finally on return(). */
    firstReader: ReplayStream,
  ): Promise<void> {
    const { speed, loop, chunk } = this.config;
    let stream: ReplayStream | undefined = firstPass;
    let offsetUs = 0; // added to file times so a loop never goes back in time
    let wallStartMs: number | undefined;
    let firstTUs = 0;
    let sinceYield = 0;

    try {
      // No sample before start() has resolved: the caller may still be wiring things up.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (stream && !this.stopping) {
        let passFirst: number | undefined;
        let passLast: number | undefined;
        let step = 0; // last positive time step, the gap left between two passes
        let passSamples = 0;
        /** Last time per sensor in this pass: time going back within a file is a bad row. */
        const lastBySensor = new Map<string, number>();
        for await (const item of stream) {
          if (this.stopping) break;
          if (item.kind === "issue") {
            const id = item.issue.sensorId;
            const renamed = id !== undefined ? renames.get(id) : undefined;
            this.core.issue(renamed ? { ...item.issue, sensorId: renamed } : item.issue);
            continue;
          }
          const raw = item.sample;
          const previous = lastBySensor.get(raw.sensorId);
          if (previous !== undefined && raw.tUs < previous) {
            const sensorId = renames.get(raw.sensorId) ?? raw.sensorId;
            this.core.issue({
              kind: "bad_value",
              sensorId,
              message:
                `${item.where ?? "replay"}: time ${raw.tUs / 1e6} s of ${sensorId} goes back from ${previous / 1e6} s ` +
                `(rows out of order, or two recordings in one file?); row skipped`,
            });
            continue;
          }
          lastBySensor.set(raw.sensorId, raw.tUs);
          if (passLast !== undefined && raw.tUs > passLast) step = raw.tUs - passLast;
          passFirst ??= raw.tUs;
          passLast = Math.max(passLast ?? raw.tUs, raw.tUs);

          const tUs = raw.tUs + offsetUs;
          if (speed > 0) {
            if (wallStartMs === undefined) {
              wallStartMs = performance.now();
              firstTUs = tUs;
            }
            const waitMs = wallStartMs + (tUs - firstTUs) / 1000 / speed - performance.now();
            if (waitMs >= MIN_SLEEP_MS) await this.sleep(waitMs);
            if (this.stopping) break;
          }

          const sensorId = renames.get(raw.sensorId) ?? raw.sensorId;
          const sample: ImuSample =
            offsetUs === 0 && sensorId === raw.sensorId ? raw : { ...raw, sensorId, tUs };
          passSamples += 1;
          if (!this.core.deliver(sample)) break; // stopped

          if (++sinceYield >= chunk) {
            sinceYield = 0;
            await new Promise<void>((resolve) => setImmediate(resolve));
            if (this.deps.waitForDrain && !this.stopping) await this.waitUnlessStopped(this.deps.waitForDrain());
          }
        }
        stream = undefined;
        if (this.stopping || !loop || passSamples === 0 || passFirst === undefined || passLast === undefined) break;
        offsetUs += passLast - passFirst + (step > 0 ? step : 1000);
        stream = await this.openAll(plan);
      }
    } finally {
      // A stream that was opened but never iterated (stop() before the first sample) still holds a file.
      await stream?.return();
      await firstReader.return();
    }

    const { samples, issues } = this.core.stats();
    this.logger.info(this.stopping ? "replay stopped" : "replay finished", { samples, issues });
    if (!this.stopping) this.core.end();
  }
}

/** Yields `items`, then the rest of `stream` (or rethrows the error met reading ahead). */
function prepend(items: readonly ReaderItem[], stream: ReplayStream, failure: unknown): ReplayStream {
  async function* joined(): AsyncGenerator<ReaderItem, void, undefined> {
    try {
      yield* items;
      if (failure !== undefined) throw failure instanceof Error ? failure : new Error(describeFailure(failure));
      yield* stream;
    } finally {
      await stream.return();
    }
  }
  const out = joined();
  return stream.sensors === undefined ? out : Object.assign(out, { sensors: stream.sensors });
}

/** A thrown non-Error, in words (what a reader threw is normally an Error). */
function describeFailure(failure: unknown): string {
  return typeof failure === "string" ? failure : JSON.stringify(failure) ?? "unknown failure";
}
