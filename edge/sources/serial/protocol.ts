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
 * - Restart: the clock steps back while `seq` does NOT continue (firmware
 *   restarts counting at boot). The new clock is spliced on at
 *   `last + host arrival gap` (at least one sample step), so a 0.3 s reboot
 *   leaves a 0.3 s hole in `tUs`: the resampler sees a gap (> 0.1 s restarts
 *   the windows, docs/contract.md "Gaps") instead of this board running 0.3 s
 *   behind the others for the rest of the session. Reported as
 *   `clock_restart`. Why the host gap: the device clock of the silence is
 *   gone, and the host clock is the one all boards share.
 * - Corrupt value: `seq` continues by exactly one (the frame WAS the next
 *   sample) but the clock steps back, or ahead by more than the host saw pass
 *   plus `JUMP_SLACK_US`. One sample period cannot do that, so `t_us` is
 *   wrong (a CSV line garbled in transit has no CRC): `bad_value`, dropped,
 *   and the clock keeps its last good reading.
 * - Unless the next frame continues from the suspect clock (seq + 1, a small
 *   forward step): then the board restarted and kept its seq (seq kept in
 *   RAM that survives a watchdog reset), and the restart is spliced as above.
 *   The suspect frame stays dropped: when it came it could not be told apart.
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
  suspect?: { readonly rawUs: number; readonly seq: number; readonly arrivalUs: number };
}

const HALF_U32 = U32_RANGE / 2;
/**
 * How far a consecutive frame's device step may exceed the host's arrival step.
 * Host stamps lag the device (buffering), which only makes the host step
 * larger, so the device step of the next sample exceeds it only by arrival
 * jitter; 1 s covers that and any board rate of 1 Hz or more.
 */
export const JUMP_SLACK_US = 1_000_000;

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
    const seqStep = (frame.seq - clock.lastSeq + U16_RANGE) % U16_RANGE;
    const rawStep = (frame.tUs - clock.lastRawUs + U32_RANGE) % U32_RANGE;
    const hostStep = arrivalUs - clock.lastArrivalUs;
    const back = rawStep >= HALF_U32;
    let tUs: number;

    if (suspect && seqStep === 1 && continues(suspect, frame, arrivalUs) && (back || rawStep > hostStep + JUMP_SLACK_US)) {
      tUs = this.splice(sensorId, clock, frame, arrivalUs, `seq ${suspect.seq} -> ${frame.seq}, seq kept counting`, suspect.rawUs);
    } else if (seqStep === 1 && (back || rawStep > hostStep + JUMP_SLACK_US)) {
      const how = back
        ? `is back ${U32_RANGE - rawStep} µs from the last sample's ${clock.lastRawUs} µs`
        : `is ${rawStep} µs ahead of the last sample's ${clock.lastRawUs} µs, the host saw ${Math.round(hostStep / 1000)} ms pass`;
      this.handlers.onIssue({
        kind: "bad_value",
        sensorId,
        message: `${sensorId} seq ${frame.seq}: t_us ${frame.tUs} µs ${how}, while seq continues; corrupt time, sample dropped`,
      });
      clock.suspect = { rawUs: frame.tUs, seq: frame.seq, arrivalUs };
      clock.lastSeq = frame.seq; // it was the next frame: the one after it is no gap
      return undefined;
    } else if (back) {
      tUs = this.splice(sensorId, clock, frame, arrivalUs, `seq ${clock.lastSeq} -> ${frame.seq}`, clock.lastRawUs);
    } else if (seqStep === 0) {
      this.handlers.onIssue({
        kind: "bad_frame",
        sensorId,
        message: `${sensorId}: duplicate seq ${frame.seq} (t ${frame.tUs} µs); dropped`,
      });
      return undefined;
    } else {
      tUs = clock.lastUs + rawStep;
      if (rawStep > 0) clock.lastStepUs = rawStep;
      if (seqStep !== 1) {
        this.handlers.onIssue({
          kind: "bad_frame",
          sensorId,
          message: `${sensorId}: sequence gap, ${seqStep - 1} frame(s) missing (seq ${clock.lastSeq} -> ${frame.seq})`,
        });
      }
    }
    clock.lastRawUs = frame.tUs;
    clock.lastUs = tUs;
    clock.lastSeq = frame.seq;
    clock.lastArrivalUs = arrivalUs;
    return tUs;
  }

  /** A restarted board clock: continue at last + the host's gap, at least one sample step. */
  private splice(sensorId: string, clock: SensorClock, frame: ImuFrame, arrivalUs: number, seqs: string, fromRawUs: number): number {
    const hostGapUs = arrivalUs - clock.lastArrivalUs;
    const gapUs = Math.max(hostGapUs, clock.lastStepUs > 0 ? clock.lastStepUs : 1);
    const tUs = clock.lastUs + gapUs;
    this.handlers.onIssue({
      kind: "clock_restart",
      sensorId,
      message:
        `${sensorId}: device clock went back from ${fromRawUs} to ${frame.tUs} µs (${seqs}): board restarted; ` +
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
function continues(suspect: NonNullable<SensorClock["suspect"]>, frame: ImuFrame, arrivalUs: number): boolean {
  const seqStep = (frame.seq - suspect.seq + U16_RANGE) % U16_RANGE;
  const rawStep = (frame.tUs - suspect.rawUs + U32_RANGE) % U32_RANGE;
  return seqStep === 1 && rawStep > 0 && rawStep <= arrivalUs - suspect.arrivalUs + JUMP_SLACK_US;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
