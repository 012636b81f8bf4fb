/**
 * A/B of the inference pool (issue #11, docs/architecture.md "A pool of
 * inference workers") and of staggered windows ("Staggered windows"): the
 * windowed end-to-end p99 of wearers who all start on one tick, for the
 * defaults (main thread), one worker thread and pools of 2 and 3, and the
 * defaults and the pool of 2 with `pipeline.windowPhase: aligned` (every
 * stride ends on the same tick: the worst case), each run `runs` times in
 * turn (so a load spike on a shared machine hits every configuration alike),
 * reported as medians with the machine's load average.
 *
 *   node_modules/.bin/tsx edge/bench/poolAb.ts [--wearers 25,100] [--runs 3] [--seconds 4] [--spread]
 *   node_modules/.bin/tsx edge/bench/poolAb.ts --burst [--wearers 25,100] [--runs 60]
 *
 * --burst measures the inference part alone, in this process, through the
 * loader's sessions: `wearers` windows submitted at once (an aligned tick)
 * -> the last one's output, each configuration in turn, `runs` times; the
 * sessions of every configuration stay loaded meanwhile (idle workers cost
 * nothing). Far steadier on a shared machine than the end-to-end levels,
 * whose p99 is made of the moments other work took the cores.
 *
 * A development tool, not part of `make bench` (which runs the pool of 2 as
 * the `windowed_pool2_*` levels).
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { loadManifest } from "../contract/manifest.js";
import { InferenceConfigSchema } from "../inference/onnxModel.js";
import { onnxModelLoader } from "../ota/ports.js";
import { DEFAULT_MODEL } from "../runtime/config.js";
import { createLogger } from "../log.js";
import { BenchCalibrationFiles, calibrateSimulatedWearers } from "./calibrationPrepass.js";
import { startMosquitto } from "./mosquitto.js";
import { windowedRun, type WindowedRunOptions } from "./windowed.js";

/** [name, inference config, pipeline.windowPhase (default staggered)]. --burst runs inference alone: the window phase does not enter. */
const CONFIGS: ReadonlyArray<readonly [string, NonNullable<WindowedRunOptions["inference"]>, WindowedRunOptions["windowPhase"]?]> = [
  ["defaults (main thread)", {}],
  ["defaults, windows aligned", {}, "aligned"],
  ["thread worker", { thread: "worker" }],
  ["pool of 2", { thread: "worker", workers: 2 }],
  ["pool of 2, windows aligned", { thread: "worker", workers: 2 }, "aligned"],
  ["pool of 3", { thread: "worker", workers: 3 }],
];
const BURST_CONFIGS = CONFIGS.filter(([, , phase]) => phase === undefined);

/** Seed of the simulated wearers: the bench's, so the calibration pre-pass fits them. */
const SEED = 7;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** The inference part of an aligned tick: `n` windows at once -> the last output, per configuration, interleaved. */
async function burst(model: string, wearers: readonly number[], runs: number, print: (s: string) => void): Promise<void> {
  const contract = await loadManifest(model);
  const length = contract.pipeline.window * contract.featureCount;
  const sessions = [];
  for (const [name, inference] of BURST_CONFIGS) sessions.push([name, await onnxModelLoader(InferenceConfigSchema.parse(inference))(contract)] as const);
  const loads: number[] = [];
  try {
    for (const n of wearers) {
      const windows = Array.from({ length: n }, (_, k) => Float32Array.from({ length }, (_, i) => Math.sin(i * 0.37 + k)));
      const last = new Map<string, number[]>(BURST_CONFIGS.map(([name]) => [name, []]));
      for (const [, s] of sessions) for (let i = 0; i < 5; i++) await Promise.all(windows.map((w) => s.run(w, 1))); // warm-up
      for (let run = 0; run < runs; run++) {
        for (const [name, s] of sessions) {
          const t0 = performance.now();
          await Promise.all(windows.map((w) => s.run(w, 1)));
          last.get(name)!.push(performance.now() - t0);
          await new Promise((r) => setTimeout(r, 10)); // a tick apart, as strides are
        }
        loads.push(loadavg()[0]!);
      }
      for (const [name, xs] of last) print(`| ${n} windows at once, ${name} | ${median(xs).toFixed(2)} | ${quantile(xs, 0.9).toFixed(2)} |`);
    }
  } finally {
    for (const [, s] of sessions) await s.stop();
  }
  print(`load average (1 min) during the runs: ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}, median ${median(loads).toFixed(2)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { wearers: { type: "string", default: "25,100" }, runs: { type: "string", default: "3" }, seconds: { type: "string", default: "4" }, spread: { type: "boolean", default: false }, burst: { type: "boolean", default: false }, model: { type: "string", default: DEFAULT_MODEL } },
  });
  const wearers = values.wearers.split(",").map(Number);
  const runs = Number(values.runs);
  const logger = createLogger("pool-ab", { level: "error" });
  const print = (s: string): boolean => process.stdout.write(s + "\n");
  if (values.burst) {
    print(`| windows, configuration | last output ms, median of ${runs} | p90 |\n|---|---|---|`);
    return burst(values.model, wearers, runs, print);
  }
  const prepass = { model: values.model, seed: SEED, logger };
  const calibration = await BenchCalibrationFiles.create(await calibrateSimulatedWearers({ ...prepass, wearers: Math.max(...wearers) }), prepass);
  const broker = await startMosquitto();
  const p99: Record<string, number[]> = {};
  const deviceP99: Record<string, number[]> = {};
  const loads: number[] = [];
  try {
    for (const n of wearers) {
      for (let run = 0; run < runs; run++) {
        for (const [name, inference, windowPhase] of CONFIGS) {
          const r = await windowedRun({ broker, model: values.model, wearers: n, seconds: Number(values.seconds), warmupS: 1, inference, ...(windowPhase ? { windowPhase } : {}), startSpreadS: values.spread ? 0.25 : 0, calibration, logger });
          const key = `${n} wearers, ${name}`;
          (p99[key] ??= []).push(r.e2e_p99_ms);
          (deviceP99[key] ??= []).push(r.device_p99_ms);
          loads.push(loadavg()[0]!);
          print(`${key}, run ${run + 1}: p50 ${r.e2e_p50_ms} p99 ${r.e2e_p99_ms} ms (device p50 ${r.device_p50_ms} p99 ${r.device_p99_ms}), ${r.published} published, ${r.skipped} skipped, process ${r.process_cores} cores, load ${loadavg()[0]!.toFixed(2)}`);
        }
      }
    }
  } finally {
    await broker.stop();
  }
  print(`\n| wearers, configuration | e2e p99 ms, median of ${runs} | runs | device p99 ms, median | runs |`);
  print(`|---|---|---|---|---|`);
  for (const [key, xs] of Object.entries(p99)) {
    const d = deviceP99[key]!;
    print(`| ${key} | ${median(xs).toFixed(2)} | ${xs.join(", ")} | ${median(d).toFixed(2)} | ${d.join(", ")} |`);
  }
  print(`load average (1 min) during the runs: ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}, median ${median(loads).toFixed(2)} (${values.spread ? "spread" : "aligned"} wearers)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
