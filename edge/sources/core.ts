/**
 * The part of the source contract (types.ts) that is the same for every source,
 * implemented once: delivering samples, catching a throwing consumer, counting
 * and logging issues (rate-limited), calling onEnd exactly once, refusing
 * samples after stop, and the "no valid data" watchdog.
 *
 * Each source keeps only what is specific to it (bytes, files, GATT) and hands
 * every sample and issue to a `SourceCore`. Before this, the four sources each
 * had their own answer to a throwing consumer (replay ended the trial, the
 * simulator counted it and told no one), so the runtime could not rely on any.
 */

import { z } from "zod";
import type { Logger } from "../log.js";
import type { ImuSample, SourceHandlers, SourceIssue, SourceStats } from "./types.js";

/** Default `noDataTimeoutMs`: a live IMU at 60-100 Hz silent this long is broken, not slow. */
export const DEFAULT_NO_DATA_TIMEOUT_MS = 5000;

/** The config field every source schema carries. */
export const noDataTimeoutMsSchema = z.number().int().min(0).default(DEFAULT_NO_DATA_TIMEOUT_MS);

export interface RateLimit {
  /** Events passed through individually before limiting starts. */
  readonly first: number;
  /** After that, at most one summary per this many ms (counting what was held back). */
  readonly everyMs: number;
}

/** Logs of bad input: the first 10 of each kind, then one summary line per 10 s. */
export const DEFAULT_LOG_LIMIT: RateLimit = { first: 10, everyMs: 10_000 };
/** A consumer throwing on every sample would otherwise be 100 issues a second per sensor. */
export const DEFAULT_CONSUMER_ERROR_LIMIT: RateLimit = { first: 3, everyMs: 5_000 };

/**
 * Counts events and says which to pass on: the first `first`, then one every
 * `everyMs` carrying the count of those held back in between. Pure (the clock
 * is passed in), so its rule is tested without timers.
 */
export class RateLimiter {
  private seen = 0;
  private held = 0;
  private lastPassMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly limit: RateLimit) {}

  /** Returns undefined to hold this event back, or the number held back before it (0 = none). */
  hit(nowMs: number): number | undefined {
    this.seen++;
    if (this.seen <= this.limit.first || nowMs - this.lastPassMs >= this.limit.everyMs) {
      const held = this.held;
      this.held = 0;
      this.lastPassMs = nowMs;
      return held;
    }
    this.held++;
    return undefined;
  }

  /** Events held back and not yet summarised; resets the count (the caller reports them). */
  takeHeld(nowMs: number, onlyIfDue = false): number {
    if (this.held === 0 || (onlyIfDue && nowMs - this.lastPassMs < this.limit.everyMs)) return 0;
    const held = this.held;
    this.held = 0;
    this.lastPassMs = nowMs;
    return held;
  }
}

/** What happened since the last valid sample, for the no_valid_data message. */
export interface NoDataWindow {
  readonly ms: number;
  /** Raw bytes received, for byte-stream sources (serial); undefined where there are none. */
  readonly bytes: number | undefined;
  /** Issues by kind since the last valid sample. */
  readonly issues: Readonly<Record<string, number>>;
  /** What one unit of input is called: "sample", "frame", "notification", "row". */
  readonly unit: string;
}

const INPUT_KINDS = ["bad_checksum", "bad_frame", "bad_value", "clock_restart"] as const;

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * Why there has been no valid sample, in words an operator can act on: nothing
 * arrived at all (unplugged, asleep), bytes arrived that never formed a frame
 * (wrong mode or baud rate), or frames arrived and every one was rejected.
 */
export function describeNoValidData(w: NoDataWindow): string {
  const count = (k: string): number => w.issues[k] ?? 0;
  const rejected = INPUT_KINDS.filter((k) => count(k) > 0);
  const since = seconds(w.ms);
  if (w.bytes !== undefined && w.bytes === 0) return `no bytes for ${since}`;
  const checksum = count("bad_checksum");
  if (checksum > 0 && rejected.length === 1) return `all ${checksum} ${w.unit}s failed the checksum in ${since}`;
  if (rejected.length > 0) {
    const list = rejected.map((k) => `${k} ${count(k)}`).join(", ");
    const bytes = w.bytes !== undefined ? `${w.bytes} bytes, ` : "";
    return `no valid ${w.unit} for ${since}: every one was rejected (${bytes}${list})`;
  }
  if (w.bytes !== undefined) return `bytes but no valid ${w.unit} for ${since} (wrong mode? ${w.bytes} bytes, 0 ${w.unit}s)`;
  return `no ${w.unit}s for ${since}`;
}

