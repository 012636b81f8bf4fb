/**
 * The windowed stream's part of `make bench` (edge/bench/windowed.ts does the
 * measuring): inference cost per window by batch size, then the wearer levels
 * in three configurations:
 *
 *   windowed_*                the defaults: main thread, batching exact (the
 *                             shipped int8 model runs one window per call),
 *                             staggered windows (edge/runtime/windowPhase.ts)
 *   windowed_aligned_*        the defaults with pipeline.windowPhase aligned:
 *                             every wearer's windows due on the same tick
 *   windowed_worker_*         inference.thread worker: the same outputs, the
 *                             session on a worker thread
 *   windowed_pool2_*          and inference.workers 2: a pool of two worker
 *                             threads, a session each (edge/inference/
 *                             inferencePool.ts): the same outputs, two windows
 *                             of a burst at a time
 *   windowed_coupled_worker_* and inference.batching.mode coupled: int8
 *                             windows of several wearers in one call (a
 *                             wearer's angles then depend on its partners,
 *                             docs/architecture.md "Batching across wearers")
 *   windowed_spread_*         the defaults, the worker, the pool and coupled worker again with the
 *                             wearers' starts spread over a stride: the
 *                             others start every wearer on one tick, so all
 *                             strides end together (the worst case); real
 *                             wearers connect at random moments
 *
 * and, for each configuration, what a wearer costs in CPU time
 * (edge/bench/cpuCost.ts: robust on a busy machine, unlike the latencies) with
 * the bounds that follow from it on this machine's cores:
 *
 *   windowed_*cpu                 ms of CPU per wearer per second, by thread and stage
 *   windowed_*cpu_bound_wearers   all cores' CPU / (process + broker per wearer)
 *   windowed_*main_thread_bound_wearers  one core / the main thread's share per wearer
 */
import { availableParallelism } from "node:os";
import type { LoadedContract } from "../contract/manifest.js";
import type { Logger } from "../log.js";
import type { BenchCalibrationFiles } from "./calibrationPrepass.js";
import { cpuCost, type CpuCost } from "./cpuCost.js";
import type { RunningMosquitto } from "./mosquitto.js";
import { BATCH_SIZES, P99_LIMIT_MS, formatShares, inferenceMsPerWindow, windowedLevels, type WindowedLevelsResult, type WindowedRunOptions } from "./windowed.js";

export { P99_LIMIT_MS } from "./windowed.js";

/** The e2e p99 is reported at these wearer counts; the levels after them look for the most served. */
export const REQUIRED_WEARERS = [1, 25, 100] as const;
export const MORE_WEARERS = [175, 250, 350, 500, 750, 1000, 1500] as const;
/** The CPU cost per wearer is measured at this many wearers (edge/bench/cpuCost.ts). */
export const CPU_COST_WEARERS = 100;


export interface WindowedFigures {
  readonly inferenceMsPerWindow: { readonly int8: Record<string, number>; readonly fp32: Record<string, number> };
  /** By the name of the configuration ("", "worker_", "coupled_worker_"): its levels. */
  readonly variants: ReadonlyArray<readonly [string, WindowedLevelsResult]>;
  /** The same configurations' CPU cost per wearer. */
  readonly cpu: ReadonlyArray<readonly [string, CpuCost]>;
  /** Windows each wearer's stream asks for per second (sample rate / stride: 4 for the shipped model). */
  readonly windowsPerWearerS: number;
}

/** The wearer count the issue's bar names: what inference alone would take for it is reported. */
export const TARGET_WEARERS = 1000;

/**
 * Pure: the cores inference ALONE needs for `wearers` (no sources, AHRS, mounting, publishing),
 * from the measured ms per window: int8 one window per call (the exact default) and at the
 * cheapest measured batch (only coupled batching gets it, changing each wearer's angles).
 */
export function inferenceCores(f: Pick<WindowedFigures, "inferenceMsPerWindow" | "windowsPerWearerS">, wearers: number): { int8_alone: number; int8_cheapest_batch: number } {
  const int8 = f.inferenceMsPerWindow.int8;
  const cores = (ms: number): number => +((wearers * f.windowsPerWearerS * ms) / 1000).toFixed(2);
  return { int8_alone: cores(int8["1"]!), int8_cheapest_batch: cores(Math.min(...Object.values(int8))) };
}

