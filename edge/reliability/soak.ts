/**
 * `reliability soak`: a runtime on the simulator publishing to a real
 * mosquitto, for `--minutes M` of wall time, with WEARERS simulated wearers in
 * real time: 20 x the data of one wearer, every stride inferred. (The
 * simulator's fast mode outruns inference and the pipeline skips strides, so
 * it would soak the sample path only, not the model and MQTT.)
 *
 * Every 10 s it takes the RSS, then forces a full GC and takes the V8 heap
 * used after it, with the young and old generations' reserved sizes. Two
 * questions, two figures, both least-squares slopes over the SECOND half of
 * the run (the first half is warm-up: onnxruntime arenas, JIT, V8 growing its
 * generations to their working size):
 *
 * - a leak in our code keeps objects alive: the heap used AFTER a full GC
 *   grows. Its slope must stay within HEAP_TOLERANCE_MB_PER_10MIN.
 * - RSS can grow without a leak, while V8 and malloc reach a plateau (in
 *   steps: the young generation doubles, old-space pages are kept for
 *   reuse). Its slope must stay within RSS_TOLERANCE_MB_PER_10MIN.
 *
 * Run it with the service's node flags (`make reliability` passes the
 * systemd unit's, e.g. --max-semi-space-size, which bounds the young
 * generation): under other flags V8 sizes its generations differently, and
 * the RSS is not the service's. The flags used are in the report.
 *
 * One process, so the RSS includes this checker's own small bookkeeping, and
 * under `all` whatever the checks before it left on the heap: the start and
 * max figures are this process's, the slope is the soak's.
 */
