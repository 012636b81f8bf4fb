/**
 * Static calibration: the `calibrate` command and `calibration.file`.
 *
 * The wearer stands still for `durationS`. Per sensor the mean gyro becomes
 * its bias; the mean specific force (the standing vertical) is compared with
 * the frame the model expects "up" in: with a v1 model the sensor frame it
 * was trained with (manifest euler.reference); with a gait-features/2 model
 * the sensor's segment frame (its mounting calibration from walking,
 * edge/modules/mounting.ts), i.e. the standing vertical against the walking
 * vertical, null until that sensor is calibrated. Only the bias is applied:
 * the mounting (and so the model's frame) comes from walking, never from a
 * stand (docs/calibration.md: the standing and walking verticals differ by
 * 6-20 deg, and training uses the walking one). All or nothing: if any
 * placement of any streaming wearer moved, sent nothing or sent non-finite
 * readings, nothing changes. A successful calibration is saved (atomically)
 * before it is applied, and loaded at start, so a restart keeps the bias.
 *
 * The arithmetic (`accumulate`, `judgeCapture`) is pure; this module does the
 * waiting, the file I/O and applying the bias to the pipelines.
 *
 * It also owns the file for the mounting module (edge/modules/mounting.ts):
 * the mounting calibrations are loaded with the biases and saved through
 * `saveMounting`, so one writer keeps both parts of the file consistent.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { command, type CommandTable } from "../commands/types.js";
import type { Mat3 } from "../calibration/linalg.js";
import type { LoadedContract, Placement } from "../contract/manifest.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents, RoutedSample } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import { atomicWriteFile } from "../ota/modelStore.js";
import { formatCalibration, mergeCalibration, parseCalibrationFile, type SavedBias, type SavedMounting } from "../runtime/calibrationFile.js";
import type { Vec3 } from "../sources/types.js";

export interface CalibrationConfig {
  readonly durationS: number;
  readonly maxGyroStd: number;
  readonly file?: string;
}

/** What the calibration module needs of the pipelines. */
export interface CalibrationTarget {
  wearers(): string[];
  setGyroBias(wearer: string, placement: Placement, bias: Vec3): boolean;
}

export interface CalibrationDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  readonly pipelines: CalibrationTarget;
  /** The running model's contract (placements, mounting references). */
  readonly contract: () => LoadedContract;
  /** Mounting rotations (sensor -> segment): a gait-features/2 model's "up" is its segment frame's. */
  readonly mounting?: { rotation(wearer: string, placement: Placement): Mat3 | undefined };
}

/** Sums of one placement's samples during a capture. */
export interface PlacementSums {
  readonly wearer: string;
  readonly placement: Placement;
  n: number;
  readonly g: number[];
  readonly g2: number[];
  readonly a: number[];
}
/** Keyed by `${wearer}|${placement}`; the entry carries both, so no key is ever split. */
export type Capture = Map<string, PlacementSums>;

export interface SensorCalibration {
  gyroBias: Vec3;
  gyroStd: number[];
  samples: number;
  /**
   * Degrees between the standing vertical and the model's "up": v1, the
   * training mounting's (euler.reference, sensor frame); v2, the segment
   * frame's y (the walking vertical). Null without a reference (v2: the
   * sensor's mounting is not calibrated yet).
   */
  mountingOffsetDeg: number | null;
}

export class CalibrationModule implements Module {
  readonly name = "calibration";
  private capture: Capture | undefined;
  /** The current calibration (loaded from `file`, then each successful one merged in). */
  private saved: SavedBias[] = [];
  private mountings: SavedMounting[] = [];
  /** File writes, one after the other (a mounting save may overlap a calibrate command's). */
  private writes: Promise<void> = Promise.resolve();
  private readonly unsubscribes: Array<() => void> = [];

  constructor(
    private readonly config: CalibrationConfig,
    private readonly deps: CalibrationDeps,
  ) {}

  async start(): Promise<void> {
    await this.load();
    const bus = this.deps.bus;
    this.unsubscribes.push(
      bus.on("wearerStarted", ({ wearer }) => {
        for (const b of this.saved) if (b.wearer === wearer) this.deps.pipelines.setGyroBias(wearer, b.placement, b.gyroBias);
      }),
      bus.on("sample", (s) => {
        if (this.capture) accumulate(this.capture, s);
      }),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribes.splice(0)) off();
  }

