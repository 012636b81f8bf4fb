/**
 * Is the device keeping up? Every `intervalS` the watch compares the
 * pipelines' counters with its last look:
 *
 *   - a stride window skipped for a newer one (skip-to-newest: inference
 *     was behind) is never published: its samples are a gap in `angles`.
 *     Any such window is a problem;
 *   - a per-sample output skipped is a controller missing a sample. One now
 *     and then is a late tick (the machine, a GC); more than
 *     `maxSampleSkipShare` of those due in an interval is a problem.
 *
 * A problem opens a status problem (`overloaded: ...`, through a `load`
 * event) naming how many were skipped, of how many, for how many wearers,
 * and how late the event loop ran; it closes after `clearAfterS` without one,
 * so a device on the edge of its capacity does not flap. `get_status` carries
 * the last interval under `load`. The figures are of the interval, not since
 * start: an overload an hour ago does not keep a device degraded.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { z } from "zod";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import type { PipelineStats } from "../runtime/pipeline.js";

export const loadConfigSchema = z
  .object({
    /** Seconds between looks at the counters. */
    intervalS: z.number().min(1).max(300).default(10),
    /** Seconds without a skipped window (or too many skipped samples) before the problem closes. */
    clearAfterS: z.number().min(0).max(3600).default(30),
    /** Share of the per-sample outputs due in an interval that may be skipped before it is a problem. */
    maxSampleSkipShare: z.number().min(0).max(1).default(0.01),
  })
  .strict();
export type LoadConfig = z.infer<typeof loadConfigSchema>;

/** One wearer's counters, as its pipeline counts them since it started. */
export interface LoadCounters {
  readonly windows: number;
  readonly skipped: number;
  readonly samplesDue: number;
  readonly samplesSkipped: number;
}

/** What one interval saw, over every wearer. */
export interface LoadInterval {
  readonly seconds: number;
  readonly windows: number;
  readonly skippedWindows: number;
  /** Wearers with at least one skipped window or sample. */
  readonly wearersSkipping: number;
  readonly samplesDue: number;
  readonly skippedSamples: number;
  /** How late the event loop ran a 1 ms timer in the interval (ms); null when not measured. */
  readonly loopDelayP99Ms: number | null;
  readonly loopDelayMaxMs: number | null;
}

export function countersOf(p: PipelineStats): LoadCounters {
  return { windows: p.windows, skipped: p.skipped, samplesDue: p.perSample?.requested ?? 0, samplesSkipped: p.perSample?.skipped ?? 0 };
}

/**
 * Pure: the interval between two looks. A wearer new since the last look counts from
 * zero; one whose counters went back (its pipeline was rebuilt) counts from zero again.
 */
export function intervalOf(
  before: ReadonlyMap<string, LoadCounters>,
  now: ReadonlyMap<string, LoadCounters>,
  seconds: number,
  loopDelay: { p99Ms: number; maxMs: number } | null = null,
): LoadInterval {
  let windows = 0, skippedWindows = 0, samplesDue = 0, skippedSamples = 0, wearersSkipping = 0;
  for (const [wearer, c] of now) {
    const b = before.get(wearer);
    const from = b && b.windows <= c.windows && b.skipped <= c.skipped && b.samplesDue <= c.samplesDue && b.samplesSkipped <= c.samplesSkipped
      ? b
      : { windows: 0, skipped: 0, samplesDue: 0, samplesSkipped: 0 };
    const w = c.windows - from.windows, s = c.skipped - from.skipped;
    const d = c.samplesDue - from.samplesDue, ss = c.samplesSkipped - from.samplesSkipped;
    windows += w;
    skippedWindows += s;
    samplesDue += d;
    skippedSamples += ss;
    if (s > 0 || ss > 0) wearersSkipping += 1;
  }
  return { seconds, windows, skippedWindows, wearersSkipping, samplesDue, skippedSamples, loopDelayP99Ms: loopDelay?.p99Ms ?? null, loopDelayMaxMs: loopDelay?.maxMs ?? null };
}

/** Pure: the problem an interval shows, if any (see the file's comment for the rule). */
export function overloadReason(i: LoadInterval, maxSampleSkipShare: number): string | undefined {
  const parts: string[] = [];
  const s = Math.round(i.seconds);
  if (i.skippedWindows > 0) {
    parts.push(`${i.skippedWindows} of ${i.windows} stride windows skipped in the last ${s} s (their angles were not published)`);
  }
  if (i.skippedSamples > 0 && i.skippedSamples > maxSampleSkipShare * i.samplesDue) {
    const pct = i.samplesDue > 0 ? ` (${((100 * i.skippedSamples) / i.samplesDue).toFixed(1)}%)` : "";
    parts.push(`${i.skippedSamples} of ${i.samplesDue} per-sample outputs skipped${pct} in the last ${s} s`);
  }
  if (!parts.length) return undefined;
  const who = `${i.wearersSkipping} wearer${i.wearersSkipping === 1 ? "" : "s"}`;
  const loop = i.loopDelayMaxMs !== null ? `; event loop up to ${Math.round(i.loopDelayMaxMs)} ms late` : "";
  return `overloaded: ${parts.join("; ")}, ${who}${loop}; inference cannot keep up (fewer wearers, inference.workers, or a faster machine)`;
}

