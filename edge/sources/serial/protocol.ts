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
 * A serial line is FIFO, so frames never arrive out of order: a timestamp that
 * steps backwards (by more than nothing, less than half the clock range) means
 * the board restarted. The new clock is spliced on one typical sample interval
 * after the last sample, so `tUs` stays monotonic for everything downstream.
 * Limitation: a silence longer than half the clock range (~35.8 min) is
 * indistinguishable from a restart and is spliced the same way.
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
  /** Last forward step, used to splice a restarted clock on. */
  lastStepUs: number;
}

const HALF_U32 = U32_RANGE / 2;

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

  /** Takes one decoded frame; emits at most one sample and any number of issues. */
  handle(frame: ImuFrame): void {
    const sensorId = this.sensorName(frame.sensorId);
    const tUs = this.advanceClock(sensorId, frame);
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
   * Sequence and clock bookkeeping. Returns the unwrapped timestamp, or
   * undefined for a duplicate (dropped). A frame with bad values still moves
   * the clock and sequence on: it was sent, so it is not a gap.
   */
  private advanceClock(sensorId: string, frame: ImuFrame): number | undefined {
    const clock = this.clocks.get(frame.sensorId);
    if (!clock) {
      this.clocks.set(frame.sensorId, { lastRawUs: frame.tUs, lastUs: frame.tUs, lastSeq: frame.seq, lastStepUs: 0 });
      return frame.tUs;
    }

    const seqStep = (frame.seq - clock.lastSeq + U16_RANGE) % U16_RANGE;
    const rawStep = (frame.tUs - clock.lastRawUs + U32_RANGE) % U32_RANGE;
    let tUs: number;
    if (rawStep >= HALF_U32) {
      const splice = clock.lastStepUs > 0 ? clock.lastStepUs : 1;
      tUs = clock.lastUs + splice;
      this.handlers.onIssue({
        kind: "resync",
        sensorId,
        message:
          `${sensorId}: device clock went back from ${clock.lastRawUs} to ${frame.tUs} µs ` +
          `(seq ${clock.lastSeq} -> ${frame.seq}); board restarted? timestamps continue at ${tUs} µs`,
      });
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

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