  commands(): CommandTable {
    return {
      calibrate: command({
        summary: "stand still for durationS seconds (default calibration.durationS): measures and keeps each sensor's gyro bias",
        args: z.object({ durationS: z.number().optional() }).strict(),
        run: ({ durationS }) => this.calibrate(durationS ?? this.config.durationS),
      }),
    };
  }

  private async calibrate(durationS: number): Promise<Record<string, SensorCalibration>> {
    if (!(durationS > 0 && durationS <= 60)) throw new Error(`durationS must be in (0, 60], got ${durationS}`);
    if (this.capture) throw new Error("a calibration is already running");
    const capture: Capture = new Map();
    this.capture = capture;
    try {
      await new Promise((r) => setTimeout(r, durationS * 1000));
    } finally {
      this.capture = undefined;
    }
    const contract = this.deps.contract();
    const { result, measured, problems } = judgeCapture(capture, {
      wearers: this.deps.pipelines.wearers(),
      placements: contract.pipeline.placements,
      references: contract.manifest.euler.reference,
      ...(contract.pipeline.segmentFrames ? { segmentFrame: (w: string, p: Placement) => this.deps.mounting?.rotation(w, p) } : {}),
      maxGyroStd: this.config.maxGyroStd,
      savedAt: new Date().toISOString(),
    });
    if (!capture.size) throw new Error("calibration rejected: no samples arrived");
    if (problems.length) throw new Error(`calibration rejected (nothing changed): ${problems.join("; ")}`);
    // Saved before it is applied: a calibration that cannot be kept changes nothing.
    const next = mergeCalibration(this.saved, measured);
    const file = this.config.file;
    if (file) {
      try {
        await this.write(file, () => formatCalibration(next, this.mountings));
      } catch (err) {
        throw new Error(`calibration rejected (nothing changed): cannot save ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    this.saved = next;
    for (const b of measured) this.deps.pipelines.setGyroBias(b.wearer, b.placement, b.gyroBias);
    this.deps.logger.info("calibrated", { sensors: Object.keys(result), ...(file ? { file } : {}) });
    return result;
  }

  /** The mounting calibrations loaded from `calibration.file` (after start()). */
  savedMountings(): readonly SavedMounting[] {
    return this.mountings;
  }

  /** Keeps a mounting calibration (and writes the file, when there is one). Rejects when it cannot be written. */
  async saveMounting(m: SavedMounting): Promise<void> {
    this.mountings = mergeCalibration(this.mountings, [m]);
    const file = this.config.file;
    if (file) await this.write(file, () => formatCalibration(this.saved, this.mountings));
  }

  /** Forgets these sensors' mounting calibrations (their gyro biases stay); rejects when the file cannot be written. */
  async forgetMountings(which: readonly { readonly wearer: string; readonly placement: Placement }[]): Promise<void> {
    const gone = new Set(which.map((w) => `${w.wearer}/${w.placement}`));
    this.mountings = this.mountings.filter((m) => !gone.has(`${m.wearer}/${m.placement}`));
    const file = this.config.file;
    if (file) await this.write(file, () => formatCalibration(this.saved, this.mountings));
  }

  /** Writes are chained: the text is built when its turn comes, so the last write has everything. */
  private write(file: string, text: () => string): Promise<void> {
    const next = this.writes.then(() => atomicWriteFile(file, text()));
    this.writes = next.catch(() => undefined);
    return next;
  }

  /**
   * The last calibration (`calibration.file`). A missing file is normal (never
   * calibrated); an unreadable or malformed one is logged and ignored: the
   * device runs uncalibrated rather than not at all.
   */
  private async load(): Promise<void> {
    const file = this.config.file;
    if (!file) return;
    const log = this.deps.logger;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        log.info(`no saved calibration at ${file}: gyro bias 0 until a calibrate command succeeds`);
      } else {
        log.warn(`cannot read the saved calibration, running without it: ${(err as Error).message}`, { file });
      }
      return;
    }
    try {
      const parsed = parseCalibrationFile(text, file);
      this.saved = parsed.biases;
      this.mountings = parsed.mountings;
      const now = Date.now();
      log.info(`loaded the saved calibration of ${this.saved.length} sensor(s)`, {
        file,
        ageHours: Object.fromEntries(this.saved.map((b) => [`${b.wearer}/${b.placement}`, +((now - Date.parse(b.savedAt)) / 3.6e6).toFixed(1)])),
        mountingAgeHours: Object.fromEntries(this.mountings.map((m) => [`${m.wearer}/${m.placement}`, +((now - Date.parse(m.savedAt)) / 3.6e6).toFixed(1)])),
      });
    } catch (err) {
      log.warn(`ignoring a malformed saved calibration (gyro bias 0): ${(err as Error).message}`, { file });
    }
  }
}

/** Pure: adds one routed sample to the capture's sums. */
export function accumulate(capture: Capture, { wearer, placement, sample }: RoutedSample): void {
  const key = `${wearer}|${placement}`;
  let e = capture.get(key);
  if (!e) capture.set(key, (e = { wearer, placement, n: 0, g: [0, 0, 0], g2: [0, 0, 0], a: [0, 0, 0] }));
  e.n += 1;
  for (let i = 0; i < 3; i++) {
    e.g[i]! += sample.gyro[i]!;
    e.g2[i]! += sample.gyro[i]! ** 2;
    e.a[i]! += sample.acc[i]!;
  }
}

/** Pure: the verdict on a finished capture. Any problem means the whole calibration is refused. */
export function judgeCapture(
  capture: Capture,
  ctx: {
    wearers: readonly string[];
    placements: readonly Placement[];
    references: Readonly<Record<string, readonly number[]>>;
    /** gait-features/2: each sensor's mounting rotation; the references are then in segment frames. */
    segmentFrame?: (wearer: string, placement: Placement) => Mat3 | undefined;
    maxGyroStd: number;
    savedAt: string;
  },
): { result: Record<string, SensorCalibration>; measured: SavedBias[]; problems: string[] } {
  const result: Record<string, SensorCalibration> = {};
  const problems: string[] = [];
  const measured: SavedBias[] = [];
  // Every placement of every streaming wearer must have stood still: all or nothing.
  for (const wearer of ctx.wearers) {
    for (const placement of ctx.placements) {
      if (!capture.has(`${wearer}|${placement}`)) problems.push(`${wearer}/${placement}: no samples`);
    }
  }
  for (const s of capture.values()) {
    const { wearer, placement } = s;
    if (!ctx.placements.includes(placement)) continue;
    if (s.n < 10) {
      problems.push(`${wearer}/${placement}: only ${s.n} samples`);
      continue;
    }
    const mean = s.g.map((v) => v / s.n) as unknown as Vec3;
    const std = s.g2.map((v, i) => Math.sqrt(Math.max(0, v / s.n - mean[i]! ** 2)));
    const worst = Math.max(...std);
    if (![...mean, ...s.a].every(Number.isFinite)) {
      problems.push(`${wearer}/${placement}: non-finite readings during calibration`);
      continue;
    }
    if (worst > ctx.maxGyroStd) {
      problems.push(`${wearer}/${placement}: moving during calibration (gyro std ${worst.toFixed(3)} rad/s)`);
      continue;
    }
    const a = s.a.map((v) => v / s.n);
    const ref = ctx.references[placement];
    // v2: "up" is in the segment frame, so the standing vertical goes there first (no rotation yet: no reference).
    const C = ctx.segmentFrame ? ctx.segmentFrame(wearer, placement) : undefined;
    const up = !ctx.segmentFrame ? a : C ? C.map((r) => r[0] * a[0]! + r[1] * a[1]! + r[2] * a[2]!) : undefined;
    result[`${wearer}/${placement}`] = { gyroBias: mean, gyroStd: std, samples: s.n, mountingOffsetDeg: ref && up ? angleToReference(up, ref) : null };
    measured.push({ wearer, placement, gyroBias: mean, savedAt: ctx.savedAt });
  }
  return { result, measured, problems };
}

/** Pure: degrees between a measured gravity direction and the reference's "up" (q_ref applied to +z). */
export function angleToReference(acc: readonly number[], q: readonly number[]): number {
  const [w, x, y, z] = q as [number, number, number, number];
  // third column of the rotation matrix of q: where q sends +z
  const up = [2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)];
  const n = Math.hypot(acc[0]!, acc[1]!, acc[2]!);
  const dot = (acc[0]! * up[0]! + acc[1]! * up[1]! + acc[2]! * up[2]!) / n;
  return (Math.acos(Math.max(-1, Math.min(1, dot))) * 180) / Math.PI;
}
