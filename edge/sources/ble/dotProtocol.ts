/**
 * Movella (Xsens) DOT Bluetooth LE protocol, pure functions only: UUIDs, the
 * control messages we write and the decoder for the notifications we read.
 * No I/O here, so every byte layout is tested against hand-built fixtures.
 *
 * Source: "Movella DOT BLE Service Specification", document XD0506P,
 * revision C (July 2023). Section and table numbers below refer to it; see
 * docs/ble-dot.md for what was verified and what is assumed.
 */

import type { Quat, Vec3 } from "../types.js";

/**
 * Every DOT attribute UUID is 1517xxxx-4947-11e9-8646-d663bd873d93 (spec 1.1).
 * noble names services and characteristics in lower case without dashes, so
 * that is the form we keep; `dotUuid(0x2001)` gives the control characteristic.
 */
export function dotUuid(shortId: number): string {
  return `1517${shortId.toString(16).padStart(4, "0")}494711e98646d663bd873d93`;
}

export const DOT_UUID = {
  configurationService: dotUuid(0x1000),
  /** Device control (spec 2.2, table 7): output rate, filter profile, tag. */
  deviceControl: dotUuid(0x1002),
  measurementService: dotUuid(0x2000),
  /** Measurement control (spec 3.1, table 13): start/stop + payload mode. */
  measurementControl: dotUuid(0x2001),
  /** Notifications of payload modes longer than 40 bytes (spec 3.2). */
  longPayload: dotUuid(0x2002),
  mediumPayload: dotUuid(0x2003),
  shortPayload: dotUuid(0x2004),
} as const;

/** Normalises a UUID as noble, bleak or a spec table would write it. */
export function normalizeUuid(uuid: string): string {
  return uuid.replace(/-/g, "").toLowerCase();
}

/**
 * Payload mode 26, "Custom mode 5" (spec table 13 and table 14): timestamp,
 * quaternion, acceleration, angular velocity: 44 bytes on the long payload
 * characteristic. It is the only streaming mode with orientation AND
 * acceleration including gravity AND angular rate; every other orientation mode
 * sends free acceleration (gravity removed), which the contract cannot use.
 */
export const PAYLOAD_MODE_CUSTOM_5 = 26;
export const CUSTOM_MODE_5_BYTES = 44;
/** The long payload characteristic is 63 bytes; unused trailing bytes are 0x00 (spec 3.2). */
export const LONG_PAYLOAD_MAX_BYTES = 63;

/** Streaming output rates the device accepts over BLE (spec table 7; 120 Hz is recording only). */
export const DOT_STREAMING_RATES_HZ = [1, 4, 10, 12, 15, 20, 30, 60] as const;
export type DotStreamingRateHz = (typeof DOT_STREAMING_RATES_HZ)[number];

const MEASUREMENT_TYPE = 1;
const ACTION_STOP = 0;
const ACTION_START = 1;

/** Control message (spec table 13): [type = 1 measurement, action = 1 start, payload mode]. */
export function startStreamingMessage(payloadMode: number = PAYLOAD_MODE_CUSTOM_5): Buffer {
  return Buffer.from([MEASUREMENT_TYPE, ACTION_START, payloadMode]);
}

/** Control message (spec table 13): [type = 1 measurement, action = 0 stop, payload mode]. */
export function stopStreamingMessage(payloadMode: number = PAYLOAD_MODE_CUSTOM_5): Buffer {
  return Buffer.from([MEASUREMENT_TYPE, ACTION_STOP, payloadMode]);
}

const DEVICE_CONTROL_BYTES = 32;
const VISIT_OUTPUT_RATE = 1 << 4;
/** Offset of the u16 output rate: visit index, identify, power, 4 timeouts, tag length, 16-byte tag. */
const OUTPUT_RATE_OFFSET = 24;

/**
 * Device control message (spec table 7) that changes only the output rate: the
 * visit-index bitmask selects bit 4, so every other field is ignored by the
 * device. The rate is non-volatile and cannot change while measuring, so it is
 * written before streaming starts.
 */
