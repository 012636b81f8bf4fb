/**
 * The IMU sources: builds each configured source, routes every sample's
 * sensor id to a (wearer, placement) and puts it on the bus as `sample`;
 * passes on what the sources noticed (`sourceIssue`) and when every finite
 * source has ended (`sourcesEnded`).
 *
 * Started last: everything that listens to samples is up before the first one.
 */
import { PLACEMENTS, type Placement } from "../contract/manifest.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import { createSource, type SourceConfig } from "../sources/index.js";
import type { ImuSample, ImuSource, SourceIssue } from "../sources/types.js";

export const DEFAULT_WEARER = "default";

export interface Route {
  readonly wearer: string;
  readonly placement: Placement;
}

/** Pure: sensor id -> (wearer, placement): the config's `sensors` map first, then the id itself. */
export function routeSensor(sensorId: string, sensors: Readonly<Record<string, string>>): Route | undefined {
  const target = sensors[sensorId] ?? sensorId;
  const colon = target.lastIndexOf(":");
  const placement = colon < 0 ? target : target.slice(colon + 1);
  if (!(PLACEMENTS as readonly string[]).includes(placement)) return undefined;
  return { wearer: colon < 0 ? DEFAULT_WEARER : target.slice(0, colon), placement: placement as Placement };
}

export interface SourcesConfig {
  readonly sources: readonly SourceConfig[];
  readonly sensors: Readonly<Record<string, string>>;
}

export interface SourcesDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  /** A replay faster than real time waits for inference instead of skipping windows. */
  readonly waitForDrain: () => Promise<void>;
  /** The placements the running model needs (read at start, after the model module loaded it). */
  readonly placements?: () => readonly Placement[];
  /** Builds a source from its config; tests inject fakes. Default: edge/sources `createSource`. */
  /** Monotonic clock, ms (tests inject one); default performance.now. */
  readonly now?: () => number;
  readonly createSource?: (
    config: SourceConfig,
    deps: { logger: Logger; waitForDrain: () => Promise<void>; requiredSensors?: readonly string[] },
  ) => Promise<ImuSource>;
}

/**
 * Pure: the sensor ids a lone replay must hold so the model gets every placement
 * it needs: per placement, the one id the `sensors` map routes to it, else the
 * placement name itself. Undefined when a placement is reachable from several
 * ids (the replay may hold any of them) — then nothing is required up front.
 */
export function requiredSensorIds(placements: readonly Placement[], sensors: Readonly<Record<string, string>>): string[] | undefined {
  const ids: string[] = [];
  for (const placement of placements) {
    const mapped = Object.keys(sensors).filter((id) => routeSensor(id, sensors)?.placement === placement);
    if (mapped.length > 1) return undefined;
    ids.push(mapped[0] ?? placement);
  }
  return ids;
}

export interface SourcesStats {
  readonly sources: Record<string, unknown>;
  readonly sourceIssues: Record<string, number>;
  readonly unroutedSensors: string[];
  /** Per routed sensor id: where it goes, its arrival rate and the age of its last sample (the dashboard shows them). */
  readonly sensors: Record<string, SensorLiveness>;
}

export interface SensorLiveness {
  readonly wearer: string;
  readonly placement: Placement;
  readonly samples: number;
  /** Samples per second on arrival, smoothed over about the last second; null before the second sample. */
  readonly rateHz: number | null;
  /** Milliseconds since the last sample arrived. */
  readonly ageMs: number;
}

/** Arrival bookkeeping of one sensor; numbers only, updated in place per sample (the hot path allocates nothing). */
interface Arrivals {
  readonly route: Route;
  samples: number;
  lastMs: number;
  /** Exponentially smoothed interval between arrivals, ms (NaN until the second sample). */
  meanIntervalMs: number;
}

/** Weight of the newest interval: about the last 100 samples, one second at 100 Hz. */
const RATE_SMOOTHING = 0.01;

/** Pure: the next smoothed arrival interval. Bursty transports (BLE, USB) deliver several samples at once; the mean still converges to the true rate. */
export function smoothInterval(mean: number, intervalMs: number, weight = RATE_SMOOTHING): number {
  return Number.isNaN(mean) ? intervalMs : mean + weight * (intervalMs - mean);
}

export class SourcesModule implements Module {
  readonly name = "sources";
  private readonly sources: ImuSource[] = [];
  private readonly unrouted = new Set<string>();
  /** Per sensor id seen: its route and arrivals, or null when it routes nowhere (one lookup per sample). */
  private readonly arrivals = new Map<string, Arrivals | null>();
  private readonly issues: Record<string, number> = {};
  private ended = 0;

