/**
 * The bench's calibration pre-pass. A `gait-features/2` model (the shipped
 * one) publishes no angles until each sensor's mounting is calibrated from
 * `mounting.walkS` (20 s) of walking (edge/modules/mounting.ts), longer than
 * a bench level. A device calibrates once, saves the mountings to
 * `calibration.file` and loads them at every later start; the bench measures
 * that later start:
 *
 *   1. once, before the timed levels: the real runtime (simulator in fast
 *      mode, the bench's seed) walks every simulated wearer the bench will use
 *      for a little over `walkS`, and its mounting module calibrates each
 *      sensor from that walking, as on a device's first start;
 *   2. each timed run gets a `calibration.file` holding the mountings of its
 *      own wearers (written with the runtime's formatCalibration), which the
 *      runtime loads at start through its ordinary path (the calibration
 *      module, then the mounting module): every wearer publishes angles from
 *      its first window, in segment frames, and the re-strap check runs on its
 *      walking as in service.
 *
 * Wearer w of the simulator is the same stream whatever the number of wearers
 * (edge/sources/simulator/gaitSimulator.ts: its traits come from the seed and
 * w), so one pre-pass over the most wearers serves every level.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Logger } from "../log.js";
import { CALIBRATION_ALGORITHM } from "../calibration/index.js";
import type { MountingStats } from "../modules/mounting.js";
import { formatCalibration, type SavedMounting } from "../runtime/calibrationFile.js";
import { parseConfig, type RuntimeConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import { simulatorSensorId } from "../sources/simulator/simulatorSource.js";

export interface PrepassOptions {
  readonly model: string;
  /** Wearers from+1..this are calibrated (the most wearers the runs use). */
  readonly wearers: number;
  /** The wearers before this are calibrated already (default 0: none). */
  readonly from?: number;
  /** The simulator seed of the timed runs (their walking must be the walking calibrated). */
  readonly seed: number;
  readonly logger: Logger;
}

export interface BenchCalibration {
  readonly mountings: readonly SavedMounting[];
  readonly wearers: number;
  /** Simulated seconds of walking per wearer. */
  readonly walkedS: number;
  /** Wall-clock seconds the pre-pass took. */
  readonly wallS: number;
}

/** The simulator's wearer name for wearer index `w` (from 0): its default sensor id's wearer part ("w1"). */
export function simulatedWearer(w: number): string {
  return simulatorSensorId("w{wearer}", w, "femur_r");
}

/**
 * Pure: the saved form of every mounting the runtime's stats show, as the
 * mounting module saves it. Throws naming each sensor that is not calibrated
 * (and why): a bench on uncalibrated wearers would measure nothing.
 */
export function mountingsFromStats(stats: Readonly<Record<string, MountingStats>>, expected: number): SavedMounting[] {
  const out: SavedMounting[] = [];
  const problems: string[] = [];
  for (const [key, m] of Object.entries(stats)) {
    const cut = key.lastIndexOf("/");
    const wearer = key.slice(0, cut);
    const placement = key.slice(cut + 1) as SavedMounting["placement"];
    if (m.state !== "calibrated" || !m.rotation || !m.quality || !m.savedAt) {
      problems.push(`${key}: ${m.state}${m.reason ? ` (${m.reason})` : ""}`);
      continue;
    }
    out.push({
      wearer, placement, rotation: m.rotation, quality: m.quality, savedAt: m.savedAt,
      // Made by this build's mounting module: a start applies only its own algorithm's mountings.
      algorithm: CALIBRATION_ALGORITHM,
      ...(m.handedness ? { handedness: m.handedness } : {}),
      ...(m.sensorId !== null ? { sensorId: m.sensorId } : {}),
    });
  }
  if (problems.length) throw new Error(`bench calibration pre-pass: ${problems.length} sensor(s) not calibrated: ${problems.slice(0, 5).join("; ")}`);
  if (out.length !== expected) throw new Error(`bench calibration pre-pass: ${out.length} sensors calibrated, expected ${expected}`);
  return out;
}

/**
 * Wearers per runtime of the pre-pass. While calibrating, a device's status
 * lists every sensor still calibrating and is republished at each tenth of
 * each sensor's progress: quadratic in the wearers of one runtime (minutes,
 * and gigabytes of status messages, at 1500 wearers). Parts of this many keep
 * the pre-pass linear (the simulator's firstWearer).
 */
