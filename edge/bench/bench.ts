/**
 * `make bench JSON=<out>`: the figures the edge runtime is held to, in one run
 * on this machine, through a real mosquitto broker.
 *
 *   int8_p50_ms, fp32_p50_ms  one inference of the model (batch 1), back to back
 *   int8_after_stride_idle_p50_ms  the same after one stride (250 ms) idle, as in service
 *   thread_wake_after_stride_idle_p50_ms  a trivial thread-pool job after that idle: the
 *                             share of the above that is waking a thread, not computing
 *   e2e_p50_ms, e2e_p99_ms    from the sample that completes a stride entering
 *                             the pipeline to its angles message arriving at an
 *                             MQTT subscriber (1 simulated wearer, real time, 60 s)
 *   rss_mb                    resident memory of the runtime with one wearer, in a
 *                             fresh process as the service runs it (compiled JS, the
 *                             systemd unit's node flags); `memory` in the JSON says
 *                             what takes it (edge/bench/memory.ts)
 *   rss_bench_process_mb      this bench process's RSS after the one-wearer run (under
 *                             tsx, with a subscriber: for comparison with older reports)
 *   max_streams               the most simulated 100 Hz wearers one process
 *                             serves with no skipped stride and e2e p99 under
 *                             50 ms (= windowed_max_wearers, edge/bench/windowedFigures.ts:
 *                             inference ms per window by batch size, windowed
 *                             e2e p99 at 1, 25 and 100 wearers, the most wearers
 *                             served and the CPU per wearer, for the defaults,
 *                             inference on a worker thread and coupled batching)
 *   per_sample_e2e_p50_ms, per_sample_e2e_p99_ms  per-sample mode (every 1): from
 *                             the sample completing a grid sample entering the
 *                             pipeline to its `angles/sample` message at an MQTT
 *                             subscriber (1 wearer, real time, 60 s)
 *   per_sample_windowed_e2e_p99_ms  the windowed stream's e2e p99 in that same run:
 *                             what per-sample mode costs the windowed stream
 *   per_sample_max_streams    the most wearers served in per-sample mode (every
 *                             1) with no skipped sample and no skipped stride
 *                             over 8 s (0: not even one)
 *
 * Before any of it, the calibration pre-pass (edge/bench/calibrationPrepass.ts):
 * every simulated wearer's mountings are calibrated once from its walking, and
 * each run starts from a `calibration.file` holding them, as a device does
 * after its first start; so a gait-features/2 model (the shipped one) is
 * measured on its whole path, segment-frame rotation included. The JSON names
 * the model, its version and feature pipeline, and the pre-pass.
 *
 * Figures are reported, never asserted by tests (CI machines vary).
 */
import { pbkdf2 } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { loadManifest } from "../contract/manifest.js";
import { OnnxModel } from "../inference/onnxModel.js";
import type { Logger } from "../log.js";
import { BenchCalibrationFiles, calibrateSimulatedWearers, type BenchCalibration } from "./calibrationPrepass.js";
import { measureMemory, memoryLines } from "./memory.js";
import { startMosquitto } from "./mosquitto.js";
import { streamRun } from "./streamRun.js";
import { CPU_COST_WEARERS, P99_LIMIT_MS, printWindowed, REQUIRED_WEARERS, windowedFigures, windowedJson } from "./windowedFigures.js";

/** The simulator seed of every run: the pre-pass calibrates the walking of this seed. */
const BENCH_SEED = 7;

export interface BenchOptions {
  readonly model: string;
  readonly json?: string;
  /** Shorter runs (smoke test of the bench itself). */
  readonly quick?: boolean;
  readonly logger: Logger;
}

export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

/**
 * Median time of one inference. `gapMs` idles between calls: in service the
 * model runs once per stride, and after 250 ms of idle caches are cold and
 * the call is slower than back to back (the e2e figures include that).
 */
async function inferenceP50(path: string, contract: Awaited<ReturnType<typeof loadManifest>>, runs: number, gapMs = 0): Promise<number> {
  const p = contract.pipeline;
  const model = new OnnxModel({
    path,
    inputName: p.inputName,
    outputName: p.outputName,
    window: p.window,
    features: contract.featureCount,
    joints: p.joints.length,
  });
  await model.start();
  const x = new Float32Array(p.window * contract.featureCount).map((_, i) => Math.sin(i * 0.37));
  for (let i = 0; i < 20; i++) await model.run(x, 1);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    const t0 = performance.now();
    await model.run(x, 1);
    times.push(performance.now() - t0);
  }
  await model.stop();
  return percentile(times, 50);
}

