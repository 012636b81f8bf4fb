/**
 * Continuous gait phase (0-100 % of the stride) from heel strikes; mirrors
 * training/gaitlstm/gait/phase.py (docs/gait-events.md).
 *
 * phase(t) = 100 (t - last heel strike) / T, T = mean of the last `history`
 * stride times within [minStrideS, maxStrideS]: a prediction that the stride
 * in progress lasts as long as the recent ones.
 * - First strides: null until one whole stride is timed (second heel strike).
 * - Longer than predicted: held at `cap` until the heel strike; never wraps on its own.
 * - Pause: null once the time since the heel strike exceeds pauseFactor * T
 *   (or maxStrideS); the next heel strike resumes with the strides from before.
 */
import type { GaitEvent } from "./types.js";

export interface PhaseParams {
  readonly history: number;
  readonly minStrideS: number;
  readonly maxStrideS: number;
  readonly pauseFactor: number;
  readonly cap: number;
}

export const DEFAULT_PHASE_PARAMS: PhaseParams = { history: 3, minStrideS: 0.5, maxStrideS: 2.5, pauseFactor: 1.5, cap: 99.0 };

export class PhaseEstimator {
  private tHs = NaN;
  private strides: number[] = [];

  constructor(readonly params: PhaseParams = DEFAULT_PHASE_PARAMS) {}

  reset(): void {
    this.tHs = NaN;
    this.strides = [];
  }

  onEvent(e: GaitEvent): void {
    if (e.type !== "heel_strike") return;
    if (!Number.isNaN(this.tHs)) {
      const stride = e.t - this.tHs;
      if (this.params.minStrideS <= stride && stride <= this.params.maxStrideS) {
        this.strides.push(stride);
        if (this.strides.length > this.params.history) this.strides.shift();
      }
    }
    this.tHs = e.t;
  }

  strideEstimate(): number | null {
    if (this.strides.length === 0) return null;
    let total = 0.0;
    for (const s of this.strides) total += s;
    return total / this.strides.length;
  }

  /** Phase (%) at time t (s), or null when unknown (start, pause). */
  phase(t: number): number | null {
    const p = this.params;
    const stride = this.strideEstimate();
    if (stride === null || Number.isNaN(this.tHs)) return null;
    const since = t - this.tHs;
    if (since < 0.0 || since > p.pauseFactor * stride || since > p.maxStrideS) return null;
    return Math.min((100.0 * since) / stride, p.cap);
  }
}