/**
 * Pure: a problem stays open until `clearAfterMs` after the last interval that showed
 * one, with that interval's reason (so the status does not change at every look).
 */
export class OverloadHysteresis {
  private lastAtMs: number | undefined;
  private lastReason: string | undefined;

  constructor(private readonly clearAfterMs: number) {}

  /** The reason to show after an interval ending at `nowMs` that showed `reason` (or none). */
  observe(reason: string | undefined, nowMs: number): string | undefined {
    if (reason !== undefined) {
      this.lastAtMs = nowMs;
      this.lastReason = reason;
      return reason;
    }
    if (this.lastAtMs !== undefined && nowMs - this.lastAtMs < this.clearAfterMs) return this.lastReason;
    this.lastAtMs = this.lastReason = undefined;
    return undefined;
  }
}

export interface LoadStats {
  readonly overloaded: boolean;
  readonly reason: string | null;
  /** The last interval looked at; null before the first look. */
  readonly last: LoadInterval | null;
  /** Intervals that showed a problem, since start. */
  readonly overloadedIntervals: number;
}

/** How late the event loop runs; a fake in tests. */
export interface LoopDelayMonitor {
  enable(): void;
  disable(): void;
  /** Since the last reset (ms), then resets. */
  take(): { p99Ms: number; maxMs: number };
}

export function eventLoopDelayMonitor(): LoopDelayMonitor {
  const h = monitorEventLoopDelay({ resolution: 1 });
  return {
    enable: () => void h.enable(),
    disable: () => void h.disable(),
    take: () => {
      // An interval without one sample (a stopped loop cannot record) reads 0, not NaN.
      const r = h.count > 0 ? { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 } : { p99Ms: 0, maxMs: 0 };
      h.reset();
      return r;
    },
  };
}

export interface LoadWatchDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  /** Every wearer's pipeline counters (PipelinesModule.stats). */
  readonly pipelines: () => Readonly<Record<string, PipelineStats>>;
  /** Monotonic ms; default performance.now. */
  readonly now?: () => number;
  readonly loopDelay?: LoopDelayMonitor;
  /** Runs `look` every `ms`; returns the cancel. Default: an unref'd setInterval. */
  readonly every?: (ms: number, look: () => void) => () => void;
}

export class LoadWatchModule implements Module {
  readonly name = "load";
  private before = new Map<string, LoadCounters>();
  private beforeAtMs = 0;
  private readonly hysteresis: OverloadHysteresis;
  private reason: string | undefined;
  private last: LoadInterval | null = null;
  private overloadedIntervals = 0;
  private cancel: (() => void) | undefined;
  private readonly loopDelay: LoopDelayMonitor;

  constructor(
    private readonly config: LoadConfig,
    private readonly deps: LoadWatchDeps,
  ) {
    this.hysteresis = new OverloadHysteresis(config.clearAfterS * 1000);
    this.loopDelay = deps.loopDelay ?? eventLoopDelayMonitor();
  }

  async start(): Promise<void> {
    this.beforeAtMs = this.now();
    this.before = this.counters();
    this.loopDelay.enable();
    const every = this.deps.every ?? ((ms, look) => {
      const t = setInterval(look, ms);
      t.unref();
      return () => clearInterval(t);
    });
    this.cancel = every(this.config.intervalS * 1000, () => this.look());
  }

  async stop(): Promise<void> {
    this.cancel?.();
    this.cancel = undefined;
    this.loopDelay.disable();
  }

  /** One look at the counters (the timer's; tests call it directly). */
  look(): void {
    const nowMs = this.now();
    const counters = this.counters();
    const interval = intervalOf(this.before, counters, (nowMs - this.beforeAtMs) / 1000, this.loopDelay.take());
    this.before = counters;
    this.beforeAtMs = nowMs;
    this.last = interval;
    const found = overloadReason(interval, this.config.maxSampleSkipShare);
    if (found !== undefined) this.overloadedIntervals += 1;
    const reason = this.hysteresis.observe(found, nowMs);
    if (reason === this.reason) return;
    if (reason !== undefined && this.reason === undefined) this.deps.logger.warn(reason);
    if (reason === undefined) this.deps.logger.info(`keeping up again: no window skipped for ${this.config.clearAfterS} s`);
    this.reason = reason;
    this.deps.bus.emit("load", reason === undefined ? { healthy: true } : { healthy: false, reason });
  }

  stats(): LoadStats {
    return { overloaded: this.reason !== undefined, reason: this.reason ?? null, last: this.last, overloadedIntervals: this.overloadedIntervals };
  }

  private counters(): Map<string, LoadCounters> {
    return new Map(Object.entries(this.deps.pipelines()).map(([w, p]) => [w, countersOf(p)]));
  }

  private now(): number {
    return (this.deps.now ?? performance.now.bind(performance))();
  }
}