export interface SourceCoreOptions {
  /** Names the source in log lines and messages ("serial /dev/ttyACM0"). */
  readonly name: string;
  readonly logger: Logger;
  /** Report no_valid_data after this long without a valid sample; 0 turns the watchdog off. */
  readonly noDataTimeoutMs?: number;
  /** What one unit of input is called in the no_valid_data message. */
  readonly unit?: string;
  /** True for byte-stream sources: the no_valid_data message then tells silence from noise. */
  readonly countsBytes?: boolean;
  readonly logLimit?: RateLimit;
  readonly consumerErrorLimit?: RateLimit;
  /** Monotonic ms; tests pass a fake. */
  readonly now?: () => number;
}

/** Issue kinds that are bad input: logged at warn, rate-limited per kind. */
const BAD_INPUT = new Set<string>(["bad_checksum", "bad_frame", "bad_value", "resync", "clock_restart"]);

export class SourceCore {
  private handlers: SourceHandlers | undefined;
  private active = false;
  private ended = false;
  private samples = 0;
  private readonly issues: Record<string, number> = {};
  private readonly logLimits = new Map<string, RateLimiter>();
  private readonly consumerLimiter: RateLimiter;
  private readonly now: () => number;
  private readonly noDataTimeoutMs: number;
  private watchdog: NodeJS.Timeout | undefined;
  // The no_valid_data window: reset by every valid sample. The hot path only
  // sets flags (no clock read, no allocation per sample: the simulator
  // delivers millions a second); the watchdog tick reads the clock.
  private lastValidMs = 0;
  private validSinceTick = false;
  private windowBytes = 0;
  private windowIssues: Record<string, number> = {};
  private windowDirty = false;
  private noData = false;

  constructor(private readonly options: SourceCoreOptions) {
    this.now = options.now ?? (() => performance.now());
    this.noDataTimeoutMs = options.noDataTimeoutMs ?? DEFAULT_NO_DATA_TIMEOUT_MS;
    this.consumerLimiter = new RateLimiter(options.consumerErrorLimit ?? DEFAULT_CONSUMER_ERROR_LIMIT);
  }

  get running(): boolean {
    return this.active;
  }

  /** start(): from here on samples are delivered and the watchdog runs. */
  begin(handlers: SourceHandlers): void {
    this.handlers = handlers;
    this.active = true;
    this.ended = false;
    this.lastValidMs = this.now();
    this.resetWindow();
    if (this.noDataTimeoutMs > 0) {
      // Checks at a fraction of the timeout, so the report comes at most 25% late.
      const every = Math.max(1, Math.min(this.noDataTimeoutMs / 4, 1000));
      this.watchdog = setInterval(() => this.tick(), every);
      // The watchdog alone must not keep a finished process alive.
      this.watchdog.unref();
    }
  }

  /** stop(): no sample is delivered after this returns; held-back counts are reported now. */
  halt(): void {
    if (!this.active) return;
    this.active = false;
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.flushHeld(false);
  }

  /**
   * A finite source has delivered everything: onEnd exactly once, never after
   * stop(). The watchdog stops too (silence after the end is not a fault).
   */
  end(): void {
    if (!this.active || this.ended) return;
    this.ended = true;
    this.halt();
    try {
      this.handlers?.onEnd?.();
    } catch (err) {
      this.options.logger.error("onEnd handler threw", { source: this.options.name, error: reasonOf(err) });
    }
  }

  /** Raw input arrived (byte-stream sources), for the no_valid_data message. */
  noteBytes(count: number): void {
    this.windowBytes += count;
    this.windowDirty = true;
  }

  /**
   * Hands one valid sample to the consumer. A consumer that throws is the
   * consumer's bug, not bad data: the source keeps going (the next sample may
   * well be fine, and stopping would turn one bad sample into a dead sensor),
   * counts it as consumer_error and reports it rate-limited. Returns false when
   * the source is stopped and the sample was not delivered.
   */
  deliver(sample: ImuSample): boolean {
    if (!this.active || !this.handlers) return false;
    this.samples++;
    this.validSinceTick = true;
    if (this.noData) {
      this.noData = false;
      this.issue({ kind: "valid_data", message: `${this.options.name}: valid ${this.unit()}s again` });
    }
    if (this.windowDirty) this.resetWindow();
    try {
      this.handlers.onSample(sample);
    } catch (err) {
      this.consumerError(sample, err);
    }
    return true;
  }

