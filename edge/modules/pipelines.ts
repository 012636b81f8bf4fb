/**
 * One `WearerPipeline` per wearer (edge/runtime/pipeline.ts, the hot path),
 * created on the wearer's first routed sample. Samples in from the bus;
 * `angles` and `health` out to it. At the end of a replay it ends and drains
 * every pipeline and says `drained`.
 *
 * Every grid sample goes out as `grid` (sensor frames: the mounting module
 * calibrates on it). A gait-features/2 model gets each placement's mounting
 * rotation from `deps.mounting` (edge/modules/mounting.ts); without one the
 * wearer's angles are withheld (edge/runtime/pipeline.ts).
 *
 * Serves `heading_reset`: each placement's AHRS heading (in `get_status`,
 * `pipelines.<wearer>.headingDeg`) reads 0 from then on. The angles do not
 * change: the model sees yaw only relative to each window's first sample.
 */
import { z } from "zod";
import type { Mat3 } from "../calibration/linalg.js";
import { command, type CommandTable } from "../commands/types.js";
import type { Placement } from "../contract/manifest.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents, GridEvent, RoutedSample } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import type { ModelLane } from "../ota/swappableModel.js";
import { WearerPipeline, type PipelineConfig, type PipelineStats } from "../runtime/pipeline.js";
import type { Vec3 } from "../sources/types.js";
import { WindowPhasePlanner } from "../runtime/windowPhase.js";

export interface PipelinesDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  /**
   * A model lane for a new pipeline: it runs the current model and labels each
   * result with the model that computed it (the model module's SwappableModel).
   */
  readonly lane: () => ModelLane;
  /** Mounting rotations, for segment-frame (gait-features/2) models. */
  readonly mounting?: { rotation(wearer: string, placement: Placement): Mat3 | undefined };
}

export class PipelinesModule implements Module {
  readonly name = "pipelines";
  private readonly pipelines = new Map<string, WearerPipeline>();
  private readonly unsubscribes: Array<() => void> = [];
  /** One for all wearers: where each one's windows fall (staggered windows), or none (`aligned`). */
  private readonly windowPhase: WindowPhasePlanner | undefined;

  constructor(
    private readonly config: PipelineConfig,
    private readonly deps: PipelinesDeps,
  ) {
    this.windowPhase = config.windowPhase === "staggered" ? new WindowPhasePlanner() : undefined;
  }

  async start(): Promise<void> {
    const bus = this.deps.bus;
    this.unsubscribes.push(
      bus.on("sample", (s) => this.onSample(s)),
      bus.on("sourcesEnded", () => this.onSourcesEnded()),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribes.splice(0)) off();
    // Kept in the map after stopping: stats() after stop() still reports them.
    for (const p of this.pipelines.values()) await p.stop();
  }

  wearers(): string[] {
    return [...this.pipelines.keys()];
  }

  /** Gyro bias (rad/s) for one placement of a running wearer; false if that wearer has no pipeline yet. */
  setGyroBias(wearer: string, placement: Placement, bias: Vec3): boolean {
    const p = this.pipelines.get(wearer);
    p?.setGyroBias(placement, bias);
    return p !== undefined;
  }

  /** Every wearer's inference is done (nothing in flight or pending). */
  async idle(): Promise<void> {
    await Promise.all([...this.pipelines.values()].map((p) => p.idle()));
  }

  stats(): Record<string, PipelineStats> {
    return Object.fromEntries([...this.pipelines].map(([w, p]) => [w, p.stats()]));
  }

  commands(): CommandTable {
    return {
      heading_reset: command({
        summary: "make every placement's AHRS heading read 0 from now on (display only; the angles do not change)",
        args: z.object({}).strict(),
        run: async () => {
          for (const p of this.pipelines.values()) p.resetHeading();
          return { wearers: this.wearers() };
        },
      }),
    };
  }

  private onSample({ wearer, placement, sample }: RoutedSample): void {
    let p = this.pipelines.get(wearer);
    if (!p) p = this.create(wearer);
    p.push(placement, sample);
  }

  private create(wearer: string): WearerPipeline {
    const lane = this.deps.lane();
    const bus = this.deps.bus;
    // Its own lane: each lane labels results with the model of ITS latest run.
    const sampleLane = this.config.perSample.enabled ? this.deps.lane() : undefined;
    const mounting = this.deps.mounting;
    const placements = lane.contract.pipeline.placements;
    // This wearer's `grid` event: one object, refilled for every grid sample (100 Hz per wearer)
    // rather than a new one each time. Owned by this closure; listeners read it synchronously,
    // like the `values` buffer it carries (the resampler's frame, reused too), and never keep it (GridEvent).
    let gridEvent: { -readonly [K in keyof GridEvent]: GridEvent[K] } | undefined;
    const p = new WearerPipeline(wearer, this.config, {
      contract: lane.contract,
      ...(mounting ? { rotation: (placement: Placement) => mounting.rotation(wearer, placement) } : {}),
      onGrid: (g) => {
        if (bus.listenerCount("grid") === 0) return;
        if (gridEvent === undefined) gridEvent = { wearer, placements, segment: g.segment, index: g.index, tUs: g.tUs, values: g.values };
        else {
          gridEvent.segment = g.segment;
          gridEvent.index = g.index;
          gridEvent.tUs = g.tUs;
          gridEvent.values = g.values;
        }
        bus.emit("grid", gridEvent);
      },
      model: lane.model,
      ...(this.windowPhase ? { windowPhase: this.windowPhase } : {}),
      logger: this.deps.logger,
      onAngles: (message, timing) => bus.emit("angles", { message, readyAtMs: timing.readyAtMs }),
      onHealth: (health) => bus.emit("health", { wearer, health }),
      ...(sampleLane ? { sampleModel: sampleLane.model } : {}),
      onSampleAngles: (message, timing) => bus.emit("sampleAngles", { message, readyAtMs: timing.readyAtMs }),
    });
    p.start();
    this.pipelines.set(wearer, p);
    // Synchronous: the calibration module applies the saved gyro bias before the first sample is pushed.
    bus.emit("wearerStarted", { wearer });
    return p;
  }

  private onSourcesEnded(): void {
    const all = [...this.pipelines.values()];
    for (const p of all) p.end(); // silence after the end is not a failing sensor
    void Promise.all(all.map((p) => p.drain()))
      .then(() => this.deps.bus.emit("drained", { wearers: all.length }))
      .catch((err: unknown) => this.deps.logger.error(`draining at the end of the sources failed: ${(err as Error).message}`));
  }
}
