/**
 * Frames (binary or CSV, both decoded to `ImuFrame`) -> `ImuSample`s. This is
 * where device-level meaning lives:
 *
 * - sensor naming: board id 3 becomes `"serial:3"`, or the configured name;
 * - time: the board's 32-bit µs clock wraps every ~71.6 min; per sensor it is
 *   unwrapped into a monotonic µs count (forward steps are taken modulo 2³²,
 *   so a wrap is just another forward step);
 * - sequence: duplicates are dropped, gaps (lost frames) reported;
 * - values: NaN/Inf or beyond the sensor's full scale are reported and dropped.
 *
 * Time has two clocks: the board's (precise, but it restarts with the board)
 * and the host's arrival time of each frame (coarse, jittery by a few ms of
 * USB/UART buffering, but it never restarts). A serial line is FIFO, so frames
 * never arrive out of order, and a device step is checked against both the
 * sequence number and the host step:
 *
 * - A suspect clock: a frame whose clock steps back, or ahead by more than
 *   the host saw pass plus `JUMP_SLACK_US` (the host clock only ever runs
 *   ahead of the device's, by buffering), or ahead by more than its seq step
 *   times the last sample period plus one period and `STEP_DRIFT_US` (a
 *   board's clock steps by its period) while the host saw less pass, whatever
 *   its `seq`. It is dropped (`bad_value`, named by its seq) and
 *   held as a suspect; the clock keeps its last good reading. Its `t_us` is
 *   either wrong (a firmware glitch: CRC-valid; a CSV line garbled in
 *   transit) or the board restarted, and only the next frame can tell:
 * - Restart: the next frame continues from the suspect's clock (seq + 1, a
 *   small forward step). The new clock is spliced on at `last + host arrival
 *   gap` (at least one sample step), so a 0.3 s reboot leaves a 0.3 s hole in
 *   `tUs`: the resampler sees a gap (> 0.1 s restarts the windows,
 *   docs/contract.md "Gaps") instead of this board running 0.3 s behind the
 *   others for the rest of the session. Reported as `clock_restart`. Why the
 *   host gap: the device clock of the silence is gone, and the host clock is
 *   the one all boards share. The first frame of a restart is lost (it came
 *   as a suspect); that is the price of never taking one wrong clock for a
 *   restart (issue #13: a CRC-valid wrong clock after a lost frame was).
 * - Outlier: the next frame does not continue from it: the suspect's clock
 *   was wrong, its frame stays dropped, and the next frame is judged against
 *   the last good clock.
 * - Losses are always counted: the seqs between the last good frame and the
 *   suspect (when the suspect's seq lies between it and the next frame's) are
 *   a `sequence gap`; at a confirmed restart they are a gap too when the
 *   board kept counting (no more missing than the host's silence holds
 *   frames), and named in the `clock_restart` report when seq restarted
 *   (then nothing can count what was lost just before the restart).
 *
 * Limitation: a silence longer than half the clock range (~35.8 min) is
 * indistinguishable from a restart and is spliced the same way (correctly,
 * since the splice uses the host gap).
 */

import { z } from "zod";
import type { ImuSample, SourceIssue, Vec3 } from "../types.js";
import { U16_RANGE, U32_RANGE, type ImuFrame } from "./frame.js";

const STANDARD_GRAVITY = 9.80665;

/**
 * Per-axis full-scale limits. A reading beyond them cannot come from a working
 * sensor at its usual maximum range (±16 g, ±2000 °/s ≈ ±34.9 rad/s), so it is a
 * corrupted value. The acc default leaves 2% over 16 g for float rounding.
 */
export const valueLimitsSchema = z.object({
  accMps2: z.number().positive().default(16 * STANDARD_GRAVITY * 1.02),
  gyroRadS: z.number().positive().default(35),
  /** Magnetometers top out near ±4900 µT (AK09916); the earth's field is 25-65 µT. */
  magUt: z.number().positive().default(5000),
});
export type ValueLimits = z.infer<typeof valueLimitsSchema>;
export const DEFAULT_VALUE_LIMITS: ValueLimits = valueLimitsSchema.parse({});

