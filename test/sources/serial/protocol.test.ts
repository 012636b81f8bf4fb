import { describe, expect, it } from "vitest";
import type { ImuSample, SourceIssue } from "../../../edge/sources/types.js";
import { DEFAULT_VALUE_LIMITS, SerialProtocol, type SerialProtocolOptions } from "../../../edge/sources/serial/protocol.js";
import type { ImuFrame } from "../../../edge/sources/serial/frame.js";
import { frameAt } from "./helpers.js";

function run(frames: readonly ImuFrame[], options: SerialProtocolOptions = {}) {
  const samples: ImuSample[] = [];
  const issues: SourceIssue[] = [];
  const protocol = new SerialProtocol(options, { onSample: (s) => samples.push(s), onIssue: (i) => issues.push(i) });
  for (const f of frames) protocol.handle(f);
  return { samples, issues };
}

const U32 = 2 ** 32;

describe("SerialProtocol", () => {
  it("turns a frame into a sample with a serial:<id> sensor id and contract fields", () => {
    const { samples, issues } = run([frameAt(0, { mag: [1, 2, 3] })]);
    expect(issues).toEqual([]);
    expect(samples).toEqual([{ sensorId: "serial:3", tUs: 1_000_000, seq: 0, acc: [0, -0.5, 9.80665], gyro: [0.125, -0, 1.5], mag: [1, 2, 3] }]);
  });

  it("names sensors from the configured map", () => {
    const { samples } = run([frameAt(0, { sensorId: 1 }), frameAt(0, { sensorId: 2 })], { sensorNames: { "1": "femur_r" } });
    expect(samples.map((s) => s.sensorId)).toEqual(["femur_r", "serial:2"]);
  });

  it("unwraps the 32-bit µs clock into a monotonic count across wraps", () => {
    const step = 10_000;
    const start = U32 - 2.5 * step;
    const frames = Array.from({ length: 6 }, (_, n) => frameAt(n, { tUs: (start + n * step) % U32 }));
    // A second wrap, ~71.6 min later in device time, in steps below half the clock range.
    const later = [1, 2, 3].map((k, i) => frameAt(6 + i, { tUs: (start + 5 * step + k * (U32 / 3)) % U32 }));
    const { samples, issues } = run([...frames, ...later]);
    expect(issues).toEqual([]);
    expect(samples.map((s) => s.tUs)).toEqual([
      ...Array.from({ length: 6 }, (_, n) => start + n * step),
      ...[1, 2, 3].map((k) => start + 5 * step + k * (U32 / 3)),
    ]);
    expect(samples[8]!.tUs).toBeGreaterThan(2 * U32);
  });

  it("keeps one clock per sensor", () => {
    const { samples } = run([
      frameAt(0, { sensorId: 1, tUs: U32 - 5 }),
      frameAt(0, { sensorId: 2, tUs: 100 }),
      frameAt(1, { sensorId: 1, tUs: 5 }),
      frameAt(1, { sensorId: 2, tUs: 110 }),
    ]);
    expect(samples.map((s) => [s.sensorId, s.tUs])).toEqual([
      ["serial:1", U32 - 5],
      ["serial:2", 100],
      ["serial:1", U32 + 5],
      ["serial:2", 110],
    ]);
  });

  it("drops a duplicate sequence number and reports it", () => {
    const { samples, issues } = run([frameAt(0), frameAt(1), frameAt(1), frameAt(2)]);
    expect(samples.map((s) => s.seq)).toEqual([0, 1, 2]);
    expect(issues).toEqual([{ kind: "bad_frame", sensorId: "serial:3", message: expect.stringMatching(/duplicate seq 1/) }]);
  });

  it("reports a sequence gap with the number of lost frames, and not the u16 wrap", () => {
    const { samples, issues } = run([frameAt(65534), frameAt(65535), frameAt(65536), frameAt(65540)]);
    expect(samples.map((s) => s.seq)).toEqual([65534, 65535, 0, 4]);
    expect(issues).toEqual([
      { kind: "bad_frame", sensorId: "serial:3", message: expect.stringMatching(/sequence gap, 3 frame\(s\) missing \(seq 0 -> 4\)/) },
    ]);
  });

  it("splices a restarted board clock on so time stays monotonic", () => {
    const { samples, issues } = run([frameAt(500, { tUs: 9_000_000 }), frameAt(501, { tUs: 9_010_000 }), frameAt(0, { tUs: 1_000 }), frameAt(1, { tUs: 11_000 })]);
    expect(samples.map((s) => s.tUs)).toEqual([9_000_000, 9_010_000, 9_020_000, 9_030_000]);
    expect(issues.map((i) => i.kind)).toEqual(["resync"]);
    expect(issues[0]?.message).toMatch(/clock went back from 9010000 to 1000/);
  });

  it("drops and reports NaN and infinite values", () => {
    const { samples, issues } = run([
      frameAt(0, { acc: [Number.NaN, 0, 9.8] }),
      frameAt(1, { gyro: [0, Number.POSITIVE_INFINITY, 0] }),
      frameAt(2, { mag: [0, 0, Number.NEGATIVE_INFINITY] }),
      frameAt(3),
    ]);
    expect(samples.map((s) => s.seq)).toEqual([3]);
    expect(issues.map((i) => [i.kind, i.message])).toEqual([
      ["bad_value", expect.stringMatching(/seq 0: acc\.x is NaN; sample dropped/)],
      ["bad_value", expect.stringMatching(/seq 1: gyro\.y is Infinity/)],
      ["bad_value", expect.stringMatching(/seq 2: mag\.z is -Infinity/)],
    ]);
  });

  it("drops and reports values beyond full scale, accepting the full scale itself", () => {
    const g16 = 16 * 9.80665;
    const { samples, issues } = run([
      frameAt(0, { acc: [g16, -g16, 0] }),
      frameAt(1, { acc: [0, 0, -200] }),
      frameAt(2, { gyro: [35, -35, 0] }),
      frameAt(3, { gyro: [0, 0, 36] }),
    ]);
    expect(samples.map((s) => s.seq)).toEqual([0, 2]);
    expect(issues.map((i) => i.message)).toEqual([
      expect.stringMatching(/acc\.z = -200 m\/s² beyond ±160\.04/),
      expect.stringMatching(/gyro\.z = 36 rad\/s beyond ±35/),
    ]);
  });

  it("uses configured limits", () => {
    const { samples, issues } = run([frameAt(0, { acc: [0, 0, 30] })], { limits: { ...DEFAULT_VALUE_LIMITS, accMps2: 2 * 9.80665 } });
    expect(samples).toEqual([]);
    expect(issues[0]?.kind).toBe("bad_value");
  });

  it("counts a dropped bad-value frame as received, so the next one is not a gap", () => {
    const { issues } = run([frameAt(0), frameAt(1, { acc: [Number.NaN, 0, 0] }), frameAt(2)]);
    expect(issues.map((i) => i.kind)).toEqual(["bad_value"]);
  });
});