  /** Counts, logs (bad input at warn, rate-limited per kind) and forwards one issue. */
  issue(issue: SourceIssue): void {
    this.issues[issue.kind] = (this.issues[issue.kind] ?? 0) + 1;
    this.windowIssues[issue.kind] = (this.windowIssues[issue.kind] ?? 0) + 1;
    this.windowDirty = true;
    this.log(issue);
    this.forward(issue);
  }

  stats(): SourceStats {
    return { samples: this.samples, issues: { ...this.issues } };
  }

  private unit(): string {
    return this.options.unit ?? "sample";
  }

  private consumerError(sample: ImuSample, err: unknown): void {
    this.issues.consumer_error = (this.issues.consumer_error ?? 0) + 1;
    const held = this.consumerLimiter.hit(this.now());
    if (held === undefined) return;
    const more = held > 0 ? ` (${held} more since the last report)` : "";
    const message = `${this.options.name}: onSample threw for ${sample.sensorId} at ${sample.tUs} µs: ${reasonOf(err)}${more}`;
    this.options.logger.error(message, { kind: "consumer_error", sensorId: sample.sensorId });
    this.forward({ kind: "consumer_error", sensorId: sample.sensorId, message });
  }

  private log(issue: SourceIssue): void {
    const { logger } = this.options;
    const fields = { kind: issue.kind, ...(issue.sensorId !== undefined ? { sensorId: issue.sensorId } : {}) };
    if (!BAD_INPUT.has(issue.kind)) {
      if (issue.kind === "valid_data" || issue.kind === "reconnected") logger.info(issue.message, fields);
      else logger.warn(issue.message, fields);
      return;
    }
    let limiter = this.logLimits.get(issue.kind);
    if (!limiter) {
      limiter = new RateLimiter(this.options.logLimit ?? DEFAULT_LOG_LIMIT);
      this.logLimits.set(issue.kind, limiter);
    }
    const held = limiter.hit(this.now());
    if (held === undefined) return;
    if (held > 0) logger.warn(`${this.options.name}: ${held} more ${issue.kind} issue(s) not logged one by one`, { kind: issue.kind, count: held });
    logger.warn(issue.message, fields);
  }

  /** Summaries of what was held back: when due (watchdog tick), or all of it at stop. */
  private flushHeld(onlyIfDue: boolean): void {
    const now = this.now();
    for (const [kind, limiter] of this.logLimits) {
      const held = limiter.takeHeld(now, onlyIfDue);
      if (held > 0) {
        this.options.logger.warn(`${this.options.name}: ${held} more ${kind} issue(s) not logged one by one`, { kind, count: held });
      }
    }
    const consumer = this.consumerLimiter.takeHeld(now, onlyIfDue);
    if (consumer > 0) {
      const message = `${this.options.name}: onSample threw ${consumer} more time(s) since the last report`;
      this.options.logger.error(message, { kind: "consumer_error", count: consumer });
      this.forward({ kind: "consumer_error", message });
    }
  }

  private tick(): void {
    if (!this.active) return;
    this.flushHeld(true);
    const now = this.now();
    if (this.validSinceTick) {
      // Valid samples since the last tick: the silence (if any) starts now, to within one tick.
      this.validSinceTick = false;
      this.lastValidMs = now;
      return;
    }
    const silentMs = now - this.lastValidMs;
    if (this.noData || silentMs < this.noDataTimeoutMs) return;
    this.noData = true;
    const why = describeNoValidData({
      ms: silentMs,
      bytes: this.options.countsBytes ? this.windowBytes : undefined,
      issues: this.windowIssues,
      unit: this.unit(),
    });
    this.issue({ kind: "no_valid_data", message: `${this.options.name}: ${why}` });
  }

  private resetWindow(): void {
    this.windowBytes = 0;
    this.windowIssues = {};
    this.windowDirty = false;
  }

  private forward(issue: SourceIssue): void {
    if (!this.handlers) return;
    try {
      this.handlers.onIssue(issue);
    } catch (err) {
      // An issue handler that throws must not take the source down with it.
      this.options.logger.error("onIssue handler threw", { source: this.options.name, issue: issue.message, error: reasonOf(err) });
    }
  }
}

export function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