import v8 from "node:v8";
import vm from "node:vm";
import { startMosquitto } from "../bench/mosquitto.js";
import type { Logger } from "../log.js";
import { DEFAULT_MODEL, parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import { checkResult, round, sleep, type CheckResult } from "./report.js";

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

/**
 * Flat, over the second half: 0.5 MB per 10 min of heap after GC is ~870
 * bytes a second, about 11 bytes per stride of 20 wearers (80 strides a
 * second): one leaked object per stride, the smallest leak a per-stride bug
 * makes, is above it. 2 MB per 10 min of RSS (~3.5 kB a second) leaves room
 * for the allocator's page-sized steps, and a native leak of one window's
 * input per stride (3.6 kB x 80 a second) is far above it.
 */
export const HEAP_TOLERANCE_MB_PER_10MIN = 0.5;
export const RSS_TOLERANCE_MB_PER_10MIN = 2;

const mb = (bytes: number): number => bytes / 2 ** 20;

/** One memory sample of the soak. */
export interface MemorySample {
  readonly minute: number;
  /** Before the forced GC: what the process holds in its own rhythm. */
  readonly rssMb: number;
  readonly heapAfterGcMb: number;
  /** V8's reserved young (new space) and old generation (MB). */
  readonly youngMb: number;
  readonly oldMb: number;
}

export interface Flatness {
  readonly rssSlopeMbPer10Min: number;
  readonly heapAfterGcSlopeMbPer10Min: number;
  /** max - min over the second half. */
  readonly rssSecondHalfRangeMb: number;
  readonly heapAfterGcSecondHalfRangeMb: number;
  readonly flat: boolean;
  /** Why it is not flat, in words; empty when flat. */
  readonly reasons: readonly string[];
}

/** Pure: the flatness verdict over the second half of the samples. */
export function flatness(samples: readonly MemorySample[]): Flatness {
  const second = samples.slice(Math.floor(samples.length / 2));
  const xs = second.map((s) => s.minute);
  const rss = second.map((s) => s.rssMb);
  const heap = second.map((s) => s.heapAfterGcMb);
  const range = (v: readonly number[]): number => (v.length ? Math.max(...v) - Math.min(...v) : 0);
  const rssSlope = slope(xs, rss) * 10;
  const heapSlope = slope(xs, heap) * 10;
  const reasons: string[] = [];
  if (second.length < 3) reasons.push(`only ${second.length} samples in the second half`);
  if (heapSlope > HEAP_TOLERANCE_MB_PER_10MIN) reasons.push(`heap after GC grows ${round(heapSlope, 2)} MB/10 min (> ${HEAP_TOLERANCE_MB_PER_10MIN}): objects kept alive`);
  if (rssSlope > RSS_TOLERANCE_MB_PER_10MIN) reasons.push(`RSS grows ${round(rssSlope, 2)} MB/10 min (> ${RSS_TOLERANCE_MB_PER_10MIN})`);
  return {
    rssSlopeMbPer10Min: rssSlope,
    heapAfterGcSlopeMbPer10Min: heapSlope,
    rssSecondHalfRangeMb: range(rss),
    heapAfterGcSecondHalfRangeMb: range(heap),
    flat: reasons.length === 0,
    reasons,
  };
}

/** A full GC without --expose-gc on the command line (the soak must run with the service's flags, no others). */
function fullGc(): void {
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}

function sampleMemory(minute: number): MemorySample {
  const rssMb = mb(process.memoryUsage().rss);
  fullGc();
  const spaces = v8.getHeapSpaceStatistics();
  const size = (name: string): number => mb(spaces.find((s) => s.space_name === name)?.space_size ?? 0);
  return { minute, rssMb, heapAfterGcMb: mb(process.memoryUsage().heapUsed), youngMb: size("new_space"), oldMb: size("old_space") };
}

/** The node flags this process runs with: its command line's and NODE_OPTIONS'. */
function nodeFlags(): string {
  return [...process.execArgv.filter((a) => a.startsWith("--max") || a.startsWith("--v8")), process.env.NODE_OPTIONS ?? ""].join(" ").trim() || "none";
}

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
    const memory: MemorySample[] = [];
    const end = started + minutes * 60_000;
    for (;;) {
      memory.push(sampleMemory((performance.now() - started) / 60_000));
      if (performance.now() >= end) break;
      await sleep(Math.min(every * 1000, Math.max(0, end - performance.now())));
    }
    const wallS = (performance.now() - started) / 1000;
    const stats = runtime.stats();
    await runtime.stop();
    runtime = undefined;
    const samples = Object.values(stats.sources).reduce<number>((n, s) => n + ((s as { samples?: number }).samples ?? 0), 0);
    const pipelines = Object.values(stats.pipelines);
    const flat = flatness(memory);
    const rss = memory.map((m) => m.rssMb);
    const heap = memory.map((m) => m.heapAfterGcMb);
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
      rss_slope_mb_per_10min: round(flat.rssSlopeMbPer10Min, 2),
      rss_second_half_range_mb: round(flat.rssSecondHalfRangeMb, 1),
      heap_after_gc_start_mb: round(heap[0] ?? 0, 1),
      heap_after_gc_end_mb: round(heap.at(-1) ?? 0, 1),
      heap_after_gc_slope_mb_per_10min: round(flat.heapAfterGcSlopeMbPer10Min, 2),
      heap_after_gc_second_half_range_mb: round(flat.heapAfterGcSecondHalfRangeMb, 1),
      young_generation_max_mb: round(Math.max(...memory.map((m) => m.youngMb)), 1),
      old_generation_max_mb: round(Math.max(...memory.map((m) => m.oldMb)), 1),
      flat: flat.flat,
      node_flags: nodeFlags(),
      rss_samples: rss.length,
    };
    const full = minutes >= 30;
    return checkResult("soak", t0, opts, {
      // Flatness is judged on the full soak only: a short run's second half is still warm-up.
      ok: samples > 0 && figures.angles_published > 0 && (!full || flat.flat),
      figures,
      targets: {
        minutes: ">= 30 for the bar (quick: 1)",
        rss_slope_mb_per_10min: `<= ${RSS_TOLERANCE_MB_PER_10MIN} (least squares, second half of the run)`,
        heap_after_gc_slope_mb_per_10min: `<= ${HEAP_TOLERANCE_MB_PER_10MIN} (heap used after a forced full GC, second half)`,
        flat: "true on a run of >= 30 min (both slopes within tolerance)",
        rss_max_mb: "reported",
      },
      notes: [
        `simulator, ${WEARERS} wearers in real time (2 IMUs at ${rate} Hz each) through mosquitto, recorder off; every ${every} s: RSS, then a full GC and the heap used after it`,
        "a slope from a short run is dominated by warm-up and the garbage collector's rhythm: only the 30 min figures are judged",
        ...flat.reasons,
      ],
      detail: {
        minutesAt: memory.map((m) => round(m.minute, 2)),
        rssMb: rss.map((r) => round(r, 1)),
        heapAfterGcMb: heap.map((h) => round(h, 1)),
        youngMb: memory.map((m) => round(m.youngMb, 1)),
        oldMb: memory.map((m) => round(m.oldMb, 1)),
      },
    });
  } finally {
    await runtime?.stop().catch(() => undefined);
    await broker.stop();
  }
}
