/**
 * Accuracy of per-sample mode's causal estimates beside the windowed stream's,
 * on recorded Camargo trials, through the real runtime (replay source,
 * pipeline, shipped int8 model, both output streams):
 *
 *   npx tsx edge/bench/causal.ts --data ../shared/data/camargo_ab06/trials --include '*_04_01'
 *
 * The causal estimate of a grid sample is the LAST row of the window ending at
 * it; the windowed stream publishes rows 25..49 of each window (contract step
 * 10), so its samples had up to 24 samples of look-ahead. Each is scored
 * against the trial's IK angles (edge/runtime/truth.ts, as the demo and
 * `make evaluate` do). The windowed figure is given twice: over all its
 * samples (what `make evaluate` reports) and over exactly the samples that
 * have a causal estimate (each segment's first 49 have none), which is the
 * like-for-like comparison.
 *
 * The replay is paced by inference (chunk 1 + backpressure), so no
 * per-sample request is skipped; the skipped count is printed to prove it.
 *
 * A `gait-features/2` model publishes nothing until each sensor's mounting is
 * calibrated (docs/calibration.md "On the edge"), and a held-out trial is
 * about as long as the automatic calibration takes. So each trial is replayed
 * twice: a first pass calibrates the mounting from the trial's own walking
 * (`mounting.walkS` = 10 s) into a temporary `calibration.file`, and the
 * scored pass starts from it, as a device does after its first walk. A trial
 * whose calibration is refused is reported, not scored.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadManifest } from "../contract/manifest.js";
import { createLogger, type Logger } from "../log.js";
import { parseConfig } from "../runtime/config.js";
import { EdgeRuntime, type RuntimeDeps } from "../runtime/runtime.js";
import { readCamargoAngles, RmseMeter } from "../runtime/truth.js";

export interface StreamScore {
  readonly samples: number;
  readonly joints: Record<string, number>;
  readonly mean: number;
}

export interface TrialScore {
  readonly trial: string;
  readonly windowed: StreamScore;
  readonly windowedOnCausalSamples: StreamScore;
  readonly causal: StreamScore;
  readonly skipped: number;
  /** Why nothing was scored (a refused mounting calibration), else absent. */
  readonly refused?: string;
}

function score(m: RmseMeter): StreamScore {
  const r = m.result();
  return { samples: m.samples, joints: r.joints, mean: r.mean };
}

/** Seconds of walking the calibration pre-pass uses (the config's minimum). */
const PREPASS_WALK_S = 10;

/** Replays `trial` once through the runtime; resolves with the runtime, still running, at the replay's end (the caller stops it). */
async function replayOnce(
  trial: string,
  model: string,
  logger: Logger,
  opts: { calibrationFile?: string; walkS?: number; perSample: boolean },
  hooks: Pick<RuntimeDeps, "onAngles" | "onSampleAngles"> = {},
): Promise<EdgeRuntime> {
  const config = parseConfig({
    model,
    // chunk 1: backpressure after every sample, so inference never falls behind the replay
    sources: [{ kind: "replay", file: trial, format: "camargo", speed: 0, chunk: 1 }],
    mqtt: { deviceId: "causal", embedded: { host: "127.0.0.1", port: 0 } },
    pipeline: { perSample: { enabled: opts.perSample, every: 1 } },
    calibration: opts.calibrationFile ? { file: opts.calibrationFile } : undefined,
    mounting: opts.walkS !== undefined ? { walkS: opts.walkS } : undefined,
  });
  let finish!: () => void;
  const ended = new Promise<void>((r) => (finish = r));
  const runtime = new EdgeRuntime(config, { logger, onEnd: () => finish(), ...hooks });
  await runtime.start();
  await ended;
  return runtime;
}

/** The mounting states that are not `calibrated` after a pass, as "placement: state (reason)"; empty when all are. */
function uncalibrated(runtime: EdgeRuntime): string[] {
  return Object.entries(runtime.stats().mounting ?? {})
    .filter(([, m]) => m.state !== "calibrated")
    .map(([key, m]) => `${key}: ${m.state}${m.reason ? ` (${m.reason})` : ""}`);
}

