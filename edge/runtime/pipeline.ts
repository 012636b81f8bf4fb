/**
 * One wearer's pipeline, the product's hot path. (Over 400 lines on purpose:
 * the windowed and the per-sample outputs share one feature ring, one
 * freshness watch and one segment-restart rule, which the segment-frame
 * restarts use too; split apart, a restart or a stale spell could reach one
 * stream and not the other.)
 *
 *   samples -> gyro bias -> GridResampler -> [SegmentFrames] -> FeatureBuilder (AHRS, Euler)
 *     -> every stride: window -> InferenceScheduler (never blocks) -> angles
 *
 * Segment frames (a `gait-features/2` model, docs/contract.md step 2b): each
 * grid sample goes out first as it is (`onGrid`: the mounting module
 * calibrates on the model's own grid), then every placement's acc and gyro
 * are rotated by its mounting rotation. While a placement has none (still
 * calibrating, refused, swapped, stopped fitting) no features are built and
 * no angles published (counted `withheld`); a new rotation restarts the AHRS
 * and the windows like a new segment, so no window mixes two frames.
 *
 * It also watches freshness: a placement that stops sending for
 * `staleAfterMs` turns the wearer `degraded`, and no angles computed from
 * the stale stretch are published. The sensor's return shows up as a time
 * gap, the resampler re-anchors, the AHRS and windows restart exactly as at
 * the start of a training trial, and the first fresh window turns it healthy.
 *
 * Heading: each placement's AHRS heading (yaw of the segment frame, q ⊗ q_ref,
 * the features' own yaw column) is followed window by window and reported in
 * `stats().headingDeg`, relative to the last `resetHeading()` or stream
 * restart. It is for display and drift checks only: the model sees yaw
 * relative to each window's first sample (contract step 5), so a heading reset
 * cannot change any angle.
 *
 * Per-sample mode (`perSample.enabled`, for controllers that need the leg's
 * state now, not up to a stride later): every `every`-th grid sample from
 * the first full window on, the window ENDING at that sample is built from
 * the same feature ring (yaw relative to that window's own first sample,
 * exactly as contract step 5 asks of any window) and run on a second
 * scheduler; the LAST row of its output is that sample's causal estimate,
 * published at once on `angles/sample`. The windowed stream is untouched:
 * its windows go to their own scheduler, so a per-sample backlog can never
 * hold one back. Per-sample requests wait in a short queue (`maxPending`)
 * and, when inference falls behind, the oldest is dropped for the newest
 * (counted); nothing queues without bound.
 *
 * The sample that completes a stride window is due both outputs from the
 * SAME window (same rows, same yaw origin): that window runs once, on the
 * windowed scheduler, and its last row is also the sample's estimate. So the
 * two schedulers can finish out of order; a per-sample result older than one
 * already published is never published after it (newest wins, counted as
 * skipped), and a stride window skipped for a newer one skips its sample too.
 */
import { z } from "zod";
import type { Mat3 } from "../calibration/linalg.js";
import type { LoadedContract, Placement } from "../contract/manifest.js";
import { FeatureBuilder } from "../features/featureBuilder.js";
import { SegmentFrames } from "../features/segmentFrames.js";
import { GridResampler, ResamplerConfigSchema, type GridSample } from "../features/resampler.js";
import type { WindowModel } from "../inference/onnxModel.js";
import { InferenceScheduler, type InferenceResult } from "../inference/scheduler.js";
import type { Logger } from "../log.js";
import { FEATURE_CHANNELS_PER_PLACEMENT } from "../features/featureBuilder.js";
import type { AnglesMessage, SampleAnglesMessage } from "../mqtt/topics.js";
import type { ImuSample, Vec3 } from "../sources/types.js";
import type { WindowPhase } from "./windowPhase.js";

