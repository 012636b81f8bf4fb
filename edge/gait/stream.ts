/**
 * The order of work on one foot stream, as the runtime will wire it:
 * detector -> phase -> strides, sample by sample. Mirrors
 * training/gaitlstm/gait/stream.py (`run_stream`), which writes the golden vectors.
 */
import { DEFAULT_DETECTOR_PARAMS, type DetectorParams, GaitEventDetector } from "./events.js";
import { DEFAULT_PHASE_PARAMS, type PhaseParams, PhaseEstimator } from "./phase.js";
import { NO_STRIDES, STRIDE_JOINTS, StrideTracker } from "./strides.js";
import type { GaitEvent, Stride } from "./types.js";

/** What one push found. The stream refills the same object on its next push: read it before then. */
export interface GaitSampleResult {
  readonly events: readonly GaitEvent[];
  readonly strides: readonly Stride[];
  /** Phase (%) at this sample, null when unknown. */
  readonly phase: number | null;
}

export class GaitStream {
  readonly detector: GaitEventDetector;
  readonly phase: PhaseEstimator;
  readonly strides: StrideTracker;
  /** The latest push's result, refilled by every push (100 a second per foot) instead of a new object each. */
  private readonly result: { -readonly [K in keyof GaitSampleResult]: GaitSampleResult[K] } = { events: [], strides: NO_STRIDES, phase: null };

  constructor(withAngles: boolean, params: DetectorParams = DEFAULT_DETECTOR_PARAMS, phaseParams: PhaseParams = DEFAULT_PHASE_PARAMS) {
    this.detector = new GaitEventDetector(params);
    this.phase = new PhaseEstimator(phaseParams);
    this.strides = new StrideTracker(withAngles ? STRIDE_JOINTS : null, phaseParams.minStrideS, phaseParams.maxStrideS);
  }

  /** One foot sample (s, rad/s segment-frame sagittal rate) and, if tracked, the angles at that time. The result is reused (GaitSampleResult). */
  push(t: number, sagittalRate: number, angles?: ArrayLike<number>): GaitSampleResult {
    const events = this.detector.update(t, sagittalRate);
    // Most samples close no stride: they share one empty list instead of each making one.
    let strides: readonly Stride[] = NO_STRIDES;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      this.phase.onEvent(e);
      strides = joined(strides, this.strides.onEvent(e));
    }
    if (angles !== undefined) strides = joined(strides, this.strides.pushAngles(t, angles));
    const r = this.result;
    r.events = events;
    r.strides = strides;
    r.phase = this.phase.phase(t);
    return r;
  }

  /** After a gap in the stream: events and phase start over (stride history too). */
  reset(): void {
    this.detector.reset();
    this.phase.reset();
    this.strides.reset();
  }
}

/** `a` then `b`; either one itself when the other is empty. */
function joined(a: readonly Stride[], b: readonly Stride[]): readonly Stride[] {
  return b.length === 0 ? a : a.length === 0 ? b : [...a, ...b];
}
