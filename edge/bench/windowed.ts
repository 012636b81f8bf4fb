/**
 * The windowed stream's throughput figures of `make bench` (issue #11):
 *
 *   inference_ms_per_window  one call of `batch` windows / batch, for batch 1,
 *                            8, 32 and 128, int8 and fp32, back to back
 *   windowed levels          N simulated 100 Hz wearers in real time through
 *                            mosquitto: e2e p50/p99 (the sample completing a
 *                            stride entering the pipeline -> its angles message
 *                            at an MQTT subscriber), skipped strides, and where
 *                            the CPU went (process, mosquitto, and the main
 *                            thread's profile by stage). The subscriber is a
 *                            process of its own (edge/bench/subscriberProcess.ts):
 *                            parsing every message is not the device's work
 *   windowed_max_wearers     the most wearers served with no skipped stride and
 *                            e2e p99 under 50 ms
 *
 * Every level runs with the `inference` config given (default: the config's
 * defaults: the main thread, batching only batch-invariant models). The first `warmupS`
 * seconds of each level are not scored: every wearer of the simulator starts
 * on the same tick, so the first windows of all of them (full 50-sample
 * windows on a cold JIT and cold caches) land in one burst that a short run's
 * p99 would be made of. With `startSpreadS` 0 every later stride ends in one
 * tick for all wearers too (the worst case); a stride's length (0.25 s)
 * spreads them as wearers who connected at random moments are spread.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fork } from "node:child_process";
import type { LoadedContract } from "../contract/manifest.js";
import type { BatchingConfig } from "../inference/batcher.js";
import { OnnxModel } from "../inference/onnxModel.js";
import type { Logger } from "../log.js";
import { parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import type { BenchCalibrationFiles } from "./calibrationPrepass.js";
import type { RunningMosquitto } from "./mosquitto.js";
import { profileByStage, type StageShares } from "./stages.js";

export const BATCH_SIZES = [1, 8, 32, 128] as const;
/** The windowed stream's bar: at least this many wearers with no skipped stride and p99 under `P99_LIMIT_MS`. */
export const P99_LIMIT_MS = 50;

function percentile(values: readonly number[], p: number): number {
  if (!values.length) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Median ms per window of a `batch`-window call, for each batch size, after a warm-up. */
export async function inferenceMsPerWindow(path: string, contract: LoadedContract, calls: number): Promise<Record<string, number>> {
  const p = contract.pipeline;
  const model = new OnnxModel({ path, inputName: p.inputName, outputName: p.outputName, window: p.window, features: contract.featureCount, joints: p.joints.length });
  await model.start();
  const out: Record<string, number> = {};
  try {
    for (const batch of BATCH_SIZES) {
      const x = new Float32Array(batch * p.window * contract.featureCount).map((_, i) => Math.sin(i * 0.37));
      for (let i = 0; i < 5; i++) await model.run(x, batch);
      // The same number of windows per size, at least 10 calls: a fair median for each.
      const n = Math.max(10, Math.round(calls / batch));
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await model.run(x, batch);
        times.push((performance.now() - t0) / batch);
      }
      out[String(batch)] = +percentile(times, 50).toFixed(3);
    }
  } finally {
    await model.stop();
  }
  return out;
}

export interface WindowedLevel {
  readonly wearers: number;
  readonly seconds: number;
  readonly published: number;
  readonly skipped: number;
  readonly scored: number;
  readonly e2e_p50_ms: number;
  readonly e2e_p99_ms: number;
  /**
   * The device's part of e2e: the sample completing a stride entering the
   * pipeline -> its angles message handed to the MQTT client (inference,
   * queueing for it, building the message), without the broker and the
   * subscriber: what a pool of inference workers can shorten.
   */
  readonly device_p50_ms: number;
  readonly device_p99_ms: number;
  /** CPU of this process (all its threads) per second of wall time: 1 = one core busy. */
  readonly process_cores: number;
  /** The broker's CPU per second (the subscriber's and the device's messages both pass it). */
  readonly mosquitto_cores: number;
  /** The main thread's time by stage (fractions of wall time), when profiled. */
  readonly main_thread?: StageShares;
  readonly ok: boolean;
}

export interface WindowedRunOptions {
  readonly broker: RunningMosquitto;
  readonly model: string;
  readonly wearers: number;
  readonly seconds: number;
  readonly warmupS: number;
  /** `inference` config of the runtime (batching, thread, workers); default: the config's defaults. */
  readonly inference?: { readonly thread?: "main" | "worker"; readonly workers?: number; readonly batching?: Partial<BatchingConfig> };
  readonly profile?: boolean;
  /** `pipeline.windowPhase` of the runtime; default: the config's (staggered). */
  readonly windowPhase?: "staggered" | "aligned";
  /** The simulator's startSpreadS: 0 starts every wearer on one tick (the default, the worst case). */
  readonly startSpreadS?: number;
  /** The wearers' saved mountings (edge/bench/calibrationPrepass.ts): a v2 model publishes nothing without. */
  readonly calibration?: BenchCalibrationFiles;
  readonly logger: Logger;
}

/** utime + stime of a process, in seconds (Linux /proc); NaN where unreadable. */
export async function processCpuS(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

interface Subscriber {
  /** Flushes the receipts still in the subscriber process, then ends it. */
  stop(): Promise<void>;
}

/** Forks edge/bench/subscriberProcess.ts (same loader flags as this process) and resolves once it is subscribed. */
async function startSubscriber(url: string, topic: string, onReceived: (key: string, tMs: number) => void): Promise<Subscriber> {
  const file = new URL(`./subscriberProcess${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  const child = fork(fileURLToPath(file), [url, topic], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the bench subscriber exited (${code}) before subscribing`)));
    child.on("message", (m: { ready?: boolean; received?: Array<[string, number]> }) => {
      if (m.ready) resolve();
      for (const [key, t] of m.received ?? []) onReceived(key, t);
    });
  });
  return {
    stop: async () => {
      await new Promise((r) => setTimeout(r, 200)); // the last messages in flight arrive
      child.send("stop");
      await exited;
    },
  };
}