export interface SerialProtocolOptions {
  /** Board sensor id (decimal string, as JSON keys are) -> sensor name. */
  readonly sensorNames?: Readonly<Record<string, string>>;
  readonly limits?: ValueLimits;
}

export interface SerialProtocolHandlers {
  onSample(sample: ImuSample): void;
  onIssue(issue: SourceIssue): void;
}

interface SensorClock {
  lastRawUs: number;
  lastUs: number;
  lastSeq: number;
  /** Host arrival time of the last accepted frame, µs. */
  lastArrivalUs: number;
  /** Last forward step, the least a restart is spliced on at. */
  lastStepUs: number;
  /** A dropped frame whose clock disagreed; the next frame tells corrupt from restart. */
  suspect?: Suspect;
}

interface Suspect {
  readonly rawUs: number;
  readonly seq: number;
  readonly arrivalUs: number;
}

const HALF_U32 = U32_RANGE / 2;
/** Seqs missing at a confirmed restart count as lost when no more than the host's silence holds frames, plus this. */
const RESTART_SEQ_SLACK = 2;
/**
 * How far a consecutive frame's device step may exceed the host's arrival step.
 * Host stamps lag the device (buffering), which only makes the host step
 * larger, so the device step of the next sample exceeds it only by arrival
 * jitter; 1 s covers that and any board rate of 1 Hz or more.
 */
export const JUMP_SLACK_US = 1_000_000;
/**
 * The board's own clock steps by its sample period per seq: a step more than
 * one period plus this beyond `seq step x the last period`, and beyond what
 * the host saw pass, is suspect too (issue #13: a wrong clock less than
 * JUMP_SLACK_US ahead got through). A silence the host saw is no suspect.
 */
export const STEP_DRIFT_US = 50_000;

export class SerialProtocol {
  private readonly sensorNames: Readonly<Record<string, string>>;
  private readonly limits: ValueLimits;
  private readonly clocks = new Map<number, SensorClock>();

  constructor(
    options: SerialProtocolOptions,
    private readonly handlers: SerialProtocolHandlers,
  ) {
    this.sensorNames = options.sensorNames ?? {};
    this.limits = options.limits ?? DEFAULT_VALUE_LIMITS;
  }

  sensorName(boardId: number): string {
    return this.sensorNames[String(boardId)] ?? `serial:${boardId}`;
  }

  /**
   * Takes one decoded frame and its host arrival time (µs, monotonic); emits at
   * most one sample and any number of issues.
   */
  handle(frame: ImuFrame, arrivalUs: number): void {
    const sensorId = this.sensorName(frame.sensorId);
    const tUs = this.advanceClock(sensorId, frame, arrivalUs);
    if (tUs === undefined) return;

    const bad = this.checkValues(frame);
    if (bad) {
      this.handlers.onIssue({ kind: "bad_value", sensorId, message: `${sensorId} seq ${frame.seq}: ${bad}; sample dropped` });
      return;
    }
    this.handlers.onSample({
      sensorId,
      tUs,
      seq: frame.seq,
      acc: frame.acc,
      gyro: frame.gyro,
      ...(frame.mag ? { mag: frame.mag } : {}),
    });
  }