export async function windowedFigures(
  broker: RunningMosquitto,
  opts: { readonly model: string; readonly quick?: boolean; readonly calibration?: BenchCalibrationFiles },
  contract: LoadedContract,
  logger: Logger,
  print: (line: string) => void,
): Promise<WindowedFigures> {
  const fp32 = contract.variantPaths.fp32;
  if (!fp32) throw new Error(`${contract.manifestPath}: no fp32 variant to compare with`);
  const calls = opts.quick ? 128 : 1024;
  print(`bench: inference ms per window at batch ${BATCH_SIZES.join(", ")} (int8, fp32)`);
  const inference = { int8: await inferenceMsPerWindow(contract.modelPath, contract, calls), fp32: await inferenceMsPerWindow(fp32, contract, calls) };
  print(`bench: int8 ${JSON.stringify(inference.int8)}  fp32 ${JSON.stringify(inference.fp32)}`);
  const calibration = opts.calibration;
  const run = { broker, model: opts.model, seconds: opts.quick ? 3 : 8, warmupS: opts.quick ? 1 : 2, logger, ...(calibration ? { calibration } : {}) };
  const more = opts.quick ? [] : MORE_WEARERS;
  // [name, what, inference config, startSpreadS, measure the CPU cost]; spread wearers cost the same CPU.
  const stride = contract.pipeline.stride / contract.pipeline.sampleRateHz;
  const coupledWorker = { thread: "worker", batching: { mode: "coupled" } } as const;
  const pool2 = { thread: "worker", workers: 2 } as const;
  const configs: ReadonlyArray<readonly [string, string, WindowedRunOptions["inference"], number, boolean, WindowedRunOptions["windowPhase"]?]> = [
    ["", "the defaults (main thread; exact batching: the int8 model runs one window per call; staggered windows)", {}, 0, true],
    ["aligned_", "the defaults with pipeline.windowPhase aligned (every window a stride after the last: all wearers' due on one tick)", {}, 0, false, "aligned"],
    ["worker_", "inference.thread worker", { thread: "worker" }, 0, true],
    ["pool2_", "inference.thread worker, inference.workers 2 (a session per worker, the same outputs)", pool2, 0, true],
    // Coupled batching wants the windows due together: aligned, so they run as one call.
    ["coupled_worker_", "inference.thread worker, inference.batching.mode coupled, windowPhase aligned", coupledWorker, 0, true, "aligned"],
    ["spread_", `the defaults, wearers' starts spread over a stride (simulator startSpreadS ${stride})`, {}, stride, false],
    ["spread_worker_", `worker (exact: one window per call), wearers' starts spread over a stride`, { thread: "worker" }, stride, false],
    ["spread_pool2_", `worker, 2 workers, wearers' starts spread over a stride`, pool2, stride, false],
    ["spread_coupled_worker_", `worker, coupled, windowPhase aligned, wearers' starts spread over a stride`, coupledWorker, stride, false, "aligned"],
  ];
  const variants: Array<[string, WindowedLevelsResult]> = [];
  const cpu: Array<[string, CpuCost]> = [];
  for (const [name, what, config, startSpreadS, measureCpu, windowPhase] of configs) {
    print(`bench: windowed levels, ${what}`);
    variants.push([name, await windowedLevels({ ...run, inference: config, startSpreadS, ...(windowPhase ? { windowPhase } : {}) }, REQUIRED_WEARERS, more, print)]);
    if (!measureCpu) continue;
    // 100 wearers: the simulator's chunks then hold under one stride, so inference keeps up and no window is skipped.
    const c = await cpuCost({ broker, model: opts.model, wearers: CPU_COST_WEARERS, simSeconds: opts.quick ? 5 : 25, inference: config, logger, ...(calibration ? { calibration } : {}) });
    cpu.push([name, c]);
    print(`bench: cpu per wearer-second ${c.cpu_ms_per_wearer_s} ms (main thread ${c.main_thread_cpu_ms_per_wearer_s}: ${stageList(c.main_thread_ms_per_wearer_s)}), mosquitto ${c.mosquitto_ms_per_wearer_s}; ${c.windows} windows, ${c.skipped} skipped`);
  }
  return { inferenceMsPerWindow: inference, variants, cpu, windowsPerWearerS: contract.pipeline.sampleRateHz / contract.pipeline.stride };
}