  constructor(
    private readonly config: SourcesConfig,
    private readonly deps: SourcesDeps,
  ) {}

  async start(): Promise<void> {
    const create = this.deps.createSource ?? createSource;
    // A lone replay that cannot feed the model is an error at start (naming the
    // file and the missing sensor), not a run that publishes nothing and exits 0.
    const lone = this.config.sources.length === 1 && this.config.sources[0]!.kind === "replay";
    const placements = this.deps.placements?.();
    const requiredSensors = lone && placements ? requiredSensorIds(placements, this.config.sensors) : undefined;
    for (const sc of this.config.sources) {
      this.sources.push(
        await create(sc, {
          logger: this.deps.logger.child("source"),
          waitForDrain: this.deps.waitForDrain,
          ...(requiredSensors ? { requiredSensors } : {}),
        }),
      );
    }
    for (const source of this.sources) {
      await source.start({
        onSample: (s) => this.onSample(s),
        onIssue: (issue) => this.onIssue(source, issue),
        onEnd: () => this.onEnd(),
      });
    }
  }

  async stop(): Promise<void> {
    // Kept in the list after stopping: stats() after stop() still reports them.
    for (const s of this.sources) {
      await s.stop().catch((err: unknown) => this.deps.logger.error(`stopping ${s.kind}: ${(err as Error).message}`));
    }
  }

  stats(): SourcesStats {
    return {
      sources: Object.fromEntries(this.sources.map((s, i) => [`${i}:${s.kind}`, s.stats()])),
      sourceIssues: { ...this.issues },
      unroutedSensors: [...this.unrouted],
      sensors: this.liveness(),
    };
  }

  private liveness(): Record<string, SensorLiveness> {
    const now = this.now();
    const out: Record<string, SensorLiveness> = {};
    for (const [id, a] of this.arrivals) {
      if (a === null) continue;
      out[id] = {
        wearer: a.route.wearer,
        placement: a.route.placement,
        samples: a.samples,
        rateHz: Number.isNaN(a.meanIntervalMs) || a.meanIntervalMs <= 0 ? null : +(1000 / a.meanIntervalMs).toFixed(1),
        ageMs: Math.round(now - a.lastMs),
      };
    }
    return out;
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : performance.now();
  }

  private onSample(sample: ImuSample): void {
    let a = this.arrivals.get(sample.sensorId);
    if (a === undefined) {
      // Routed once per sensor, not per sample.
      const route = routeSensor(sample.sensorId, this.config.sensors);
      a = route ? { route, samples: 0, lastMs: Number.NaN, meanIntervalMs: Number.NaN } : null;
      this.arrivals.set(sample.sensorId, a);
    }
    if (a === null) {
      if (!this.unrouted.has(sample.sensorId)) {
        this.unrouted.add(sample.sensorId);
        this.deps.logger.warn(
          `sensor "${sample.sensorId}" is not mapped to a placement; add it to "sensors" in the config (its samples are counted and ignored)`,
        );
      }
      this.issues.unrouted = (this.issues.unrouted ?? 0) + 1;
      return;
    }
    const now = this.now();
    // The first sample's interval is NaN - NaN: the mean stays NaN until the second.
    a.meanIntervalMs = smoothInterval(a.meanIntervalMs, now - a.lastMs);
    a.lastMs = now;
    a.samples += 1;
    const route = a.route;
    this.deps.bus.emit("sample", { wearer: route.wearer, placement: route.placement, sample });
  }

  private onIssue(source: ImuSource, issue: SourceIssue): void {
    this.issues[issue.kind] = (this.issues[issue.kind] ?? 0) + 1;
    const where = `${source.kind}${issue.sensorId ? `/${issue.sensorId}` : ""}`;
    if (NOTABLE.has(issue.kind)) this.deps.logger.warn(`${where}: ${issue.message}`);
    else if (issue.kind === "valid_data") this.deps.logger.info(`${where}: ${issue.message}`);
    else this.deps.logger.debug(() => `${where}: ${issue.kind}: ${issue.message}`);
    this.deps.bus.emit("sourceIssue", { source: source.kind, issue });
  }

  private onEnd(): void {
    this.ended += 1;
    if (this.ended === this.sources.length) this.deps.bus.emit("sourcesEnded", { sources: this.ended });
  }
}

/** Issues worth a warning line; the rest (a bad checksum now and then) are counted and logged at debug. */
export const NOTABLE: ReadonlySet<SourceIssue["kind"]> = new Set(["disconnected", "io_error", "no_valid_data", "clock_restart", "consumer_error"]);