  /**
   * Sequence and clock bookkeeping (rules in the header comment). Returns the
   * unwrapped timestamp, or undefined for a frame dropped here (duplicate,
   * corrupt time). A frame with bad values still moves the clock and sequence
   * on: it was sent, so it is not a gap.
   */
  private advanceClock(sensorId: string, frame: ImuFrame, arrivalUs: number): number | undefined {
    const clock = this.clocks.get(frame.sensorId);
    if (!clock) {
      this.clocks.set(frame.sensorId, {
        lastRawUs: frame.tUs,
        lastUs: frame.tUs,
        lastSeq: frame.seq,
        lastArrivalUs: arrivalUs,
        lastStepUs: 0,
      });
      return frame.tUs;
    }

    const suspect = clock.suspect;
    clock.suspect = undefined;
    const rawStep = (frame.tUs - clock.lastRawUs + U32_RANGE) % U32_RANGE;
    const hostStep = arrivalUs - clock.lastArrivalUs;
    const back = rawStep >= HALF_U32;
    const seqStepNow = seqDelta(clock.lastSeq, frame.seq);
    // Ahead of what seq says the board's period allows, and of what the host saw pass: a wrong clock.
    const beyondPeriod = clock.lastStepUs > 0 && rawStep > (seqStepNow + 1) * clock.lastStepUs + STEP_DRIFT_US && rawStep > hostStep + STEP_DRIFT_US;
    const disagrees = back || rawStep > hostStep + JUMP_SLACK_US || beyondPeriod;
    // A restart needs both: this frame continues the suspect's clock AND does not fit the last good one.
    if (suspect && disagrees && continues(suspect, frame, arrivalUs)) return this.confirmRestart(sensorId, clock, suspect, frame, arrivalUs);
    if (suspect) this.settleOutlier(sensorId, clock, suspect, frame.seq);

    const seqStep = seqDelta(clock.lastSeq, frame.seq);
    if (disagrees) {
      const how = back
        ? `is back ${U32_RANGE - rawStep} µs from the last sample's ${clock.lastRawUs} µs`
        : `is ${rawStep} µs ahead of the last sample's ${clock.lastRawUs} µs (${seqStep} seq step(s) of ${clock.lastStepUs} µs), the host saw ${Math.round(hostStep / 1000)} ms pass`;
      const after = seqStep === 1 ? "while seq continues" : `after seq ${clock.lastSeq}`;
      this.handlers.onIssue({
        kind: "bad_value",
        sensorId,
        message: `${sensorId} seq ${frame.seq}: t_us ${frame.tUs} µs ${how}, ${after}; suspect time (a board restart only if the next frame continues from it), sample dropped`,
      });
      clock.suspect = { rawUs: frame.tUs, seq: frame.seq, arrivalUs };
      return undefined;
    }
    if (seqStep === 0) {
      this.handlers.onIssue({
        kind: "bad_frame",
        sensorId,
        message: `${sensorId}: duplicate seq ${frame.seq} (t ${frame.tUs} µs); dropped`,
      });
      return undefined;
    }
    const tUs = clock.lastUs + rawStep;
    if (rawStep > 0) clock.lastStepUs = rawStep;
    this.reportGap(sensorId, clock.lastSeq, frame.seq);
    clock.lastRawUs = frame.tUs;
    clock.lastUs = tUs;
    clock.lastSeq = frame.seq;
    clock.lastArrivalUs = arrivalUs;
    return tUs;
  }

  /**
   * The suspect was an outlier (the frame after it does not continue its
   * clock). It was received and reported as dropped, so when its seq lies
   * between the last good frame's and the next one's, the seqs up to it are
   * the gap and the next frame is judged from it; a seq outside that range
   * is as garbled as its clock (CSV), and the next frame's gap covers it.
   */
  private settleOutlier(sensorId: string, clock: SensorClock, suspect: Suspect, nextSeq: number): void {
    const toSuspect = seqDelta(clock.lastSeq, suspect.seq);
    if (toSuspect < 1 || toSuspect >= seqDelta(clock.lastSeq, nextSeq)) return;
    this.reportGap(sensorId, clock.lastSeq, suspect.seq);
    clock.lastSeq = suspect.seq;
  }