function p99At(r: WindowedLevelsResult): Record<string, number> {
  return Object.fromEntries(r.levels.filter((l) => (REQUIRED_WEARERS as readonly number[]).includes(l.wearers)).map((l) => [String(l.wearers), l.e2e_p99_ms]));
}

export function windowedJson(f: WindowedFigures): Record<string, unknown> {
  const out: Record<string, unknown> = {
    inference_ms_per_window: f.inferenceMsPerWindow,
    [`inference_cores_for_${TARGET_WEARERS}_wearers`]: inferenceCores(f, TARGET_WEARERS),
    cores: availableParallelism(),
  };
  for (const [name, r] of f.variants) {
    out[`windowed_${name}e2e_p99_ms`] = p99At(r);
    out[`windowed_${name}max_wearers`] = r.maxWearers;
    out[`windowed_${name}levels`] = r.levels;
  }
  for (const [name, c] of f.cpu) {
    out[`windowed_${name}cpu`] = c;
    Object.assign(out, bounds(name, c));
  }
  return out;
}

function stageList(s: Partial<Record<string, number>>): string {
  return Object.entries(s).map(([k, v]) => `${k} ${v}`).join(", ");
}

/** Upper bounds on wearers from the CPU cost alone (no latency, no burst): all cores, and the one main thread. */
function bounds(name: string, c: CpuCost): Record<string, number> {
  const cores = availableParallelism();
  return {
    [`windowed_${name}cpu_bound_wearers`]: Math.floor((cores * 1000) / (c.cpu_ms_per_wearer_s + c.mosquitto_ms_per_wearer_s)),
    [`windowed_${name}main_thread_bound_wearers`]: Math.floor(1000 / c.main_thread_cpu_ms_per_wearer_s),
  };
}

export function printWindowed(f: WindowedFigures, print: (line: string) => void): void {
  for (const v of ["int8", "fp32"] as const) {
    print(`| inference_ms_per_window ${v} | ${BATCH_SIZES.map((b) => `${b}: ${f.inferenceMsPerWindow[v][String(b)]}`).join(", ")} | |`);
  }
  const need = inferenceCores(f, TARGET_WEARERS);
  print(`| inference_cores_for_${TARGET_WEARERS}_wearers | ${need.int8_alone} (int8 alone), ${need.int8_cheapest_batch} (cheapest coupled batch) | of ${availableParallelism()} cores, before any other work |`);
  for (const [name, r] of f.variants) {
    print(`| windowed_${name}e2e_p99_ms | ${Object.entries(p99At(r)).map(([n, v]) => `${n}: ${v}`).join(", ")} | 25: <= 10 |`);
    print(`| windowed_${name}max_wearers | ${r.maxWearers} | >= 1000 (no skipped stride, p99 < ${P99_LIMIT_MS} ms) |`);
    const c = f.cpu.find(([n]) => n === name)?.[1];
    if (c) {
      const b = bounds(name, c);
      print(`| windowed_${name}cpu_ms_per_wearer_s | ${c.cpu_ms_per_wearer_s} (main thread ${c.main_thread_cpu_ms_per_wearer_s}; mosquitto ${c.mosquitto_ms_per_wearer_s}) | |`);
      print(`| windowed_${name}cpu_bound_wearers, main_thread_bound_wearers | ${b[`windowed_${name}cpu_bound_wearers`]}, ${b[`windowed_${name}main_thread_bound_wearers`]} | (upper bounds from CPU alone) |`);
    }
    const profiled = r.levels.find((l) => l.main_thread);
    if (profiled?.main_thread) print(`| windowed_${name}main_thread at ${profiled.wearers} wearers | ${formatShares(profiled.main_thread)} | |`);
  }
}