export const pipelineConfigSchema = z.object({
  resampler: ResamplerConfigSchema.prefault({}),
  /** A placement silent this long (wall clock) makes the wearer degraded. */
  staleAfterMs: z.number().positive().default(500),
  /**
   * `staggered`: a wearer whose windows would be due on the same tick as
   * other wearers' takes a shorter step to its window 1, onto a freer tick
   * (edge/runtime/windowPhase.ts; contract step 7). `aligned`: every window
   * `stride` after the one before, wherever the others fall (what a coupled
   * batch wants: windows due together run as one call).
   */
  windowPhase: z.enum(["staggered", "aligned"]).default("staggered"),
  /** Decimals kept in published angles (0.001 deg is far below the model's error). */
  angleDecimals: z.number().int().min(0).max(6).default(3),
  /** Per-sample mode: a causal estimate of every `every`-th grid sample, on `angles/sample`. */
  perSample: z
    .object({
      enabled: z.boolean().default(false),
      /** Grid samples between outputs: 1 = every sample (100 Hz), 2 = 50 Hz, 5 = 20 Hz. */
      every: z.union([z.literal(1), z.literal(2), z.literal(5)]).default(1),
      /**
       * Requests that may wait while one runs; beyond that the oldest waiting
       * one is dropped (skip-to-newest, counted). More than 1 because samples
       * arrive in bursts of 2-3 (a late timer tick, a BLE connection interval)
       * while inference keeps up on average; small, because a queued sample
       * ages by one inference per place in the queue.
       */
      maxPending: z.number().int().min(1).max(8).default(3),
    })
    .strict()
    .prefault({}),
});
export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;

/** Attached to every window handed to inference. */
interface WindowMeta {
  readonly segment: number;
  readonly windowIndex: number;
  /** Grid times (µs, source clock) of the samples this window publishes. */
  readonly tUs: Float64Array;
  /** performance.now() when the sample completing the window was pushed. */
  readonly readyAtMs: number;
  /** The per-sample request this same run answers (its id), or -1 when none is due at this sample. */
  readonly sampleRequest: number;
}

export interface Health {
  readonly healthy: boolean;
  readonly reason?: string;
}

export interface PipelineDeps {
  readonly contract: LoadedContract;
  readonly model: WindowModel;
  readonly logger: Logger;
  readonly onAngles: (message: AnglesMessage, timing: { readyAtMs: number }) => void;
  readonly onHealth?: (health: Health) => void;
  /** Per-sample mode's outputs (only called when `perSample.enabled`). */
  readonly onSampleAngles?: (message: SampleAnglesMessage, timing: { readyAtMs: number }) => void;
  /**
   * Model for the per-sample runs; default `model`. The runtime passes a
   * lane of its own so the windowed stream's model label is never taken from
   * a per-sample run that happened to finish last.
   */
  readonly sampleModel?: WindowModel;
  /**
   * Segment frames (required by a gait-features/2 contract): the mounting
   * rotation (sensor -> segment) of one of this wearer's placements now, or
   * undefined while it has no usable one. Asked on every grid sample.
   */
  readonly rotation?: (placement: Placement) => Mat3 | undefined;
  /** Every grid sample in sensor frames, before the rotation (read synchronously: reused). */
  readonly onGrid?: (g: GridSample) => void;
  /**
   * Where this wearer's windows fall among other wearers' (staggered
   * windows): asked at each segment's window 0, told of every later window.
   * Without it every step is `stride`.
   */
  readonly windowPhase?: WindowPhase;
  /** Monotonic clock in ms for freshness (tests inject a fake); default performance.now. */
  readonly now?: () => number;
  /** Wall clock in ms for the `t` of published samples; default Date.now. */
  readonly wallNow?: () => number;
}

export interface PipelineStats {
  readonly samples: number;
  readonly gridSamples: number;
  readonly windows: number;
  readonly published: number;
  readonly skipped: number;
  readonly staleDropped: number;
  /** Windows whose inference failed (for example implausible outputs dropped by the model holder): nothing published. */
  readonly failed: number;
  readonly resamplerIssues: Readonly<Record<string, number>>;
  readonly ahrsResets: number;
  readonly segments: number;
  /**
   * Samples from this segment's window 0 to its window 1: `stride` (the
   * contract's windows) unless staggered onto a freer tick (pipeline.windowPhase).
   */
  readonly firstStride: number;
  /** Gyro bias subtracted per placement (rad/s), from the last calibration. */
  readonly gyroBias: Readonly<Record<string, Vec3>>;
  /**
   * AHRS heading per placement (deg, wrapped to (-180, 180]) at the latest
   * window, relative to the last heading reset or stream restart; 0 before the first window.
   */
  readonly headingDeg: Readonly<Record<string, number>>;
  /** Per-sample mode's counters; absent when it is off. */
  readonly perSample?: PerSampleStats;
  /** Segment frames (gait-features/2 models only). */
  readonly frames?: FrameStats;
}