export function outputRateMessage(rateHz: DotStreamingRateHz): Buffer {
  const message = Buffer.alloc(DEVICE_CONTROL_BYTES);
  message.writeUInt8(VISIT_OUTPUT_RATE, 0);
  message.writeUInt16LE(rateHz, OUTPUT_RATE_OFFSET);
  return message;
}

/** One decoded Custom mode 5 notification, converted to contract units. */
export interface DotMeasurement {
  /** Raw device timestamp, µs, u32 (wraps after about 71.6 minutes). */
  readonly timestampUs: number;
  /** Orientation w, x, y, z (sensor to local earth frame). */
  readonly quat: Quat;
  /** Calibrated acceleration in the sensor frame including gravity, m/s². */
  readonly acc: Vec3;
  /** Angular velocity in the sensor frame, rad/s (the device sends deg/s). */
  readonly gyro: Vec3;
}

export type DecodeResult =
  | { readonly ok: true; readonly measurement: DotMeasurement }
  | { readonly ok: false; readonly reason: string };

const DEG_TO_RAD = Math.PI / 180;
/** A unit quaternion sent as float32 is within 1e-6 of norm 1; anything far off is garbage. */
const QUAT_NORM_TOLERANCE = 0.05;

/**
 * Decodes one Custom mode 5 notification. Layout (little-endian, spec 1.3,
 * table 14 and table 17): u32 timestamp µs | 4 × f32 quaternion w,x,y,z |
 * 3 × f32 acceleration m/s² | 3 × f32 angular velocity deg/s | zero padding.
 * Never throws: a bad notification comes back as `{ ok: false, reason }`.
 */
export function decodeCustomMode5(data: Buffer): DecodeResult {
  if (data.length < CUSTOM_MODE_5_BYTES || data.length > LONG_PAYLOAD_MAX_BYTES) {
    return {
      ok: false,
      reason: `length ${data.length} bytes, expected ${CUSTOM_MODE_5_BYTES}..${LONG_PAYLOAD_MAX_BYTES} for payload mode ${PAYLOAD_MODE_CUSTOM_5}`,
    };
  }
  const timestampUs = data.readUInt32LE(0);
  const qw = data.readFloatLE(4);
  const qx = data.readFloatLE(8);
  const qy = data.readFloatLE(12);
  const qz = data.readFloatLE(16);
  const ax = data.readFloatLE(20);
  const ay = data.readFloatLE(24);
  const az = data.readFloatLE(28);
  const gx = data.readFloatLE(32);
  const gy = data.readFloatLE(36);
  const gz = data.readFloatLE(40);

  const values = [qw, qx, qy, qz, ax, ay, az, gx, gy, gz];
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    const field = ["qw", "qx", "qy", "qz", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"][bad];
    return { ok: false, reason: `non-finite ${field}` };
  }
  const norm = Math.hypot(qw, qx, qy, qz);
  if (Math.abs(norm - 1) > QUAT_NORM_TOLERANCE) {
    return { ok: false, reason: `quaternion norm ${norm.toFixed(4)} is not 1` };
  }
  return {
    ok: true,
    measurement: {
      timestampUs,
      quat: [qw, qx, qy, qz],
      acc: [ax, ay, az],
      gyro: [gx * DEG_TO_RAD, gy * DEG_TO_RAD, gz * DEG_TO_RAD],
    },
  };
}

const U32_RANGE = 2 ** 32;
const U32_HALF = 2 ** 31;

/**
 * Turns the device's wrapping u32 µs clock into a monotonic µs count. The step
 * between consecutive timestamps is taken modulo 2^32 and read as a signed
 * value, so a wrap moves forward and a slightly out-of-order packet moves back
 * a little instead of jumping 71 minutes. The first timestamp is kept as is.
 */
export class TimestampUnwrapper {
  private last: number | undefined;
  private unwrapped = 0;

  unwrap(rawUs: number): number {
    if (this.last === undefined) {
      this.last = rawUs;
      this.unwrapped = rawUs;
      return rawUs;
    }
    let step = (rawUs - this.last + U32_RANGE) % U32_RANGE;
    if (step >= U32_HALF) step -= U32_RANGE;
    this.last = rawUs;
    this.unwrapped += step;
    return this.unwrapped;
  }
}
