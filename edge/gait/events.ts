/**
 * Causal, streaming gait-event detector on the foot's sagittal angular rate.
 *
 * Same algorithm as training/gaitlstm/gait/events.py, operation for
 * operation; both are held to test/fixtures/gait/golden.json. The algorithm,
 * its thresholds and its latency: docs/gait-events.md. Change both together.
 *
 * Input per sample, in time order: `t` (s) and `w`, the foot's sagittal rate
 * (rad/s) in the SEGMENT frame (OpenSim calcn: x anterior, y up, z right for
 * the right foot; gyro z, positive = toes rising). Turning the sensor's gyro
 * into that frame is the sensor-to-segment calibration's job, not this one's.
 *
 * Over a stride w shows: a sharp negative minimum as the foot slaps flat
 * after heel strike; ~0 in foot-flat; a deep negative trough at heel off;
 * a steep rise through zero just after toe off; the stride's largest
 * positive peak in mid-swing; a return through zero before the next heel strike.
 *
 * States: swing (waiting for the mid-swing peak; also the start and
 * recovery state) -> mid_swing -> terminalSwing (waiting for the heel-strike
 * minimum) -> heel_strike -> stance (waiting for the toe-off zero crossing)
 * -> toe_off -> swing.
 */
import type { GaitEvent } from "./types.js";

export interface DetectorParams {
  /** A mid-swing peak must exceed this, rad/s (walking 3-8; the first step from standing 1.7-1.9). */
  readonly mswMinRate: number;
  /** The peak is confirmed once w fell this far below it, rad/s. */
  readonly mswDrop: number;
  /** Heel strike: a minimum deeper than -hsMinDepth that w then rises hsRise above, rad/s. */
  readonly hsMinDepth: number;
  readonly hsRise: number;
  /** Foot slap follows first touch (plate 20 N) by this much, s (fitted on AB06 *_01..03). */
  readonly hsOffsetS: number;
  /** The toe-off trough is looked for only this long after heel strike, s (skips the foot-slap oscillation). */
  readonly minStanceS: number;
  /** Trough needed before an upward zero crossing counts as toe off, rad/s. */
  readonly toTrough: number;
  /** w crosses zero this long after the toes leave, s (fitted on AB06 *_01..03). */
  readonly toOffsetS: number;
  /** No heel strike this long after mid-swing, s: the chain is broken, search again. */
  readonly maxTerminalSwingS: number;
}

export const DEFAULT_DETECTOR_PARAMS: DetectorParams = {
  mswMinRate: 1.5,
  mswDrop: 1.0,
  hsMinDepth: 1.0,
  hsRise: 0.5,
  hsOffsetS: 0.018,
  minStanceS: 0.2,
  toTrough: -2.0,
  toOffsetS: 0.034,
  maxTerminalSwingS: 1.0,
};

export type DetectorState = "swing" | "terminalSwing" | "stance";

export class GaitEventDetector {
  private state: DetectorState = "swing";
  private stateSince = NaN;
  private prevT = NaN;
  private prevW = NaN;
  private peak = -Infinity;
  private tPeak = NaN;
  private peakRose = false;
  private armed = false;
  private low = Infinity;
  private tLow = NaN;
  private tHs = NaN;
  private trough = Infinity;
  /** Swings seen without their toe off (no deep trough before the rise). */
  missedToeOffs = 0;

  constructor(readonly params: DetectorParams = DEFAULT_DETECTOR_PARAMS) {}

  get currentState(): DetectorState {
    return this.state;
  }

  /** Forget everything: start of a recording, or after a gap in the stream. */
  reset(): void {
    this.prevT = NaN;
    this.prevW = NaN;
    this.tHs = NaN;
    this.missedToeOffs = 0;
    this.enter("swing", NaN); // and every per-state running value
  }

  private enter(state: DetectorState, t: number): void {
    this.state = state;
    this.stateSince = t;
    this.peak = -Infinity;
    this.tPeak = NaN;
    this.peakRose = false;
    this.armed = false;
    this.low = Infinity;
    this.tLow = NaN;
    this.trough = Infinity;
  }