/** One trial through the runtime with per-sample mode on (every sample). */
export async function scoreTrial(trial: string, model: string, logger: Logger): Promise<TrialScore> {
  const ikFile = trial.replace(/_imu(\.csv(\.gz)?)$/, "_ik$1");
  if (ikFile === trial) throw new Error(`${trial}: expected a Camargo *_imu.csv[.gz] trial`);
  const dir = await mkdtemp(path.join(os.tmpdir(), "gait-causal-"));
  try {
    const calibrationFile = path.join(dir, "calibration.json");
    let calibration: string | undefined;
    if ((await loadManifest(model)).pipeline.segmentFrames) {
      const pre = await replayOnce(trial, model, logger, { calibrationFile, walkS: PREPASS_WALK_S, perSample: false });
      const missing = uncalibrated(pre);
      await pre.stop();
      if (missing.length) return emptyScore(trial, `mounting not calibrated: ${missing.join("; ")}`);
      calibration = calibrationFile;
    }
    // Windowed samples by grid time, kept until the end to be matched with the causal ones.
    const windowedAt = new Map<number, number[]>();
    const causalAt = new Map<number, number[]>();
    const run = await replayOnce(trial, model, logger, { calibrationFile: calibration, perSample: true }, {
      onAngles: (msg) => msg.angles.forEach((a, i) => windowedAt.set(msg.sensorTimeUs![i]!, a)),
      onSampleAngles: (msg) => causalAt.set(msg.tUs, msg.a),
    });
    const joints = run.contract.pipeline.joints;
    const stats = run.stats().pipelines.default;
    await run.stop();
    const reference = await readCamargoAngles(ikFile, joints);
    const windowed = new RmseMeter(reference, joints);
    const windowedCommon = new RmseMeter(reference, joints);
    const causal = new RmseMeter(reference, joints);
    for (const [tUs, a] of windowedAt) windowed.add(tUs, a);
    for (const [tUs, a] of causalAt) {
      causal.add(tUs, a);
      const w = windowedAt.get(tUs);
      if (w) windowedCommon.add(tUs, w);
    }
    return {
      trial: path.basename(trial),
      windowed: score(windowed),
      windowedOnCausalSamples: score(windowedCommon),
      causal: score(causal),
      skipped: stats?.perSample?.skipped ?? Number.NaN,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function emptyScore(trial: string, refused: string): TrialScore {
  const none: StreamScore = { samples: 0, joints: {}, mean: Number.NaN };
  return { trial: path.basename(trial), windowed: none, windowedOnCausalSamples: none, causal: none, skipped: 0, refused };
}

/** Pooled over trials: per joint sqrt(Σ n·rmse² / Σ n), then the mean over joints. */
export function pool(scores: readonly StreamScore[]): StreamScore {
  const n = scores.reduce((s, x) => s + x.samples, 0);
  const names = Object.keys(scores[0]?.joints ?? {});
  const joints = Object.fromEntries(names.map((j) => [j, Math.sqrt(scores.reduce((s, x) => s + x.samples * x.joints[j]! ** 2, 0) / n)]));
  const vals = Object.values(joints);
  return { samples: n, joints, mean: vals.reduce((a, b) => a + b, 0) / vals.length };
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: "string", default: "../shared/data/camargo_ab06/trials" },
      include: { type: "string", default: "*" },
      model: { type: "string", default: "models/reduced-femur-calcn-lstm/manifest.json" },
    },
  });
  const match = globToRegExp(values.include);
  const trials = (await readdir(values.data))
    .filter((f) => f.endsWith("_imu.csv.gz") && match.test(f.replace(/_imu\.csv\.gz$/, "")))
    .sort()
    .map((f) => path.join(values.data, f));
  if (!trials.length) throw new Error(`no *_imu.csv.gz trial in ${values.data} matches --include '${values.include}'`);
  const logger = createLogger("causal", { level: "warn", format: "json" });
  const out = (s: string): boolean => process.stdout.write(s + "\n");
  const scores: TrialScore[] = [];
  const refused: string[] = [];
  out(`| trial | windowed (all) | windowed (causal's samples) | causal | causal - windowed | skipped |`);
  out(`|---|---|---|---|---|---|`);
  for (const t of trials) {
    const s = await scoreTrial(t, values.model, logger);
    if (s.refused) {
      out(`| ${s.trial} | not scored: ${s.refused} | | | | |`);
      refused.push(s.trial);
      continue;
    }
    scores.push(s);
    const d = s.causal.mean - s.windowedOnCausalSamples.mean;
    out(`| ${s.trial} | ${s.windowed.mean.toFixed(3)} | ${s.windowedOnCausalSamples.mean.toFixed(3)} | ${s.causal.mean.toFixed(3)} | ${d >= 0 ? "+" : ""}${d.toFixed(3)} | ${s.skipped} |`);
  }
  // A figure from no samples is no figure: say why instead of printing NaN.
  if (!scores.some((s) => s.causal.samples > 0)) throw new Error(`no causal estimate was scored in ${trials.length} trial(s)${refused.length ? ` (not scored: ${refused.join(", ")})` : ""}`);
  const w = pool(scores.map((s) => s.windowed));
  const wc = pool(scores.map((s) => s.windowedOnCausalSamples));
  const c = pool(scores.map((s) => s.causal));
  const d = c.mean - wc.mean;
  out(`| pooled (${scores.length} trials${refused.length ? `; ${refused.length} not scored` : ""}, ${c.samples} causal samples) | ${w.mean.toFixed(3)} | ${wc.mean.toFixed(3)} | ${c.mean.toFixed(3)} | ${d >= 0 ? "+" : ""}${d.toFixed(3)} | ${scores.reduce((n, s) => n + s.skipped, 0)} |`);
  out("");
  out("per joint, pooled (deg): joint | windowed (causal's samples) | causal");
  for (const j of Object.keys(c.joints)) out(`  ${j.padEnd(22)} ${wc.joints[j]!.toFixed(3)}  ${c.joints[j]!.toFixed(3)}`);
  out("");
  out(`issue #11 bar: causal at most 0.3 deg worse than windowed (mean RMSE over joints): ${d <= 0.3 ? "met" : `NOT met, by ${(d - 0.3).toFixed(3)} deg`} (difference ${d.toFixed(3)} deg)`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("edge/bench/causal.ts")) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
