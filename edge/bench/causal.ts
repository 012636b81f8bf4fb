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
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { createLogger, type Logger } from "../log.js";
import { parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
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
}

function score(m: RmseMeter): StreamScore {
  const r = m.result();
  return { samples: m.samples, joints: r.joints, mean: r.mean };
}

/** One trial through the runtime with per-sample mode on (every sample). */
export async function scoreTrial(trial: string, model: string, logger: Logger): Promise<TrialScore> {
  const ikFile = trial.replace(/_imu(\.csv(\.gz)?)$/, "_ik$1");
  if (ikFile === trial) throw new Error(`${trial}: expected a Camargo *_imu.csv[.gz] trial`);
  const config = parseConfig({
    model,
    // chunk 1: backpressure after every sample, so inference never falls behind the replay
    sources: [{ kind: "replay", file: trial, format: "camargo", speed: 0, chunk: 1 }],
    mqtt: { deviceId: "causal", embedded: { host: "127.0.0.1", port: 0 } },
    pipeline: { perSample: { enabled: true, every: 1 } },
  });
  let finish!: () => void;
  const ended = new Promise<void>((r) => (finish = r));
  // Windowed samples by grid time, kept until the end to be matched with the causal ones.
  const windowedAt = new Map<number, number[]>();
  const causalAt = new Map<number, number[]>();
  const runtime = new EdgeRuntime(config, {
    logger,
    onEnd: () => finish(),
    onAngles: (msg) => msg.angles.forEach((a, i) => windowedAt.set(msg.sensorTimeUs![i]!, a)),
    onSampleAngles: (msg) => causalAt.set(msg.tUs, msg.a),
  });
  await runtime.start();
  await ended;
  const joints = runtime.contract.pipeline.joints;
  const stats = runtime.stats().pipelines.default;
  await runtime.stop();
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
  out(`| trial | windowed (all) | windowed (causal's samples) | causal | causal - windowed | skipped |`);
  out(`|---|---|---|---|---|---|`);
  for (const t of trials) {
    const s = await scoreTrial(t, values.model, logger);
    scores.push(s);
    const d = s.causal.mean - s.windowedOnCausalSamples.mean;
    out(`| ${s.trial} | ${s.windowed.mean.toFixed(3)} | ${s.windowedOnCausalSamples.mean.toFixed(3)} | ${s.causal.mean.toFixed(3)} | ${d >= 0 ? "+" : ""}${d.toFixed(3)} | ${s.skipped} |`);
  }
  const w = pool(scores.map((s) => s.windowed));
  const wc = pool(scores.map((s) => s.windowedOnCausalSamples));
  const c = pool(scores.map((s) => s.causal));
  const d = c.mean - wc.mean;
  out(`| pooled (${scores.length} trials, ${c.samples} causal samples) | ${w.mean.toFixed(3)} | ${wc.mean.toFixed(3)} | ${c.mean.toFixed(3)} | ${d >= 0 ? "+" : ""}${d.toFixed(3)} | ${scores.reduce((n, s) => n + s.skipped, 0)} |`);
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