  /** Process one sample; returns the events it confirms (zero or one; none is one shared empty array). */
  update(t: number, w: number): readonly GaitEvent[] {
    if (!Number.isFinite(t) || !Number.isFinite(w)) throw new Error(`gait detector: sample t=${t} s, w=${w} rad/s is not finite`);
    // The runtime drops repeated/backward timestamps (docs/contract.md); here it is a caller bug.
    if (t <= this.prevT) throw new Error(`gait detector: time ${t} s is not after the previous sample's ${this.prevT} s`);
    const p = this.params;
    // At most one event per sample, and most samples have none: no array is made for those.
    let event: GaitEvent | undefined;
    if (Number.isNaN(this.stateSince)) this.stateSince = t;
    if (this.state === "swing") {
      if (w > this.peak) {
        // A peak only counts if w rose to it: at the start of a recording w
        // may be falling from a peak the detector never saw.
        this.peakRose = this.peak > -Infinity;
        this.peak = w;
        this.tPeak = t;
      } else if (w < this.peak - p.mswDrop) {
        if (this.peak > p.mswMinRate && this.peakRose) {
          event = { type: "mid_swing", t: this.tPeak, tDetected: t };
          this.enter("terminalSwing", t);
        } else {
          // No mid-swing (too low, or never rose): track the next peak from here.
          this.peak = w;
          this.tPeak = t;
          this.peakRose = false;
        }
      }
    } else if (this.state === "terminalSwing") {
      if (t - this.stateSince > p.maxTerminalSwingS) {
        this.enter("swing", t);
        this.peak = w;
        this.tPeak = t;
      } else {
        if (!this.armed && w < 0.0) this.armed = true;
        if (this.armed) {
          if (w < this.low) {
            this.low = w;
            this.tLow = t;
          } else if (this.low < -p.hsMinDepth && w > this.low + p.hsRise) {
            const tHs = this.tLow - p.hsOffsetS;
            event = { type: "heel_strike", t: tHs, tDetected: t };
            this.enter("stance", t);
            this.tHs = tHs;
          }
        }
      }
    } else {
      // Stance. Nothing counts during the first minStanceS: the foot-slap
      // oscillation right after contact swings w both ways.
      if (t - this.tHs >= p.minStanceS) {
        if (w < this.trough) this.trough = w;
        if (this.prevW < 0.0 && 0.0 <= w && this.trough < p.toTrough) {
          // Toe off; the zero crossing is interpolated linearly between the two samples.
          const tCross = this.prevT + ((0.0 - this.prevW) / (w - this.prevW)) * (t - this.prevT);
          event = { type: "toe_off", t: tCross - p.toOffsetS, tDetected: t };
          this.enter("swing", t);
          this.peak = w;
          this.tPeak = t;
        } else if (w > p.mswMinRate) {
          // Already swinging and no toe off seen: skip it, track this swing.
          this.missedToeOffs += 1;
          this.enter("swing", t);
          this.peak = w;
          this.tPeak = t;
        }
      }
    }
    this.prevT = t;
    this.prevW = w;
    return event === undefined ? NO_EVENTS : [event];
  }
}

/** What a sample without an event returns (frozen: shared by every detector). */
const NO_EVENTS: readonly GaitEvent[] = Object.freeze([]);

/** Run the streaming detector over a whole recording (offline use, same result). */
export function detectEvents(t: ArrayLike<number>, w: ArrayLike<number>, params: DetectorParams = DEFAULT_DETECTOR_PARAMS): GaitEvent[] {
  if (t.length !== w.length) throw new Error(`detectEvents: ${t.length} times but ${w.length} rates`);
  const det = new GaitEventDetector(params);
  const out: GaitEvent[] = [];
  for (let i = 0; i < t.length; i++) out.push(...det.update(t[i]!, w[i]!));
  return out;
}
