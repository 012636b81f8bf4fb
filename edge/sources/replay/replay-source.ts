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
 */

import { performance } from "node:perf_hooks";
import { z } from "zod";
import { createLogger, type Logger } from "../../log.js";
import type { ImuSample, ImuSource, SourceHandlers, SourceIssue, SourceStats } from "../types.js";
import { openCamargo } from "./camargo.js";
import { detectFormat } from "./detect.js";
import { isGzipFile } from "./lines.js";
import { mergeByTime } from "./merge.js";
import { openRecording } from "./recording.js";
import type { ReplayFormat, ReplayStream } from "./types.js";
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
});
export type ReplaySourceConfig = z.infer<typeof replaySourceSchema>;

export interface ReplaySourceDeps {
  readonly logger?: Logger;
  /** Backpressure: awaited between chunks; resolve when the consumer can take more. */
  readonly waitForDrain?: () => Promise<void>;
}

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
  private samples = 0;
  private readonly issues: Record<string, number> = {};

  constructor(
    private readonly config: ReplaySourceConfig,
    private readonly deps: ReplaySourceDeps = {},
  ) {
    this.logger = deps.logger ?? createLogger("source:replay");
  }

  /**
   * Opens every file and checks its header, so a missing file, an unknown
   * format or an Xsens export without gyroscope fails here with an Error naming
   * the file. Playback then runs in the background until the end (onEnd) or stop().
   */
  async start(handlers: SourceHandlers): Promise<void> {
    if (this.playing) throw new Error("replay: already started");
    const files = this.fileList();
    const plan: PlannedFile[] = [];
    for (const file of files) {
      await isGzipFile(file); // the clear "cannot open" error before anything else
      plan.push({ file, format: this.config.format === "auto" ? await detectFormat(file) : this.config.format });
    }
    const renames = new Map<string, string>();
    if (this.config.mappingFile) {
      for (const [id, placement] of await readXsensMappings(this.config.mappingFile)) renames.set(id, placement);
    }
    for (const [id, placement] of Object.entries(this.config.placements ?? {})) renames.set(id, placement);

    const stream = await this.openAll(plan);
    this.stopping = false;
    this.logger.info("replay started", {
      files: plan.map((p) => `${p.file} (${p.format})`),
      speed: this.config.speed,
      loop: this.config.loop,
    });
    this.playing = this.play(handlers, plan, stream, renames).catch((err: unknown) => {
      // A failure after start (a consumer throwing, a file vanishing before a loop) ends the replay, reported.
      const message = `replay stopped: ${err instanceof Error ? err.message : String(err)}`;
      this.logger.error(message);
      this.report(handlers, { kind: "io_error", message });
      handlers.onEnd?.();
    });
  }

  /** Stops playback (no onEnd) and closes the files. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const playing = this.playing;
    this.playing = undefined;
    await playing;
  }

  stats(): SourceStats {
    return { samples: this.samples, issues: { ...this.issues } };
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
        return openCamargo(entry.file);
      case "xsens":
        return openXsens(entry.file, { rateHz: this.config.xsensRateHz });
      case "recording":
        return openRecording(entry.file);
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

  private report(handlers: SourceHandlers, issue: SourceIssue): void {
    this.issues[issue.kind] = (this.issues[issue.kind] ?? 0) + 1;
    this.logger.debug(() => `replay issue: ${issue.message}`, { kind: issue.kind });
    handlers.onIssue(issue);
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
    handlers: SourceHandlers,
    plan: readonly PlannedFile[],
    firstPass: ReplayStream,
    renames: ReadonlyMap<string, string>,
  ): Promise<void> {
    const { speed, loop, chunk } = this.config;
    let stream: ReplayStream | undefined = firstPass;
    let offsetUs = 0; // added to file times so a loop never goes back in time
    let wallStartMs: number | undefined;
    let firstTUs = 0;
    let sinceYield = 0;

    try {
      while (stream && !this.stopping) {
        let passFirst: number | undefined;
        let passLast: number | undefined;
        let step = 0; // last positive time step, the gap left between two passes
        let passSamples = 0;
        for await (const item of stream) {
          if (this.stopping) break;
          if (item.kind === "issue") {
            const id = item.issue.sensorId;
            const renamed = id !== undefined ? renames.get(id) : undefined;
            this.report(handlers, renamed ? { ...item.issue, sensorId: renamed } : item.issue);
            continue;
          }
          const raw = item.sample;
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
          this.samples += 1;
          passSamples += 1;
          handlers.onSample(sample);

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
    }

    this.logger.info(this.stopping ? "replay stopped" : "replay finished", {
      samples: this.samples,
      issues: this.issues,
    });
    if (!this.stopping) handlers.onEnd?.();
  }
}
