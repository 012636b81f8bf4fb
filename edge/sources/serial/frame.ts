/**
 * The compact binary frame a microcontroller IMU board sends over a serial
 * line (docs/serial-protocol.md is the byte-by-byte reference; keep the two in
 * step). Pure functions only: the encoder is what tests, the simulator and
 * firmware authors use; the parser (parser.ts) finds frames in a byte stream
 * and calls `decodeFrameBody` once the length and CRC have been checked.
 *
 * Layout (little-endian), offsets from the first sync byte:
 *
 *   0  u8   0xA5  sync 1
 *   1  u8   0x5A  sync 2
 *   2  u8   length: bytes from offset 3 up to (not including) the CRC, 32 or 44
 *   3  u8   type/flags: bits 0-3 message type (1 = IMU sample), bit 7 = mag present
 *   4  u8   sensor id
 *   5  u16  sequence number (wraps at 65536)
 *   7  u32  device timestamp, microseconds (wraps every ~71.6 min)
 *  11  f32×3 accelerometer xyz, m/s² (specific force, gravity included)
 *  23  f32×3 gyroscope xyz, rad/s
 *  35  f32×3 magnetometer xyz, µT (only when the mag flag is set)
 *  3+L u16  CRC-16/CCITT-FALSE over bytes 2 .. 3+L-1 (length byte included)
 */

import type { Vec3 } from "../types.js";

export const SYNC_1 = 0xa5;
export const SYNC_2 = 0x5a;
export const SYNC_LENGTH = 2;
/** Sync bytes + the length byte: what precedes the body. */
export const HEADER_LENGTH = 3;
export const CRC_LENGTH = 2;

/** Low nibble of the type/flags byte. */
export const MSG_TYPE_MASK = 0x0f;
export const MSG_TYPE_IMU_SAMPLE = 0x01;
/** Type/flags bit 7: the body carries a magnetometer vector after the gyro. */
export const FLAG_MAG = 0x80;
// Bits 4-6 are reserved: a sender sets them to 0, a receiver ignores them.

/** Body = type/flags(1) + sensor id(1) + seq(2) + t_us(4) + acc(12) + gyro(12). */
export const BODY_LENGTH_IMU = 32;
/** ... + mag(12). */
export const BODY_LENGTH_IMU_MAG = 44;
/**
 * Bounds the parser accepts for the length byte. Tight on purpose: a false sync
 * inside garbage usually carries an absurd length and is rejected at once,
 * instead of making the parser wait for up to 255 bytes before its CRC fails.
 */
export const MIN_BODY_LENGTH = BODY_LENGTH_IMU;
export const MAX_BODY_LENGTH = BODY_LENGTH_IMU_MAG;
export const MAX_FRAME_LENGTH = HEADER_LENGTH + MAX_BODY_LENGTH + CRC_LENGTH;

export const U16_RANGE = 0x1_0000;
export const U32_RANGE = 0x1_0000_0000;

/** One IMU reading as the board sent it: raw ids and device-clock units. */
export interface ImuFrame {
  /** Board-assigned sensor id, 0..255. */
  readonly sensorId: number;
  /** 0..65535, +1 per sample per sensor, wraps. */
  readonly seq: number;
  /** Device clock in µs, 0..2³²-1, wraps; protocol.ts unwraps it. */
  readonly tUs: number;
  readonly acc: Vec3;
  readonly gyro: Vec3;
  readonly mag?: Vec3;
}

/**
 * CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.
 * Check value: crc16CcittFalse("123456789") === 0x29B1.
 */
export function crc16CcittFalse(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= (bytes[i] as number) << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

function checkInteger(name: string, value: number, range: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= range) {
    throw new RangeError(`frame ${name} must be an integer in 0..${range - 1}, got ${value}`);
  }
}

/**
 * Encodes one IMU sample as a complete frame (sync to CRC). Throws on ids,
 * sequence numbers or timestamps that do not fit their fields, because a
 * caller passing those has a bug; float values are written as given (NaN too),
 * so tests can build frames the protocol layer must reject.
 */
export function encodeFrame(frame: ImuFrame): Buffer {
  checkInteger("sensorId", frame.sensorId, 0x100);
  checkInteger("seq", frame.seq, U16_RANGE);
  checkInteger("tUs", frame.tUs, U32_RANGE);
  const bodyLength = frame.mag ? BODY_LENGTH_IMU_MAG : BODY_LENGTH_IMU;
  const out = Buffer.alloc(HEADER_LENGTH + bodyLength + CRC_LENGTH);
  out[0] = SYNC_1;
  out[1] = SYNC_2;
  out[2] = bodyLength;
  out[3] = MSG_TYPE_IMU_SAMPLE | (frame.mag ? FLAG_MAG : 0);
  out[4] = frame.sensorId;
  out.writeUInt16LE(frame.seq, 5);
  out.writeUInt32LE(frame.tUs, 7);
  const vectors = frame.mag ? [frame.acc, frame.gyro, frame.mag] : [frame.acc, frame.gyro];
  let offset = 11;
  for (const v of vectors) {
    for (const component of v) {
      out.writeFloatLE(component, offset);
      offset += 4;
    }
  }
  out.writeUInt16LE(crc16CcittFalse(out, SYNC_LENGTH, offset), offset);
  return out;
}

export type BodyDecodeResult =
  | { readonly ok: true; readonly frame: ImuFrame }
  | { readonly ok: false; readonly reason: "unknown_type" | "length_mismatch"; readonly message: string };

function readVec3(view: DataView, offset: number): Vec3 {
  return [view.getFloat32(offset, true), view.getFloat32(offset + 4, true), view.getFloat32(offset + 8, true)];
}

/**
 * Decodes a body whose CRC already matched (`body` starts at the type/flags
 * byte and is exactly `length` bytes). A CRC-valid body can still be one this
 * receiver does not understand: a newer message type, or a length that
 * disagrees with the mag flag (firmware bug). Those are reported, not thrown.
 */
export function decodeFrameBody(body: Uint8Array): BodyDecodeResult {
  const typeFlags = body[0] ?? 0;
  const type = typeFlags & MSG_TYPE_MASK;
  if (type !== MSG_TYPE_IMU_SAMPLE) {
    return { ok: false, reason: "unknown_type", message: `unknown message type ${type} (type/flags 0x${hex2(typeFlags)})` };
  }
  const hasMag = (typeFlags & FLAG_MAG) !== 0;
  const expected = hasMag ? BODY_LENGTH_IMU_MAG : BODY_LENGTH_IMU;
  if (body.length !== expected) {
    return {
      ok: false,
      reason: "length_mismatch",
      message: `length ${body.length} does not match ${hasMag ? "IMU+mag" : "IMU"} sample (expected ${expected})`,
    };
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const frame: ImuFrame = {
    sensorId: body[1] ?? 0,
    seq: view.getUint16(2, true),
    tUs: view.getUint32(4, true),
    acc: readVec3(view, 8),
    gyro: readVec3(view, 20),
    ...(hasMag ? { mag: readVec3(view, 32) } : {}),
  };
  return { ok: true, frame };
}

export function hex2(byte: number): string {
  return byte.toString(16).toUpperCase().padStart(2, "0");
}

export function hex4(word: number): string {
  return word.toString(16).toUpperCase().padStart(4, "0");
}
