/**
 * What one wearer costs in CPU, measured as CPU time rather than latency so
 * that it holds on a busy machine too: `wearers` simulated wearers in real
 * time through the whole runtime and a real broker, `simSeconds` measured
 * after a 2 s warm-up. Real time, not the simulator's fast mode: there the
 * next chunk of samples overtakes a batched or worker-thread inference and
 * windows are skipped (not paid for), and the service's real pattern (a burst
 * every stride, idle in between, cold caches) is what costs.
 *
 *   cpu_ms_per_wearer_s   process CPU (all threads: main, inference worker,
 *                         libuv) per wearer per second of walking; a 2-core
 *                         machine has 2000 ms of CPU a second, so at most
 *                         2000 / this wearers before mosquitto takes its share
 *   main_thread_ms_per_wearer_s  the main thread's CPU time by stage (its
 *                         own CPU time, split by the profiler's shares of its busy time)
 *   mosquitto_ms_per_wearer_s
 *
 * At 100 wearers inference keeps up on 2 cores, so `skipped` is 0 and every
 * window is paid for; the bench prints it to show so.
 */
import type { BatchingConfig } from "../inference/batcher.js";
import type { Logger } from "../log.js";
import { parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import type { BenchCalibrationFiles } from "./calibrationPrepass.js";
import type { RunningMosquitto } from "./mosquitto.js";
import { profileByStage, STAGES, type Stage } from "./stages.js";
import { processCpuS } from "./windowed.js";

export interface CpuCost {
  readonly wearers: number;
  readonly sim_seconds: number;
  readonly windows: number;
  readonly skipped: number;
  readonly cpu_ms_per_wearer_s: number;
  /** The main thread's own CPU time (the one JS thread everything but a worker's inference runs on). */
  readonly main_thread_cpu_ms_per_wearer_s: number;
  readonly mosquitto_ms_per_wearer_s: number;
  readonly main_thread_ms_per_wearer_s: Partial<Record<Stage, number>>;
}

export interface CpuCostOptions {
  readonly broker: RunningMosquitto;
  readonly model: string;
  readonly wearers: number;
  readonly simSeconds: number;
  readonly inference?: { readonly thread?: "main" | "worker"; readonly batching?: Partial<BatchingConfig> };
  /** The wearers' saved mountings (edge/bench/calibrationPrepass.ts). */
  readonly calibration?: BenchCalibrationFiles;
  readonly logger: Logger;
}

export async function cpuCost(o: CpuCostOptions): Promise<CpuCost> {
  const deviceId = `bench-cpu${o.wearers}`;
  const config = parseConfig({
    model: o.model,
    sources: [{ kind: "simulator", wearers: o.wearers, realtime: true, seed: 7 }],
    mqtt: { url: o.broker.url, deviceId, protocolVersion: 5 },
    pipeline: { staleAfterMs: 1000 },
    inference: o.inference ?? {},
    ...(o.calibration ? { calibration: { file: await o.calibration.fileFor(o.wearers) } } : {}),
  });
  const runtime = new EdgeRuntime(config, { logger: o.logger });
  await runtime.start();
  await new Promise((r) => setTimeout(r, 2000)); // warm-up: JIT, the first windows' burst
  const before = runtime.stats();
  const broker0 = await processCpuS(o.broker.pid);
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const shares = await profileByStage(() => new Promise((r) => setTimeout(r, o.simSeconds * 1000)));
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  const broker1 = await processCpuS(o.broker.pid);
  const stats = runtime.stats();
  await runtime.stop();
  const pipelines = Object.values(stats.pipelines);
  const earlier = Object.values(before.pipelines);
  const wearerS = o.wearers * o.simSeconds;
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const mainMs = (main.user + main.system) / 1000;
  // The profile's shares are of the main thread's wall time; less its idle share they split its CPU time.
  const busy = 1 - shares.idle;
  const byStage: Partial<Record<Stage, number>> = {};
  for (const s of STAGES) {
    if (s === "idle" || shares[s] < 0.005 || busy <= 0) continue;
    byStage[s] = +(((shares[s] / busy) * mainMs) / wearerS).toFixed(4);
  }
  return {
    wearers: o.wearers,
    sim_seconds: o.simSeconds,
    windows: pipelines.reduce((n, p) => n + p.windows, 0) - earlier.reduce((n, p) => n + p.windows, 0),
    skipped: pipelines.reduce((n, p) => n + p.skipped, 0),
    cpu_ms_per_wearer_s: +(cpuMs / wearerS).toFixed(4),
    main_thread_cpu_ms_per_wearer_s: +(mainMs / wearerS).toFixed(4),
    mosquitto_ms_per_wearer_s: +(((broker1 - broker0) * 1000) / wearerS).toFixed(4),
    main_thread_ms_per_wearer_s: byStage,
  };
}
