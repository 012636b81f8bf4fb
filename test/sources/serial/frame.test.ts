import { describe, expect, it } from "vitest";
import {
  BODY_LENGTH_IMU,
  BODY_LENGTH_IMU_MAG,
  FLAG_MAG,
  MSG_TYPE_IMU_SAMPLE,
  crc16CcittFalse,
  decodeFrameBody,
  encodeFrame,
} from "../../../edge/sources/serial/frame.js";
import { f32, frameAt } from "./helpers.js";

describe("crc16CcittFalse", () => {
  it("matches the catalogue check value for '123456789'", () => {
    expect(crc16CcittFalse(Buffer.from("123456789", "ascii"))).toBe(0x29b1);
  });

  it("starts from 0xFFFF (an empty input gives the init value)", () => {
    expect(crc16CcittFalse(new Uint8Array(0))).toBe(0xffff);
  });
});

describe("encodeFrame", () => {
  it("lays out the documented bytes, little-endian", () => {
    const bytes = encodeFrame({ sensorId: 7, seq: 0x1234, tUs: 0x89abcdef, acc: [1, 2, 3], gyro: [4, 5, 6] });
    expect(bytes.length).toBe(3 + BODY_LENGTH_IMU + 2);
    expect([...bytes.subarray(0, 11)]).toEqual([0xa5, 0x5a, 32, MSG_TYPE_IMU_SAMPLE, 7, 0x34, 0x12, 0xef, 0xcd, 0xab, 0x89]);
    expect(bytes.readFloatLE(11)).toBe(1);
    expect(bytes.readFloatLE(31)).toBe(6);
    expect(bytes.readUInt16LE(35)).toBe(crc16CcittFalse(bytes, 2, 35));
  });

  it("produces the golden bytes documented in docs/serial-protocol.md (and by its C encoder)", () => {
    const base = { sensorId: 7, seq: 0x1234, tUs: 0x89abcdef, acc: [1, 2, 3], gyro: [4, 5, 6] } as const;
    const hex = (b: Buffer) => b.toString("hex").toUpperCase().replace(/(..)(?!$)/g, "$1 ");
    const head = "07 34 12 EF CD AB 89 00 00 80 3F 00 00 00 40 00 00 40 40 00 00 80 40 00 00 A0 40 00 00 C0 40";
    expect(hex(encodeFrame(base))).toBe(`A5 5A 20 01 ${head} F4 02`);
    expect(hex(encodeFrame({ ...base, mag: [20, -5, 40] }))).toBe(`A5 5A 2C 81 ${head} 00 00 A0 41 00 00 A0 C0 00 00 20 42 96 F3`);
  });

  it("sets the mag flag and appends mag xyz", () => {
    const bytes = encodeFrame(frameAt(1, { mag: [20, -5, 40] }));
    expect(bytes.length).toBe(3 + BODY_LENGTH_IMU_MAG + 2);
    expect(bytes[2]).toBe(BODY_LENGTH_IMU_MAG);
    expect(bytes[3]).toBe(MSG_TYPE_IMU_SAMPLE | FLAG_MAG);
    expect(bytes.readFloatLE(43)).toBe(40);
  });

  it("round-trips through decodeFrameBody", () => {
    const frame = frameAt(5, { mag: [0.1, 0.2, 0.3] });
    const bytes = encodeFrame(frame);
    const decoded = decodeFrameBody(bytes.subarray(3, bytes.length - 2));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.frame.sensorId).toBe(frame.sensorId);
    expect(decoded.frame.seq).toBe(frame.seq);
    expect(decoded.frame.tUs).toBe(frame.tUs);
    expect(decoded.frame.acc).toEqual(f32(frame.acc));
    expect(decoded.frame.gyro).toEqual(f32(frame.gyro));
    expect(decoded.frame.mag).toEqual(f32([0.1, 0.2, 0.3]));
  });

  it("refuses ids, sequence numbers and timestamps that do not fit their fields", () => {
    expect(() => encodeFrame(frameAt(0, { sensorId: 256 }))).toThrow(/sensorId/);
    expect(() => encodeFrame(frameAt(0, { seq: 65536 }))).toThrow(/seq/);
    expect(() => encodeFrame(frameAt(0, { tUs: 2 ** 32 }))).toThrow(/tUs/);
    expect(() => encodeFrame(frameAt(0, { tUs: -1 }))).toThrow(/tUs/);
  });
});

describe("decodeFrameBody", () => {
  it("reports a length that disagrees with the mag flag", () => {
    const body = encodeFrame(frameAt(0)).subarray(3, 35);
    body[0] = MSG_TYPE_IMU_SAMPLE | FLAG_MAG;
    const decoded = decodeFrameBody(body);
    expect(decoded).toMatchObject({ ok: false, reason: "length_mismatch" });
  });

  it("reports an unknown message type", () => {
    const body = encodeFrame(frameAt(0)).subarray(3, 35);
    body[0] = 0x02;
    expect(decodeFrameBody(body)).toMatchObject({ ok: false, reason: "unknown_type" });
  });
});