/** One level: `wearers` simulated wearers in real time for `seconds` through the broker. */
export async function windowedRun(o: WindowedRunOptions): Promise<WindowedLevel> {
  const deviceId = `bench-w${o.wearers}`;
  const config = parseConfig({
    model: o.model,
    sources: [{ kind: "simulator", wearers: o.wearers, realtime: true, seed: 7, startSpreadS: o.startSpreadS ?? 0 }],
    mqtt: { url: o.broker.url, deviceId, protocolVersion: 5 },
    pipeline: { staleAfterMs: 1000, ...(o.windowPhase ? { windowPhase: o.windowPhase } : {}) },
    inference: o.inference ?? {},
    ...(o.calibration ? { calibration: { file: await o.calibration.fileFor(o.wearers) } } : {}),
  });
  const readyAt = new Map<string, number>();
  const deviceLatencies: number[] = [];
  let scoreFrom = Number.POSITIVE_INFINITY;
  const runtime = new EdgeRuntime(config, {
    logger: o.logger,
    onAngles: (msg, timing) => {
      // Absolute time, comparable with the subscriber process's clock.
      if (timing.readyAtMs < scoreFrom) return;
      readyAt.set(`${msg.wearer}#${msg.seq}`, performance.timeOrigin + timing.readyAtMs);
      deviceLatencies.push(performance.now() - timing.readyAtMs);
    },
  });
  const latencies: number[] = [];
  const sub = await startSubscriber(o.broker.url, `gait/${deviceId}/angles`, (key, tMs) => {
    const t0 = readyAt.get(key);
    if (t0 !== undefined) {
      latencies.push(tMs - t0);
      readyAt.delete(key);
    }
  });
  await runtime.start();
  scoreFrom = performance.now() + o.warmupS * 1000;
  await new Promise((r) => setTimeout(r, o.warmupS * 1000));
  const before = runtime.stats();
  const cpu0 = process.cpuUsage();
  const broker0 = await processCpuS(o.broker.pid);
  const t0 = performance.now();
  const measure = (): Promise<void> => new Promise((r) => setTimeout(r, o.seconds * 1000));
  const mainThread = o.profile ? await profileByStage(measure) : (await measure(), undefined);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const broker1 = await processCpuS(o.broker.pid);
  const after = runtime.stats();
  await runtime.stop();
  await sub.stop(); // flushes what it received up to now
  const sum = (s: typeof after, f: "published" | "skipped"): number => Object.values(s.pipelines).reduce((n, p) => n + p[f], 0);
  const published = sum(after, "published") - sum(before, "published");
  const skipped = sum(after, "skipped");
  const p99 = percentile(latencies, 99);
  return {
    wearers: o.wearers,
    seconds: o.seconds,
    published,
    skipped,
    scored: latencies.length,
    e2e_p50_ms: +percentile(latencies, 50).toFixed(2),
    e2e_p99_ms: +p99.toFixed(2),
    device_p50_ms: +percentile(deviceLatencies, 50).toFixed(2),
    device_p99_ms: +percentile(deviceLatencies, 99).toFixed(2),
    process_cores: +((cpu.user + cpu.system) / 1e6 / wallS).toFixed(3),
    mosquitto_cores: +((broker1 - broker0) / wallS).toFixed(3),
    ...(mainThread ? { main_thread: mainThread } : {}),
    ok: skipped === 0 && published > 0 && p99 < P99_LIMIT_MS,
  };
}

export interface WindowedLevelsResult {
  readonly levels: WindowedLevel[];
  /** The most wearers of a level that was ok (0: none). */
  readonly maxWearers: number;
}

/**
 * `required` levels always run (the figures at 1, 25, 100 wearers); the
 * levels after them stop at the first that fails. The last required level is
 * profiled (where the main thread's time goes, per wearer): not the failing
 * one, where a flooded event loop makes the profile (and the run) drag on.
 */
export async function windowedLevels(
  o: Omit<WindowedRunOptions, "wearers" | "profile">,
  required: readonly number[],
  more: readonly number[],
  print: (line: string) => void,
): Promise<WindowedLevelsResult> {
  const levels: WindowedLevel[] = [];
  let maxWearers = 0;
  const all = [...required, ...more];
  for (let i = 0; i < all.length; i++) {
    const wearers = all[i]!;
    const isRequired = i < required.length;
    const r = await windowedRun({ ...o, wearers, profile: i === required.length - 1 });
    levels.push(r);
    const where = r.main_thread ? `; main thread: ${formatShares(r.main_thread)}` : "";
    print(
      `bench: windowed ${String(wearers).padStart(5)} wearers: ${r.published} messages, ${r.skipped} skipped, e2e p50 ${r.e2e_p50_ms} p99 ${r.e2e_p99_ms} ms (device ${r.device_p50_ms} / ${r.device_p99_ms}), ` +
        `process ${r.process_cores} cores, mosquitto ${r.mosquitto_cores}${where} ${r.ok ? "ok" : "FAIL"}`,
    );
    if (r.ok && wearers > maxWearers) maxWearers = wearers;
    if (!r.ok && !isRequired) break;
  }
  return { levels, maxWearers };
}

export function formatShares(s: StageShares): string {
  return Object.entries(s)
    .filter(([, v]) => v >= 0.005)
    .map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`)
    .join(", ");
}