export interface FrameStats {
  /** Grid samples not turned into features because a placement had no mounting rotation. */
  readonly withheld: number;
  /** The placement that has none now (angles withheld), or null when all have one. */
  readonly waitingFor: Placement | null;
  /** Times the features (re)started in a new frame: the first calibration, a recalibration, a return after a withheld spell. */
  readonly restarts: number;
}

export interface PerSampleStats {
  /** Grid samples due an output (every `every`-th from the first full window on, while fresh). */
  readonly requested: number;
  readonly published: number;
  /**
   * Requests dropped for a newer one because inference was behind
   * (skip-to-newest): replaced while queued, carried by a skipped stride
   * window, or finished after a newer sample was already published.
   */
  readonly skipped: number;
  /** Results dropped: stream restarted or stale since the request, or older than the request ring. */
  readonly staleDropped: number;
  readonly failed: number;
}

/**
 * Requests remembered for their results: a result older than this many
 * per-sample requests is dropped (at every 1 that is 0.64 s: far too old for
 * a controller). Only the run in flight and the queued ones (<= 8) are alive.
 */
const SAMPLE_RING = 64;

export class WearerPipeline {
  private resampler!: GridResampler;
  private builder!: FeatureBuilder;
  private scheduler!: InferenceScheduler<WindowMeta>;
  /** Per-sample runs; the meta is the request id (a small integer: nothing allocated per sample). */
  private sampleScheduler: InferenceScheduler<number> | undefined;
  private readonly sampleBuf: Float32Array;
  /** Request ring, indexed by id % SAMPLE_RING: which id holds the slot, its grid time, segment and arrival. */
  private readonly reqId = new Float64Array(SAMPLE_RING).fill(-1);
  private readonly reqTUs = new Float64Array(SAMPLE_RING);
  private readonly reqSegment = new Float64Array(SAMPLE_RING);
  private readonly reqReadyMs = new Float64Array(SAMPLE_RING);
  private nextReqId = 0;
  /** Id of the newest request published: an older result arriving later is not published. */
  private lastSampleId = -1;
  private sampleSeq = 0;
  /** `skipped` beyond the sample scheduler's own: skipped stride windows and results overtaken by a newer one. */
  private sampleSkippedElsewhere = 0;
  private readonly sampleCounts = { requested: 0, published: 0, staleDropped: 0, failed: 0 };
  private readonly window: number;
  /** The windows' grid as the window-phase planner reads it (made once, not per window). */
  private readonly windowGrid: { readonly stride: number; readonly dtMs: number };
  private readonly placements: readonly Placement[];
  private readonly windowBuf: Float32Array;
  /** Grid times of the last `window` grid samples, ring-indexed by the builder's sample count. */
  private readonly gridTimes: Float64Array;
  private readonly bias: Vec3[];
  /** The pushed sample's gyro less its bias: one scratch, since the resampler copies it at once. */
  private readonly unbiasedGyro: [number, number, number] = [0, 0, 0];
  /** Per placement, rad: heading at the current window's first row (unwrapped, since the segment began). */
  private readonly headingAtWindowStart: Float64Array;
  /** Per placement, rad: yaw change from the last window's first row to the next window's first row. */
  private readonly headingStep: Float64Array;
  /** Per placement, rad: heading at the latest window's last row. */
  private readonly headingNow: Float64Array;
  /** Per placement, rad: `headingNow` at the last heading reset. */
  private readonly headingOffset: Float64Array;
  private readonly lastSeenMs: number[];
  /** gait-features/2 only. */
  private readonly frames: SegmentFrames | undefined;
  /** The mounting rotation of placement index i (v2 only); made once, called for every grid sample. */
  private readonly rotationOf: ((i: number) => Mat3 | undefined) | undefined;
  private readonly frameCounts = { withheld: 0, restarts: 0 };
  private waitingFor: Placement | null = null;
  /** Bumped on every re-anchor and frame restart: results of an older one are dropped. */
  private segment = 0;
  private seq = 0;
  private stale: string | undefined;
  private healthy = true;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Source clock (µs) to wall clock (ms): the smallest `arrival - device time`
   * seen (the least-delayed sample), allowed to creep up by 100 ppm of elapsed
   * time so a slow device clock is followed. Reset only when the source clock restarts.
   */
  private clockOffsetMs = Number.NaN;
  private lastWallMs = Number.NaN;
  private readonly counts = { samples: 0, windows: 0, published: 0, staleDropped: 0, failed: 0 };
  /** performance-clock ms of the last inference-failure log line: a model that fails every window logs once a second, not 4 times. */
  private lastFailureLogMs = Number.NEGATIVE_INFINITY;
  private failuresNotLogged = 0;
  private readonly issues: Record<string, number> = {};
  private readonly now: () => number;
  private readonly wallNow: () => number;