/**
 * Median time of a trivial job on libuv's thread pool after `gapMs` idle. The
 * model runs on a worker thread, so waking a parked thread is part of every
 * stride's latency; on a virtual machine that wake alone can take
 * milliseconds (a vCPU halted between strides); usually far less on bare metal.
 */
async function threadWakeP50(runs: number, gapMs: number): Promise<number> {
  const job = promisify(pbkdf2);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await new Promise((r) => setTimeout(r, gapMs));
    const t0 = performance.now();
    await job("x", "y", 1, 16, "sha256");
    times.push(performance.now() - t0);
  }
  return percentile(times, 50);
}

/** The JSON's account of the pre-pass: what the runs were calibrated with. */
function prepassJson(c: BenchCalibration): Record<string, unknown> {
  return { wearers: c.wearers, sensors: c.mountings.length, walked_s: c.walkedS, wall_s: c.wallS, loaded_via: "calibration.file" };
}

export async function runBench(opts: BenchOptions): Promise<Record<string, number>> {
  const log = opts.logger;
  const quiet = log.child("bench");
  const contract = await loadManifest(opts.model);
  const fp32 = contract.variantPaths.fp32;
  if (!fp32) throw new Error(`${contract.manifestPath}: no fp32 variant to compare with`);
  const runs = opts.quick ? 50 : 500;
  const print = (s: string): boolean => process.stdout.write(s + "\n");

  const psLevels = opts.quick ? [2, 5] : [1, 2, 5, 10, 25, 50, 75, 100, 150, 200];
  // Every wearer of every run starts calibrated, as a device does after its first start (edge/bench/calibrationPrepass.ts):
  // the wearers of the runs that always run first; the levels beyond them calibrate theirs before they start.
  const prepassWearers = Math.max(CPU_COST_WEARERS, ...REQUIRED_WEARERS, ...psLevels);
  print(`bench: ${contract.manifest.name} ${contract.manifest.version} (${contract.manifest.feature_pipeline}); calibrating the mountings of ${prepassWearers} simulated wearers first`);
  const prepass = { model: opts.model, seed: BENCH_SEED, logger: quiet };
  const calibrated = await calibrateSimulatedWearers({ ...prepass, wearers: prepassWearers });
  print(`bench: ${calibrated.mountings.length} sensors calibrated from ${calibrated.walkedS} s of walking each (${calibrated.wallS} s); every run loads them from its calibration.file`);
  const calibration = await BenchCalibrationFiles.create(calibrated, prepass);
  const broker = await startMosquitto();
  try {
    // First, in a process that has loaded nothing else yet, so rss_mb is one wearer's footprint.
    print(`bench: end-to-end through mosquitto ${broker.url}, 1 wearer`);
    const run = { broker, model: opts.model, calibration, seed: BENCH_SEED, logger: quiet };
    const one = await streamRun({ ...run, wearers: 1, seconds: opts.quick ? 5 : 60 }); // 60 s: ~240 strides for a p99
    print(`bench: memory of one wearer, in a fresh process as the service runs`);
    const memory = await measureMemory({ model: opts.model, brokerUrl: broker.url, seconds: opts.quick ? 5 : 30, calibrationFile: await calibration.fileFor(1) });
    for (const line of memoryLines(memory)) print(`bench: ${line}`);
    print(`bench: ${contract.manifest.name} ${contract.manifest.version}, ${runs} inferences per variant`);
    const int8 = await inferenceP50(contract.modelPath, contract, runs);
    const fp = await inferenceP50(fp32, contract, runs);
    const stride = contract.pipeline.stride / contract.pipeline.sampleRateHz * 1000;
    const int8Idle = await inferenceP50(contract.modelPath, contract, opts.quick ? 5 : 40, stride);
    const wake = await threadWakeP50(opts.quick ? 5 : 40, stride);
    const windowed = await windowedFigures(broker, { ...opts, calibration }, contract, quiet, print);
    print(`bench: per-sample mode (every 1) through mosquitto, 1 wearer`);
    const ps = await streamRun({ ...run, wearers: 1, seconds: opts.quick ? 5 : 60, perSample: true });
    print(`bench: per-sample: ${ps.samplePublished} samples, ${ps.sampleSkipped} skipped`);
    let psMaxStreams = 0;
    const psPerLevel: Record<string, unknown>[] = [];
    for (const n of psLevels) {
      const r = await streamRun({ ...run, wearers: n, seconds: opts.quick ? 3 : 8, perSample: true });
      const p99 = percentile(r.sampleLatencies, 99);
      // "Served": every due sample published (none skipped for a newer one), and the windowed stream intact too.
      const ok = r.sampleSkipped === 0 && r.skipped === 0 && r.samplePublished > 0;
      psPerLevel.push({ wearers: n, sample_skipped: r.sampleSkipped, sample_published: r.samplePublished, stride_skipped: r.skipped, per_sample_e2e_p99_ms: +p99.toFixed(2), ok });
      print(`bench: per-sample ${String(n).padStart(4)} wearers: ${r.samplePublished} samples, ${r.sampleSkipped} skipped samples, ${r.skipped} skipped strides, e2e p99 ${p99.toFixed(1)} ms ${ok ? "ok" : "FAIL"}`);
      if (!ok) break;
      psMaxStreams = n;
    }
    const result = {
      int8_p50_ms: +int8.toFixed(3),
      fp32_p50_ms: +fp.toFixed(3),
      int8_after_stride_idle_p50_ms: +int8Idle.toFixed(3),
      thread_wake_after_stride_idle_p50_ms: +wake.toFixed(3),
      e2e_p50_ms: +percentile(one.latencies, 50).toFixed(3),
      e2e_p99_ms: +percentile(one.latencies, 99).toFixed(3),
      rss_mb: memory.rss_mb,
      rss_bench_process_mb: +one.rssMb.toFixed(1),
      max_streams: windowed.variants[0]![1].maxWearers,
      per_sample_e2e_p50_ms: +percentile(ps.sampleLatencies, 50).toFixed(3),
      per_sample_e2e_p99_ms: +percentile(ps.sampleLatencies, 99).toFixed(3),
      per_sample_windowed_e2e_p99_ms: +percentile(ps.latencies, 99).toFixed(3),
      per_sample_max_streams: psMaxStreams,
    };
    print("");
    print("| figure | value | target |");
    print("|---|---|---|");
    print(`| int8_p50_ms | ${result.int8_p50_ms} | < fp32 |`);
    print(`| fp32_p50_ms | ${result.fp32_p50_ms} | |`);
    print(`| int8_after_stride_idle_p50_ms | ${result.int8_after_stride_idle_p50_ms} | (one call per stride, as in service) |`);
    print(`| thread_wake_after_stride_idle_p50_ms | ${result.thread_wake_after_stride_idle_p50_ms} | (part of the line above; large on VMs) |`);
    print(`| e2e_p50_ms | ${result.e2e_p50_ms} | |`);
    print(`| e2e_p99_ms | ${result.e2e_p99_ms} | <= 10 |`);
    print(`| rss_mb | ${result.rss_mb} | < 100 (one wearer, as the service runs) |`);
    print(`| rss_bench_process_mb | ${result.rss_bench_process_mb} | (this process, under tsx) |`);
    print(`| max_streams | ${result.max_streams} | >= 1000 (no skipped stride, p99 < ${P99_LIMIT_MS} ms; the windowed rows below) |`);
    print(`| per_sample_e2e_p50_ms | ${result.per_sample_e2e_p50_ms} | (per-sample mode, every 1) |`);
    print(`| per_sample_e2e_p99_ms | ${result.per_sample_e2e_p99_ms} | <= 5 |`);
    print(`| per_sample_windowed_e2e_p99_ms | ${result.per_sample_windowed_e2e_p99_ms} | (vs e2e_p99_ms) |`);
    print(`| per_sample_max_streams | ${result.per_sample_max_streams} | (no skipped sample) |`);
    printWindowed(windowed, print);
    if (opts.json) {
      await writeFile(opts.json, JSON.stringify({ ...result, memory, ...windowedJson(windowed), per_sample_levels: psPerLevel, per_sample_e2e_samples: ps.sampleLatencies.length, e2e_samples: one.latencies.length, model: contract.manifest.name, version: contract.manifest.version, feature_pipeline: contract.manifest.feature_pipeline,
        calibration_prepass: prepassJson(calibration.calibration),
      }, null, 2) + "\n");
      print(`written to ${opts.json}`);
    }
    return result;
  } finally {
    await broker.stop();
    await calibration.remove();
  }
}