  /** The frame after a suspect continues from its clock: the board restarted. */
  private confirmRestart(sensorId: string, clock: SensorClock, suspect: Suspect, frame: ImuFrame, arrivalUs: number): number {
    const missing = seqDelta(clock.lastSeq, suspect.seq) - 1;
    // A board that kept counting seq (RAM that survives a watchdog reset) lost only what its silence holds.
    const silenceFrames = clock.lastStepUs > 0 ? (suspect.arrivalUs - clock.lastArrivalUs) / clock.lastStepUs : 0;
    const keptCounting = missing >= 0 && missing <= silenceFrames + RESTART_SEQ_SLACK;
    if (keptCounting) this.reportGap(sensorId, clock.lastSeq, suspect.seq);
    const seqs = keptCounting
      ? `seq ${clock.lastSeq} -> ${suspect.seq} -> ${frame.seq}, seq kept counting`
      : `seq ${clock.lastSeq} -> ${suspect.seq} -> ${frame.seq}, seq restarted: frames lost just before the restart cannot be counted`;
    const tUs = this.splice(sensorId, clock, frame, arrivalUs, seqs, clock.lastRawUs, suspect.rawUs);
    clock.lastRawUs = frame.tUs;
    clock.lastUs = tUs;
    clock.lastSeq = frame.seq;
    clock.lastArrivalUs = arrivalUs;
    return tUs;
  }

  private reportGap(sensorId: string, fromSeq: number, toSeq: number): void {
    const missing = seqDelta(fromSeq, toSeq) - 1;
    if (missing < 1) return;
    this.handlers.onIssue({
      kind: "bad_frame",
      sensorId,
      message: `${sensorId}: sequence gap, ${missing} frame(s) missing (seq ${fromSeq} -> ${toSeq})`,
    });
  }

  /** A restarted board clock: continue at last + the host's gap, at least one sample step. */
  private splice(sensorId: string, clock: SensorClock, frame: ImuFrame, arrivalUs: number, seqs: string, fromRawUs: number, toRawUs: number): number {
    const hostGapUs = arrivalUs - clock.lastArrivalUs;
    const gapUs = Math.max(hostGapUs, clock.lastStepUs > 0 ? clock.lastStepUs : 1);
    const tUs = clock.lastUs + gapUs;
    this.handlers.onIssue({
      kind: "clock_restart",
      sensorId,
      message:
        `${sensorId}: device clock went from ${fromRawUs} to ${toRawUs} µs (${seqs}), confirmed by the next frame at ${frame.tUs} µs: board restarted; ` +
        `${Math.round(hostGapUs / 1000)} ms without data by the host clock, timestamps continue at ${tUs} µs`,
    });
    return tUs;
  }

  /** Returns why the values are unusable, or undefined when they are fine. */
  private checkValues(frame: ImuFrame): string | undefined {
    return (
      checkVec("acc", frame.acc, this.limits.accMps2, "m/s²") ??
      checkVec("gyro", frame.gyro, this.limits.gyroRadS, "rad/s") ??
      (frame.mag ? checkVec("mag", frame.mag, this.limits.magUt, "µT") : undefined)
    );
  }
}

const AXES = ["x", "y", "z"] as const;

function checkVec(name: string, v: Vec3, limit: number, unit: string): string | undefined {
  for (let i = 0; i < 3; i++) {
    const value = v[i] as number;
    if (!Number.isFinite(value)) return `${name}.${AXES[i]} is ${value}`;
    if (Math.abs(value) > limit) return `${name}.${AXES[i]} = ${value} ${unit} beyond ±${round(limit)} ${unit}`;
  }
  return undefined;
}

/** True when `frame` is the sample after `suspect` on the suspect's clock. */
function continues(suspect: Suspect, frame: ImuFrame, arrivalUs: number): boolean {
  const seqStep = seqDelta(suspect.seq, frame.seq);
  const rawStep = (frame.tUs - suspect.rawUs + U32_RANGE) % U32_RANGE;
  return seqStep === 1 && rawStep > 0 && rawStep <= arrivalUs - suspect.arrivalUs + JUMP_SLACK_US;
}

/** Forward distance from seq `a` to seq `b` on the u16 wheel. */
function seqDelta(a: number, b: number): number {
  return (b - a + U16_RANGE) % U16_RANGE;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