  constructor(
    readonly wearer: string,
    private readonly config: PipelineConfig,
    private readonly deps: PipelineDeps,
  ) {
    const p = deps.contract.pipeline;
    this.window = p.window;
    this.windowGrid = { stride: p.stride, dtMs: p.dtS * 1000 };
    this.placements = p.placements;
    this.windowBuf = new Float32Array(p.window * deps.contract.featureCount);
    this.sampleBuf = new Float32Array(config.perSample.enabled ? this.windowBuf.length : 0);
    this.gridTimes = new Float64Array(p.window);
    this.bias = p.placements.map(() => [0, 0, 0] as const);
    this.headingAtWindowStart = new Float64Array(p.placements.length);
    this.headingStep = new Float64Array(p.placements.length);
    this.headingNow = new Float64Array(p.placements.length);
    this.headingOffset = new Float64Array(p.placements.length);
    this.lastSeenMs = p.placements.map(() => Number.NaN);
    this.now = deps.now ?? (() => performance.now());
    this.wallNow = deps.wallNow ?? Date.now;
    if (p.segmentFrames) {
      if (!deps.rotation) {
        throw new Error(`${deps.contract.manifestPath}: a gait-features/2 model reads segment frames, but this pipeline has no mounting rotations`);
      }
      this.frames = new SegmentFrames(p.placements.length);
      const rotation = deps.rotation;
      this.rotationOf = (i) => rotation(this.placements[i]!);
      this.waitingFor = p.placements[0]!;
    }
  }

  start(): void {
    const p = this.deps.contract.pipeline;
    // A placement that never sends is as stale as one that stopped.
    this.lastSeenMs.fill(this.now());
    this.builder = new FeatureBuilder(p);
    this.resampler = new GridResampler(
      {
        placements: p.placements,
        sampleRateHz: p.sampleRateHz,
        // The model's contract decides what counts as a gap (docs/contract.md step 2).
        config: { ...this.config.resampler, maxGapS: this.deps.contract.manifest.resampling.max_gap_s ?? this.config.resampler.maxGapS },
        inputLimits: p.inputLimits,
      },
      {
        onGridSample: (g) => this.onGridSample(g),
        onIssue: (issue) => {
          this.issues[issue.kind] = (this.issues[issue.kind] ?? 0) + 1;
          this.deps.logger.debug(() => `${this.wearer}/${issue.placement}: ${issue.message}`);
        },
        onReanchor: (e) => {
          // Same state as the start of a training trial: fresh AHRS, empty windows.
          this.segment += 1;
          this.builder.reset();
          if (e.reason === "clock_restart") this.clockOffsetMs = Number.NaN;
          this.deps.logger.info(`${this.wearer}: stream restarted after a ${e.reason} on ${e.placement}`, { segment: e.segment });
        },
      },
    );
    this.scheduler = new InferenceScheduler<WindowMeta>(this.model(), this.windowBuf.length, {
      onResult: (r) => this.onResult(r),
      onError: (err, meta) => {
        this.counts.failed += 1;
        if (meta.sampleRequest >= 0) this.sampleCounts.failed += 1;
        this.onInferenceError(err, `window ${meta.windowIndex}`);
      },
      onSkipped: (meta) => {
        if (meta.sampleRequest >= 0) this.sampleSkippedElsewhere += 1;
      },
    });
    if (this.config.perSample.enabled) {
      this.sampleScheduler = new InferenceScheduler<number>(this.deps.sampleModel ?? this.model(), this.sampleBuf.length, {
        onResult: (r) => this.onSampleResult(r.meta, r.output),
        onError: (err, id) => {
          this.sampleCounts.failed += 1;
          this.onInferenceError(err, `per-sample request ${id}`);
        },
      }, { maxPending: this.config.perSample.maxPending });
    }
    const checkEvery = Math.max(20, Math.min(250, this.config.staleAfterMs / 4));
    this.timer = setInterval(() => this.checkFreshness(), checkEvery);
    this.timer.unref();
  }

