import { describe, expect, it } from "vitest";
import {
  CUSTOM_MODE_5_BYTES,
  DOT_UUID,
  TimestampUnwrapper,
  decodeCustomMode5,
  dotUuid,
  normalizeUuid,
  outputRateMessage,
  startStreamingMessage,
  stopStreamingMessage,
} from "../../../edge/sources/ble/dotProtocol.js";
import { customMode5Frame } from "./fakeNoble.js";

/**
 * Custom mode 5 notification written out by hand (little-endian):
 * 80969800 = 10 000 000 µs | 0000803f 00000000 ×3 = quaternion (1, 0, 0, 0) |
 * 00000000 00000000 c3f51c41 = acceleration (0, 0, 9.81) m/s² |
 * 0000b442 00000000 0000b4c2 = angular velocity (90, 0, -90) deg/s.
 */
const HAND_BUILT =
  "80969800" +
  "0000803f" + "00000000" + "00000000" + "00000000" +
  "00000000" + "00000000" + "c3f51c41" +
  "0000b442" + "00000000" + "0000b4c2";

describe("DOT UUIDs and control messages", () => {
  it("builds noble-style UUIDs from the spec's short ids", () => {
    expect(dotUuid(0x2001)).toBe("15172001494711e98646d663bd873d93");
    expect(DOT_UUID.longPayload).toBe(normalizeUuid("15172002-4947-11E9-8646-D663BD873D93"));
    expect(DOT_UUID.configurationService).toBe("15171000494711e98646d663bd873d93");
  });

  it("writes [measurement, start/stop, Custom mode 5]", () => {
    expect([...startStreamingMessage()]).toEqual([1, 1, 26]);
    expect([...stopStreamingMessage()]).toEqual([1, 0, 26]);
  });

  it("sets only the output rate in the 32-byte device control message", () => {
    const msg = outputRateMessage(60);
    expect(msg.length).toBe(32);
    expect(msg[0]).toBe(0x10); // visit index bit 4: output rate
    expect(msg.readUInt16LE(24)).toBe(60);
    expect([...msg].filter((b, i) => b !== 0 && i !== 0 && i !== 24)).toEqual([]);
  });
});

describe("decodeCustomMode5", () => {
  it("decodes a hand-built notification and converts deg/s to rad/s", () => {
    const buf = Buffer.from(HAND_BUILT, "hex");
    expect(buf.length).toBe(CUSTOM_MODE_5_BYTES);
    const r = decodeCustomMode5(buf);
    if (!r.ok) throw new Error(r.reason);
    expect(r.measurement.timestampUs).toBe(10_000_000);
    expect(r.measurement.quat).toEqual([1, 0, 0, 0]);
    expect(r.measurement.acc[0]).toBe(0);
    expect(r.measurement.acc[2]).toBeCloseTo(9.81, 5);
    expect(r.measurement.gyro[0]).toBeCloseTo(Math.PI / 2, 6);
    expect(r.measurement.gyro[1]).toBe(0);
    expect(r.measurement.gyro[2]).toBeCloseTo(-Math.PI / 2, 6);
  });

  it("agrees with the test frame builder", () => {
    expect(customMode5Frame({ timestampUs: 10_000_000, acc: [0, 0, 9.81], gyroDeg: [90, 0, -90] }).toString("hex")).toBe(
      HAND_BUILT,
    );
  });

  it("accepts the 63-byte long payload with zero padding", () => {
    const padded = Buffer.concat([Buffer.from(HAND_BUILT, "hex"), Buffer.alloc(19)]);
    expect(decodeCustomMode5(padded).ok).toBe(true);
  });

  it("rejects wrong lengths, non-finite values and a non-unit quaternion", () => {
    const good = Buffer.from(HAND_BUILT, "hex");
    const short = decodeCustomMode5(good.subarray(0, 43));
    expect(short).toEqual({ ok: false, reason: expect.stringContaining("length 43") });
    expect(decodeCustomMode5(Buffer.alloc(64)).ok).toBe(false);

    const nan = Buffer.from(good);
    nan.writeFloatLE(Number.NaN, 24);
    expect(decodeCustomMode5(nan)).toEqual({ ok: false, reason: "non-finite acc_y" });

    expect(decodeCustomMode5(Buffer.alloc(44))).toEqual({
      ok: false,
      reason: expect.stringContaining("quaternion norm 0.0000"),
    });
  });
});

describe("TimestampUnwrapper", () => {
  it("continues monotonically across the u32 wrap", () => {
    const u = new TimestampUnwrapper();
    expect(u.unwrap(4_294_967_000)).toBe(4_294_967_000);
    expect(u.unwrap(4_294_967_290)).toBe(4_294_967_290);
    expect(u.unwrap(100)).toBe(2 ** 32 + 100);
    expect(u.unwrap(16_766)).toBe(2 ** 32 + 16_766);
  });

  it("steps back a little on an out-of-order packet instead of jumping a wrap", () => {
    const u = new TimestampUnwrapper();
    u.unwrap(1_000_000);
    expect(u.unwrap(983_334)).toBe(983_334);
  });
});
