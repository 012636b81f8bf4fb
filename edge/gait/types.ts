/**
 * Gait payloads a publisher sends on MQTT (the topic wiring comes later):
 *
 *   <prefix>/<deviceId>/gait/event    GaitEventMessage   one per heel strike, toe off, mid-swing
 *   <prefix>/<deviceId>/gait/stride   StrideMessage      one per completed stride
 *
 * Times are the sensor clock in µs (`tUs`), like the runtime's sample times,
 * so a controller can line events up with the angle stream.
 */
import type { Placement } from "../contract/manifest.js";

export const GAIT_EVENT_TYPES = ["heel_strike", "toe_off", "mid_swing"] as const;
export type GaitEventType = (typeof GAIT_EVENT_TYPES)[number];

/** What the detector returns (seconds; the same fields as Python's GaitEvent). */
export interface GaitEvent {
  readonly type: GaitEventType;
  /** Estimated time of the event, s. */
  readonly t: number;
  /** Time of the sample at which the detector confirmed it, s; `tDetected - t` is the latency. */
  readonly tDetected: number;
}

export interface GaitEventMessage {
  type: GaitEventType;
  /** Which wearer, when one runtime serves several. */
  wearer: string;
  /** The IMU the event was detected on (the foot: `calcn_r` or `calcn_l`). */
  placement: Placement;
  /** Estimated event time, sensor clock, µs. */
  tUs: number;
  /** When the detector knew (the sample that confirmed it), µs; minus `tUs` = detection latency. */
  detectedUs: number;
  /** Gait phase (%) at `detectedUs`, when known. */
  phasePct?: number;
}

/** Per-stride metrics (heel strike to the next heel strike of the same foot). */
export interface Stride {
  readonly tStart: number;
  readonly tEnd: number;
  readonly tToeOff: number | null;
  readonly strideTimeS: number;
  /** Steps per minute: a stride is two steps, 120 / stride time. */
  readonly cadenceSpm: number;
  /** Toe off minus heel strike over the stride time, %; null without a toe off. */
  readonly stancePct: number | null;
  /** Joint -> max - min over the stride, degrees; null without angles. */
  readonly romDeg: Readonly<Record<string, number>> | null;
}

export interface StrideMessage {
  wearer: string;
  placement: Placement;
  /** Heel strike that opened the stride, µs. */
  startUs: number;
  /** Heel strike that closed it, µs. */
  endUs: number;
  toeOffUs?: number;
  strideTimeS: number;
  cadenceSpm: number;
  stancePct?: number;
  /** Range of motion per joint (model joint names), degrees. */
  romDeg?: Record<string, number>;
}

const toUs = (s: number): number => Math.round(s * 1e6);

export function gaitEventMessage(e: GaitEvent, wearer: string, placement: Placement, phasePct: number | null): GaitEventMessage {
  const m: GaitEventMessage = { type: e.type, wearer, placement, tUs: toUs(e.t), detectedUs: toUs(e.tDetected) };
  if (phasePct !== null) m.phasePct = phasePct;
  return m;
}

export function strideMessage(s: Stride, wearer: string, placement: Placement): StrideMessage {
  const m: StrideMessage = {
    wearer,
    placement,
    startUs: toUs(s.tStart),
    endUs: toUs(s.tEnd),
    strideTimeS: s.strideTimeS,
    cadenceSpm: s.cadenceSpm,
  };
  if (s.tToeOff !== null) m.toeOffUs = toUs(s.tToeOff);
  if (s.stancePct !== null) m.stancePct = s.stancePct;
  if (s.romDeg !== null) m.romDeg = { ...s.romDeg };
  return m;
}