  /** Logs a failed run (`what` names it; the caller counts it), about once a second at most. */
  private onInferenceError(err: Error, what: string): void {
    const now = (this.deps.now ?? performance.now.bind(performance))();
    if (now - this.lastFailureLogMs < 1000) {
      this.failuresNotLogged += 1;
      return;
    }
    const more = this.failuresNotLogged ? ` (${this.failuresNotLogged} more failed runs since the last report)` : "";
    this.deps.logger.error(`${this.wearer}: inference failed for ${what}: ${err.message}${more}`);
    this.lastFailureLogMs = now;
    this.failuresNotLogged = 0;
  }

  private model(): WindowModel {
    return this.deps.model;
  }

  /** One sample of one of this wearer's placements. Never throws on bad data. */
  push(placement: Placement, sample: ImuSample): void {
    const i = this.placements.indexOf(placement);
    if (i < 0) return;
    this.counts.samples += 1;
    const b = this.bias[i]!;
    let gyro: Vec3 = sample.gyro;
    if (b[0] !== 0 || b[1] !== 0 || b[2] !== 0) {
      const g = this.unbiasedGyro;
      g[0] = sample.gyro[0] - b[0];
      g[1] = sample.gyro[1] - b[1];
      g[2] = sample.gyro[2] - b[2];
      gyro = g;
    }
    // Freshness counts usable samples only: a sensor sending garbage is as good as silent.
    if (!this.resampler.push(i, sample.tUs, sample.acc, gyro)) return;
    this.lastSeenMs[i] = this.now();
    this.trackClock(sample.tUs);
    if (this.stale) this.checkFreshness(); // recover as soon as the silent sensor is back
  }

  private trackClock(tUs: number): void {
    const wall = this.wallNow();
    const offset = wall - tUs / 1000;
    const crept = this.clockOffsetMs + (wall - this.lastWallMs) * 1e-4;
    this.clockOffsetMs = Number.isNaN(this.clockOffsetMs) ? offset : Math.min(offset, crept);
    this.lastWallMs = wall;
  }

  /** The source has ended (replay): stop judging freshness, and say so. */
  end(): void {
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    this.stale = undefined;
  }

  /** Gyro bias per placement (rad/s), from a static calibration. */
  setGyroBias(placement: Placement, bias: Vec3): void {
    const i = this.placements.indexOf(placement);
    if (i >= 0) this.bias[i] = bias;
  }

  /** Heading reset command: from now on each placement's heading reads relative to here. Angles are unaffected. */
  resetHeading(): void {
    this.headingOffset.set(this.headingNow);
  }

  /** Resolves when no window is in flight or pending (replay backpressure). */
  async idle(): Promise<void> {
    await Promise.all([this.scheduler.idle(), this.sampleScheduler?.idle()]);
  }

  /** Wait for the inference in flight (end of a replay). */
  async drain(): Promise<void> {
    this.resampler.finish();
    await this.idle();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.deps.windowPhase?.forget(this.wearer);
    await Promise.all([this.scheduler.stop(), this.sampleScheduler?.stop()]);
  }

  stats(): PipelineStats {
    const s = this.scheduler.stats();
    return {
      ...this.counts,
      gridSamples: this.resampler.stats().gridSamples,
      skipped: s.skipped,
      failed: this.counts.failed,
      resamplerIssues: { ...this.issues },
      ahrsResets: this.builder.ahrsResets,
      segments: this.resampler.stats().segment + 1,
      firstStride: this.builder.firstStride,
      gyroBias: Object.fromEntries(this.placements.map((p, i) => [p, this.bias[i]!])),
      headingDeg: Object.fromEntries(
        this.placements.map((p, i) => [p, Math.round(wrapRad(this.headingNow[i]! - this.headingOffset[i]!) * (180 / Math.PI) * 1000) / 1000]),
      ),
      ...(this.sampleScheduler
        ? { perSample: { ...this.sampleCounts, skipped: this.sampleScheduler.stats().skipped + this.sampleSkippedElsewhere } }
        : {}),
      ...(this.frames ? { frames: { ...this.frameCounts, waitingFor: this.waitingFor } } : {}),
    };
  }