export const PREPASS_PART_WEARERS = 100;

/** Step 1: walks wearers 1..`wearers` (fast mode, in parts) until their mountings are calibrated. */
export async function calibrateSimulatedWearers(o: PrepassOptions): Promise<BenchCalibration> {
  const base = {
    model: o.model,
    mqtt: { deviceId: "bench-calibration", embedded: { host: "127.0.0.1", port: 0 } },
  };
  // A quarter more than one judgement's walking: the judgement counts moving samples only.
  const walkS = parseConfig({ ...base, sources: [{ kind: "simulator" }] }).mounting.walkS * 1.25;
  const t0 = performance.now();
  const mountings: SavedMounting[] = [];
  const logger = warningsOnly(o.logger);
  for (let first = o.from ?? 0; first < o.wearers; first += PREPASS_PART_WEARERS) {
    const wearers = Math.min(PREPASS_PART_WEARERS, o.wearers - first);
    const source = { kind: "simulator", wearers, firstWearer: first, realtime: false, durationS: walkS, seed: o.seed };
    mountings.push(...(await calibratePart(parseConfig({ ...base, sources: [source] }), wearers, logger)));
  }
  return { mountings, wearers: o.wearers, walkedS: walkS, wallS: +((performance.now() - t0) / 1000).toFixed(1) };
}

/** `logger` without its debug and info lines: the pre-pass's runtimes log a line per sensor calibrated, thousands. */
function warningsOnly(logger: Logger): Logger {
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (msg, fields) => logger.warn(msg, fields),
    error: (msg, fields) => logger.error(msg, fields),
    child: (namespace) => warningsOnly(logger.child(namespace)),
  };
}

/** One runtime's walk to its source's end: the mountings its wearers calibrated. */
async function calibratePart(config: RuntimeConfig, wearers: number, logger: Logger): Promise<SavedMounting[]> {
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  const runtime = new EdgeRuntime(config, { logger, onEnd: () => ended() });
  try {
    await runtime.start();
    await done;
    return mountingsFromStats(runtime.stats().mounting, wearers * runtime.contract.pipeline.placements.length);
  } finally {
    await runtime.stop();
  }
}

/** Pure: the calibration file's text for wearers 1..`wearers` (throws when the pre-pass did not calibrate that many). */
export function calibrationFileFor(c: BenchCalibration, wearers: number): string {
  if (wearers > c.wearers) throw new Error(`bench calibration pre-pass calibrated ${c.wearers} wearers; a run wants ${wearers}`);
  const names = new Set(Array.from({ length: wearers }, (_, w) => simulatedWearer(w)));
  return formatCalibration([], c.mountings.filter((m) => names.has(m.wearer)));
}

/**
 * Step 2's files, one per wearer count, in a temporary folder removed by `remove()`.
 * Given `more`, a run that wants more wearers than are calibrated calibrates
 * the rest first (before that run starts, never during one): the levels that
 * look for the most wearers served stop at the first that fails, so the
 * pre-pass walks only the wearers some run uses.
 */
export class BenchCalibrationFiles {
  private constructor(
    private readonly dir: string,
    private current: BenchCalibration,
    private readonly more: Omit<PrepassOptions, "wearers" | "from"> | undefined,
  ) {}

  static async create(c: BenchCalibration, more?: Omit<PrepassOptions, "wearers" | "from">): Promise<BenchCalibrationFiles> {
    return new BenchCalibrationFiles(await mkdtemp(path.join(tmpdir(), "gait-bench-calibration-")), c, more);
  }

  /** Every mounting calibrated so far, and the pre-pass's seconds in all. */
  get calibration(): BenchCalibration {
    return this.current;
  }

  /** A fresh `calibration.file` holding the mountings of wearers 1..`wearers` (rewritten per run: a runtime may save into it). */
  async fileFor(wearers: number): Promise<string> {
    const c = this.current;
    if (wearers > c.wearers && this.more) {
      const added = await calibrateSimulatedWearers({ ...this.more, wearers, from: c.wearers });
      this.current = { mountings: [...c.mountings, ...added.mountings], wearers, walkedS: c.walkedS, wallS: +(c.wallS + added.wallS).toFixed(1) };
    }
    const file = path.join(this.dir, `calibration-${wearers}.json`);
    await writeFile(file, calibrationFileFor(this.current, wearers));
    return file;
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
