/**
 * Per-stride metrics from gait events and the joint-angle stream; mirrors
 * training/gaitlstm/gait/strides.py.
 *
 * A stride runs from a heel strike to the next of the same foot: stride
 * time, cadence (120 / stride time, steps/min), stance % (null without a toe
 * off inside the stride) and each joint's range of motion (max - min of the
 * angle samples with start <= t < end). The model publishes angles in blocks,
 * later than the detector's events, so a stride is closed once its ending
 * heel strike is known AND an angle sample at t >= end has arrived (at once
 * when the tracker takes no angles).
 */
import { DEFAULT_PHASE_PARAMS } from "./phase.js";
import type { GaitEvent, Stride } from "./types.js";

export const STRIDE_JOINTS = ["hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r"] as const;

/** What a call that closes no stride returns (frozen: shared by every tracker). */
export const NO_STRIDES: readonly Stride[] = Object.freeze([]);

interface OpenStride {
  tStart: number;
  tEnd: number;
  tToeOff: number | null;
}

export class StrideTracker {
  private tHs = NaN;
  private tTo: number | null = null;
  private pending: OpenStride[] = [];
  private anglesT: number[] = [];
  private angles: number[][] = [];

  /** `joints` null: no angle stream, ROM left out. */
  constructor(
    readonly joints: readonly string[] | null = STRIDE_JOINTS,
    readonly minStrideS: number = DEFAULT_PHASE_PARAMS.minStrideS,
    readonly maxStrideS: number = DEFAULT_PHASE_PARAMS.maxStrideS,
  ) {}

  /** After a gap: no stride may span it. Strides already complete still wait for their angles. */
  reset(): void {
    this.tHs = NaN;
    this.tTo = null;
  }

  onEvent(e: GaitEvent): readonly Stride[] {
    if (e.type === "toe_off") {
      if (!Number.isNaN(this.tHs) && e.t > this.tHs) this.tTo = e.t;
      return NO_STRIDES;
    }
    if (e.type !== "heel_strike") return NO_STRIDES;
    if (!Number.isNaN(this.tHs)) {
      const stride = e.t - this.tHs;
      // Out-of-range strides (a pause, a doubled heel strike) are not strides.
      if (this.minStrideS <= stride && stride <= this.maxStrideS) this.pending.push({ tStart: this.tHs, tEnd: e.t, tToeOff: this.tTo });
    }
    this.tHs = e.t;
    this.tTo = null;
    return this.close();
  }

  /** One angle sample (degrees, in `joints` order) at time t (s). */
  pushAngles(t: number, angles: ArrayLike<number>): readonly Stride[] {
    if (this.joints === null) throw new Error("this StrideTracker was made without joints; it takes no angles");
    if (angles.length !== this.joints.length) {
      throw new Error(`expected ${this.joints.length} angles (${this.joints.join(", ")}), got ${angles.length}`);
    }
    this.anglesT.push(t);
    this.angles.push(Array.from(angles));
    return this.close();
  }

  private close(): readonly Stride[] {
    let out: Stride[] | undefined; // made only when a stride closes: close() runs for every angle sample
    const latest = this.anglesT.length > 0 ? this.anglesT[this.anglesT.length - 1]! : -Infinity;
    while (this.pending.length > 0 && (this.joints === null || latest >= this.pending[0]!.tEnd)) {
      (out ??= []).push(this.metrics(this.pending.shift()!));
    }
    // Angle samples before the oldest open stride (or the current heel strike) are no longer needed.
    const keepFrom = this.pending.length > 0 ? this.pending[0]!.tStart : this.tHs;
    if (!Number.isNaN(keepFrom)) {
      let drop = 0;
      while (drop < this.anglesT.length && this.anglesT[drop]! < keepFrom) drop++;
      if (drop > 0) {
        this.anglesT.splice(0, drop);
        this.angles.splice(0, drop);
      }
    }
    return out ?? NO_STRIDES;
  }

  private metrics(s: OpenStride): Stride {
    const stride = s.tEnd - s.tStart;
    const stance = s.tToeOff === null ? null : (100.0 * (s.tToeOff - s.tStart)) / stride;
    let rom: Record<string, number> | null = null;
    if (this.joints !== null) {
      const lo = this.joints.map(() => Infinity);
      const hi = this.joints.map(() => -Infinity);
      let n = 0;
      for (let i = 0; i < this.anglesT.length; i++) {
        const t = this.anglesT[i]!;
        if (s.tStart <= t && t < s.tEnd) {
          n++;
          const a = this.angles[i]!;
          for (let j = 0; j < a.length; j++) {
            lo[j] = Math.min(lo[j]!, a[j]!);
            hi[j] = Math.max(hi[j]!, a[j]!);
          }
        }
      }
      if (n > 0) {
        rom = {};
        this.joints.forEach((joint, j) => {
          rom![joint] = hi[j]! - lo[j]!;
        });
      }
    }
    return { tStart: s.tStart, tEnd: s.tEnd, tToeOff: s.tToeOff, strideTimeS: stride, cadenceSpm: 120.0 / stride, stancePct: stance, romDeg: rom };
  }
}
