/**
 * `reliability soak`: a runtime on the simulator publishing to a real
 * mosquitto, for `--minutes M` of wall time, with WEARERS simulated wearers in
 * real time: 20 x the data of one wearer, every stride inferred. (The
 * simulator's fast mode outruns inference and the pipeline skips strides, so
 * it would soak the sample path only, not the model and MQTT.) Run with the process's RSS sampled
 * every 10 s. A leak shows as a positive slope; the figure is the least-squares
 * slope over the second half of the run (the first half includes warm-up:
 * onnxruntime arenas, JIT, buffers reaching their working size).
 *
 * One process, so the RSS includes this checker's own small bookkeeping, and
 * under `all` whatever the checks before it left on the heap: the start and
 * max figures are this process's, the slope is the soak's.
 */
import { startMosquitto } from "../bench/mosquitto.js";
import type { Logger } from "../log.js";
import { DEFAULT_MODEL, parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import { round, sleep, type CheckResult } from "./report.js";

export interface SoakOptions {
  readonly quick?: boolean;
  /** Wall minutes; default 30 (quick: 1). */
  readonly minutes?: number;
  /** RSS sampling period, s; default 10. */
  readonly sampleEveryS?: number;
  readonly model?: string;
  readonly logger: Logger;
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Simulated wearers: 20 x real time of one wearer, well inside what `make bench` serves (max_streams). */
export const WEARERS = 20;

const mb = (bytes: number): number => bytes / 2 ** 20;

export async function runSoak(opts: SoakOptions): Promise<CheckResult> {
  const t0 = performance.now();
  const minutes = opts.minutes ?? (opts.quick ? 1 : 30);
  const every = opts.sampleEveryS ?? 10;
  const broker = await startMosquitto();
  let runtime: EdgeRuntime | undefined;
  const rate = 100;
  try {
    const config = parseConfig({
      model: opts.model ?? DEFAULT_MODEL,
      sources: [{ kind: "simulator", realtime: true, wearers: WEARERS, rateHz: rate, seed: 11 }],
      mqtt: { url: broker.url, deviceId: "reliability-soak" },
    });
    runtime = new EdgeRuntime(config, { logger: opts.logger });
    await runtime.start();
    const started = performance.now();
    const xs: number[] = [];
    const rss: number[] = [];
    const end = started + minutes * 60_000;
    for (;;) {
      xs.push((performance.now() - started) / 60_000);
      rss.push(mb(process.memoryUsage().rss));
      if (performance.now() >= end) break;
      await sleep(Math.min(every * 1000, Math.max(0, end - performance.now())));
    }
    const wallS = (performance.now() - started) / 1000;
    const stats = runtime.stats();
    await runtime.stop();
    runtime = undefined;
    const samples = Object.values(stats.sources).reduce<number>((n, s) => n + ((s as { samples?: number }).samples ?? 0), 0);
    const pipelines = Object.values(stats.pipelines);
    const half = Math.floor(xs.length / 2);
    const perMin = slope(xs.slice(half), rss.slice(half));
    const placements = config.sources[0]?.kind === "simulator" ? config.sources[0].placements.length : 1;
    const figures = {
      minutes: round(minutes, 2),
      x_realtime: round(samples / placements / rate / wallS, 1),
      skipped_strides: pipelines.reduce((n, p) => n + p.skipped, 0),
      samples,
      angles_published: pipelines.reduce((n, p) => n + p.published, 0),
      rss_start_mb: round(rss[0] ?? 0, 1),
      rss_end_mb: round(rss.at(-1) ?? 0, 1),
      rss_max_mb: round(Math.max(...rss), 1),
      rss_slope_mb_per_10min: round(perMin * 10, 2),
      rss_samples: rss.length,
    };
    return {
      check: "soak",
      ok: samples > 0 && figures.angles_published > 0,
      quick: opts.quick ?? false,
      seconds: round((performance.now() - t0) / 1000, 1),
      figures,
      targets: {
        minutes: ">= 30 for the bar (quick: 1)",
        rss_slope_mb_per_10min: "about 0 (reported; over the second half of the run)",
        rss_max_mb: "reported",
      },
      notes: [
        `simulator, ${WEARERS} wearers in real time (2 IMUs at ${rate} Hz each) through mosquitto, recorder off; RSS every ${every} s`,
        "a slope from a short run is dominated by the garbage collector's rhythm: only the 30 min figure says much",
      ],
      detail: { minutesAt: xs.map((x) => round(x, 2)), rssMb: rss.map((r) => round(r, 1)) },
    };
  } finally {
    await runtime?.stop().catch(() => undefined);
    await broker.stop();
  }
}