  private onGridSample(g: GridSample): void {
    // First out as it is: a mounting judged on this very sample applies to it below.
    this.deps.onGrid?.(g);
    const values = this.frames ? this.toSegmentFrames(g) : g.values;
    if (values === undefined) return;
    // Indexed by the builder's own count, so the ring and the windows can never disagree.
    const k = this.builder.samples;
    this.gridTimes[k % this.window] = g.tUs;
    const ready = this.builder.push(values);
    const sampleRequest = this.sampleScheduler ? this.requestSample(k, g.tUs) : -1;
    if (ready) {
      this.onWindowReady(k, sampleRequest); // one run answers both
    } else if (sampleRequest >= 0) {
      this.builder.buildWindow(this.sampleBuf);
      this.sampleScheduler!.submit(this.sampleBuf, sampleRequest);
    }
  }

  /** Step 2b: the sample rotated into segment frames, or undefined (withheld: a placement has no rotation). */
  private toSegmentFrames(g: GridSample): Float64Array | undefined {
    const frames = this.frames!;
    const step = frames.apply(g.values, this.rotationOf!);
    if (step.kind === "withheld") {
      const placement = this.placements[step.placement]!;
      if (this.waitingFor === null) this.deps.logger.warn(`${this.wearer}: ${placement} has no usable mounting calibration now; angles withheld until it has`);
      this.waitingFor = placement;
      this.frameCounts.withheld += 1;
      return undefined;
    }
    if (step.changed) {
      // A new frame: restart exactly as after a gap, so no window or AHRS state spans two frames.
      this.frameCounts.restarts += 1;
      this.segment += 1;
      this.builder.reset();
      if (this.waitingFor !== null) this.deps.logger.info(`${this.wearer}: every placement has its mounting calibration; angles from now on`);
      this.waitingFor = null;
    }
    return frames.out;
  }

  /** `sampleRequest`: the per-sample request this window also answers, or -1. */
  private onWindowReady(k: number, sampleRequest: number): void {
    const windowIndex = this.builder.windowIndex;
    this.counts.windows += 1;
    const phase = this.deps.windowPhase;
    if (phase) {
      if (windowIndex === 0) this.builder.setFirstStride(phase.firstStride(this.wearer, this.windowGrid));
      else phase.observe(this.wearer, this.windowGrid);
    }
    this.builder.buildWindow(this.windowBuf);
    this.followHeading(windowIndex);
    if (this.stale) {
      this.counts.staleDropped += 1;
      return;
    }
    // Each window publishes the samples the one before had not (contract step 10).
    const n = this.builder.newSamples(windowIndex);
    const tUs = new Float64Array(n);
    for (let j = 0; j < n; j++) tUs[j] = this.gridTimes[(k - n + 1 + j) % this.window]!;
    this.scheduler.submit(this.windowBuf, { segment: this.segment, windowIndex, tUs, readyAtMs: performance.now(), sampleRequest });
  }

  /**
   * Grid sample `k` (index within the segment) just went into the ring. If
   * it is due a per-sample output, registers the request and returns its id
   * (the caller runs the window ending at k for it); else -1. Before the
   * first full window of a segment there is no such window: no output.
   */
  private requestSample(k: number, tUs: number): number {
    const first = this.window - 1;
    if (k < first || (k - first) % this.config.perSample.every !== 0) return -1;
    if (this.stale) return -1; // withheld like the windowed stream (counted there)
    this.sampleCounts.requested += 1;
    const id = this.nextReqId++;
    const slot = id % SAMPLE_RING;
    this.reqId[slot] = id;
    this.reqTUs[slot] = tUs;
    this.reqSegment[slot] = this.segment;
    this.reqReadyMs[slot] = performance.now();
    return id;
  }

  /** The output of the window ending at request `id`'s sample, from either scheduler. */
  private onSampleResult(id: number, output: Float32Array): void {
    const slot = id % SAMPLE_RING;
    if (this.reqId[slot] !== id || this.reqSegment[slot] !== this.segment || this.stale) {
      this.sampleCounts.staleDropped += 1;
      return;
    }
    if (id < this.lastSampleId) {
      this.sampleSkippedElsewhere += 1; // a newer sample is out already: a controller must never step back in time
      return;
    }
    this.lastSampleId = id;
    const nj = this.deps.contract.pipeline.joints.length;
    const row = (this.window - 1) * nj; // the window's last sample: the one this request is for
    const scale = 10 ** this.config.angleDecimals;
    const a = new Array<number>(nj);
    for (let c = 0; c < nj; c++) a[c] = Math.round(output[row + c]! * scale) / scale;
    const tUs = this.reqTUs[slot]!;
    this.sampleSeq += 1;
    this.sampleCounts.published += 1;
    this.deps.onSampleAngles?.(
      { seq: this.sampleSeq, t: Math.round(this.clockOffsetMs + tUs / 1000), tUs, a, wearer: this.wearer },
      { readyAtMs: this.reqReadyMs[slot]! },
    );
  }

