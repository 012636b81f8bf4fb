/**
 * Every event on the edge's bus, and what it carries. This map is the table of
 * contents of the runtime: who emits what, and who listens.
 *
 *   event          emitted by          heard by
 *   sample         sources             pipelines, calibration, recorder
 *   sourceIssue    sources             status, recorder
 *   sourcesEnded   sources             pipelines
 *   wearerStarted  pipelines           calibration (applies the saved gyro bias)
 *   grid           pipelines           mounting (calibrates on the model's own grid)
 *   angles         pipelines           angle publisher, recorder, runtime (RuntimeDeps.onAngles)
 *   sampleAngles   pipelines           angle publisher, runtime (RuntimeDeps.onSampleAngles); per-sample mode only
 *   health         pipelines           status
 *   inferenceHealth model, ota         status (a lost worker of an inference pool)
 *   load           load watch          status (overloaded: stride windows or per-sample outputs skipped)
 *   drained        pipelines           runtime (RuntimeDeps.onEnd)
 *   status         status              recorder
 *   connection     mqtt connection     recorder
 *   modelChanged   ota                 model, recorder
 *   mounting       mounting            status (calibrating / refused / re-strap / swap)
 */
import type { LoadedContract, Placement } from "../contract/manifest.js";
import type { ConnectionEvent } from "../mqtt/connection.js";
import type { AnglesMessage, DeviceState, SampleAnglesMessage } from "../mqtt/topics.js";
import type { StreamHandedness } from "../calibration/convert.js";
import type { MountingQuality } from "../runtime/calibrationFile.js";
import type { Health } from "../runtime/pipeline.js";
import type { InferenceHealthEvent } from "../inference/inferencePool.js";
import type { ImuSample, SourceIssue } from "../sources/types.js";

/** A sample whose sensor id the config maps to a wearer's placement. */
export interface RoutedSample {
  readonly wearer: string;
  readonly placement: Placement;
  readonly sample: ImuSample;
}

/**
 * One sample of a wearer's model grid (contract step 2), in SENSOR frames
 * after the gyro bias: exactly what the features are built from (before the
 * mounting rotation of gait-features/2). `values` is the pipeline's reused
 * buffer, `[placement][acc x,y,z, gyro x,y,z]` in `placements` order, and the
 * event object itself is refilled for the wearer's next grid sample
 * (edge/modules/pipelines.ts): read both inside the listener, never keep them.
 */
export interface GridEvent {
  readonly wearer: string;
  readonly placements: readonly Placement[];
  /** The resampler's segment (a gap or a stall starts a new one) and the grid index within it. */
  readonly segment: number;
  readonly index: number;
  /** Grid time, µs on the sources' clock. */
  readonly tUs: number;
  readonly values: Float64Array;
}

export interface StatusChange {
  readonly state: Extract<DeviceState, "online" | "degraded">;
  readonly reason?: string;
}

export const MOUNTING_STATES = ["calibrating", "calibrated", "refused", "restrap_suspected", "stopped_fitting", "swapped"] as const;
export type MountingState = (typeof MOUNTING_STATES)[number];

/** A sensor's mounting (sensor -> segment) calibration changed state (edge/modules/mounting.ts). */
export interface MountingEvent {
  readonly wearer: string;
  readonly placement: Placement;
  readonly state: MountingState;
  /** calibrating: share of the walking needed so far, 0..1. */
  readonly progress?: number;
  /** calibrated: sensor -> segment, unit quaternion (w, x, y, z). */
  readonly rotation?: readonly [number, number, number, number];
  /** calibrated: "left" when the stream was left-handed and is converted before `rotation` (docs/contract.md 2b). */
  readonly handedness?: StreamHandedness;
  readonly quality?: MountingQuality;
  /** Why (refused, restrap_suspected, stopped_fitting, swapped), or how it came (calibrated: loaded, recalibrated). */
  readonly reason?: string;
  /** True when the running model (gait-features/2) withholds its angles until this sensor is calibrated. */
  readonly anglesWait?: boolean;
}

export interface EdgeEvents {
  sample: RoutedSample;
  /** `source` names the source ("serial", "replay", ...) the issue came from. */
  sourceIssue: { readonly source: string; readonly issue: SourceIssue };
  /** Every finite source (replay) has delivered everything. */
  sourcesEnded: { readonly sources: number };
  /** A wearer's pipeline was created (its first sample is about to be pushed). */
  wearerStarted: { readonly wearer: string };
  grid: GridEvent;
  angles: { readonly message: AnglesMessage; readonly readyAtMs: number };
  /** One grid sample's causal estimate (pipeline.perSample); `readyAtMs` = performance.now() when its sample arrived. */
  sampleAngles: { readonly message: SampleAnglesMessage; readonly readyAtMs: number };
  health: { readonly wearer: string; readonly health: Health };
  /** A loaded session's inference workers: one lost (healthy false), or that session stopped since (healthy true). */
  inferenceHealth: InferenceHealthEvent;
  /** The load watch's verdict changed: skipping (healthy false, with why) or keeping up again. */
  load: Health;
  /** After `sourcesEnded`: the last window of every wearer was published. */
  drained: { readonly wearers: number };
  status: StatusChange;
  connection: ConnectionEvent;
  /** OTA installed or rolled back a model; the pipelines already run it. */
  modelChanged: { readonly contract: LoadedContract };
  mounting: MountingEvent;
}