  /**
   * The window just built holds each placement's yaw relative to its first
   * row. Window k+1 starts `stride` rows later (window 1: `firstStride`), so
   * that row of window k is the step between their first rows: chaining the
   * steps gives the heading since the segment began, without touching the features.
   */
  private followHeading(windowIndex: number): void {
    const width = this.deps.contract.featureCount;
    const step = this.builder.newSamples(windowIndex + 1);
    const stepRow = Math.min(step, this.window - 1) * width;
    const lastRow = (this.window - 1) * width;
    for (let i = 0; i < this.placements.length; i++) {
      const c = i * FEATURE_CHANNELS_PER_PLACEMENT + YAW_COLUMN;
      if (windowIndex === 0) {
        // A new segment (start or re-anchor): the AHRS restarted, so does the heading.
        this.headingAtWindowStart[i] = 0;
        this.headingOffset[i] = 0;
      } else {
        this.headingAtWindowStart[i]! += this.headingStep[i]!;
      }
      this.headingStep[i] = this.windowBuf[stepRow + c]!;
      this.headingNow[i] = this.headingAtWindowStart[i]! + this.windowBuf[lastRow + c]!;
    }
  }

  private onResult({ meta, output }: InferenceResult<WindowMeta>): void {
    // The sample's estimate first: it is the one a controller waits for.
    if (meta.sampleRequest >= 0) this.onSampleResult(meta.sampleRequest, output);
    if (meta.segment !== this.segment || this.stale) {
      this.counts.staleDropped += 1; // computed from data that is no longer current
      return;
    }
    const joints = this.deps.contract.pipeline.joints;
    const nj = joints.length;
    const n = meta.tUs.length;
    const scale = 10 ** this.config.angleDecimals;
    // Made at their final length: grown by push, a 5-angle row would get room for 17.
    const angles = new Array<number[]>(n);
    const t = new Array<number>(n);
    const sensorTimeUs = new Array<number>(n);
    for (let j = 0; j < n; j++) {
      const row = (this.window - n + j) * nj;
      const a = new Array<number>(nj);
      for (let c = 0; c < nj; c++) a[c] = Math.round(output[row + c]! * scale) / scale;
      angles[j] = a;
      sensorTimeUs[j] = meta.tUs[j]!;
      t[j] = Math.round(this.clockOffsetMs + meta.tUs[j]! / 1000);
    }
    const m = this.deps.contract.manifest;
    this.seq += 1;
    this.counts.published += 1;
    this.setHealth(true);
    this.deps.onAngles(
      { seq: this.seq, model: { name: m.name, version: m.version }, joints: [...joints], units: "deg", t, angles, sensorTimeUs, wearer: this.wearer },
      { readyAtMs: meta.readyAtMs },
    );
  }

  private checkFreshness(): void {
    if (this.ended) return;
    const now = this.now();
    let reason: string | undefined;
    for (let i = 0; i < this.placements.length; i++) {
      const silent = now - this.lastSeenMs[i]!;
      if (silent > this.config.staleAfterMs) {
        reason = `no samples from ${this.placements[i]} for ${Math.round(silent)} ms`;
        break;
      }
    }
    if (reason && !this.stale) this.deps.logger.warn(`${this.wearer}: ${reason}; angles withheld`);
    this.stale = reason;
    if (reason) this.setHealth(false, reason);
  }

  private setHealth(healthy: boolean, reason?: string): void {
    if (healthy === this.healthy) return;
    this.healthy = healthy;
    this.deps.onHealth?.(healthy ? { healthy } : { healthy, reason });
  }
}

/** Column of the yaw within a placement's feature channels (acc 3, gyro 3, roll, pitch, yaw). */
const YAW_COLUMN = 8;

function wrapRad(a: number): number {
  const w = a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));
  return w === -Math.PI ? Math.PI : w;
}
