import { describe, expect, it } from "vitest";
import type { ImuSample, SourceIssue } from "../../../edge/sources/types.js";
import { DEFAULT_VALUE_LIMITS, SerialProtocol, type SerialProtocolOptions } from "../../../edge/sources/serial/protocol.js";
import type { ImuFrame } from "../../../edge/sources/serial/frame.js";
import { parseCsvLine } from "../../../edge/sources/serial/csvLine.js";
import { frameAt } from "./helpers.js";

/**
 * Feeds frames with their host arrival times (µs). By default the host sees
 * time pass as the device clock says (forward steps taken modulo 2³²; a step
 * back, a restart, as one 10 ms period), so only tests about the two clocks
 * disagreeing pass arrivals.
 */
function run(frames: readonly ImuFrame[], options: SerialProtocolOptions = {}, arrivals?: readonly number[]) {
  const samples: ImuSample[] = [];
  const issues: SourceIssue[] = [];
  const protocol = new SerialProtocol(options, { onSample: (s) => samples.push(s), onIssue: (i) => issues.push(i) });
  let host = 50_000_000;
  frames.forEach((f, i) => {
    const prev = frames[i - 1];
    if (prev) {
      const step = (f.tUs - prev.tUs + U32) % U32;
      host += step < U32 / 2 ? step : 10_000;
    }
    protocol.handle(f, arrivals?.[i] ?? host);
  });
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

  it("splices a restarted board clock on the host clock, with the real gap, and reports it", () => {
    // Issue #10: a 0.3 s reboot used to be spliced at last + one step (10 ms), leaving
    // this board 0.3 s behind the others for the rest of the session, with no gap downstream.
    const { samples, issues } = run(
      [frameAt(500, { tUs: 9_000_000 }), frameAt(501, { tUs: 9_010_000 }), frameAt(0, { tUs: 1_000 }), frameAt(1, { tUs: 11_000 })],
      {},
      [100_000_000, 100_010_000, 100_310_000, 100_320_000],
    );
    // The first frame of the restart comes as a suspect (dropped); the next one confirms the new clock.
    expect(samples.map((s) => s.tUs)).toEqual([9_000_000, 9_010_000, 9_320_000]);
    expect(issues.map((i) => i.kind)).toEqual(["bad_value", "clock_restart"]);
    expect(issues[1]?.message).toMatch(/clock went from 9010000 to 1000 µs \(seq 501 -> 0 -> 1, seq restarted: frames lost just before the restart cannot be counted\).*310 ms without data/);
  });

  it("never splices a restart closer than one sample step, even if the host saw the frames together", () => {
    const { samples } = run(
      [frameAt(500, { tUs: 9_000_000 }), frameAt(501, { tUs: 9_010_000 }), frameAt(0, { tUs: 1_000 }), frameAt(1, { tUs: 11_000 })],
      {},
      [100_000_000, 100_000_000, 100_000_000, 100_000_000],
    );
    expect(samples.map((s) => s.tUs)).toEqual([9_000_000, 9_010_000, 9_020_000]);
  });

  it("drops a corrupted t_us that jumps back while the sequence continues, as a bad value, not a restart", () => {
    const frames = [frameAt(0), frameAt(1), frameAt(2, { tUs: 5 }), frameAt(3), frameAt(4)];
    const { samples, issues } = run(frames, {}, [0, 10_000, 20_000, 30_000, 40_000].map((t) => t + 7_000_000));
    expect(samples.map((s) => [s.seq, s.tUs])).toEqual([
      [0, 1_000_000],
      [1, 1_010_000],
      [3, 1_030_000],
      [4, 1_040_000],
    ]);
    expect(issues).toEqual([
      { kind: "bad_value", sensorId: "serial:3", message: expect.stringMatching(/seq 2: t_us 5 µs is back 1009995 µs from the last sample's 1010000 µs.*sample dropped/) },
    ]);
  });

  it("drops a corrupted t_us that jumps far ahead while the sequence continues", () => {
    const frames = [frameAt(0), frameAt(1), frameAt(2, { tUs: 901_020_000 }), frameAt(3)];
    const { samples, issues } = run(frames, {}, [0, 10_000, 20_000, 30_000]);
    expect(samples.map((s) => s.tUs)).toEqual([1_000_000, 1_010_000, 1_030_000]);
    expect(issues.map((i) => [i.kind, i.message])).toEqual([["bad_value", expect.stringMatching(/t_us 901020000 µs is 900010000 µs ahead .*host saw 10 ms pass/)]]);
  });

  it("drops a CSV line whose t_us lost a digit in transit (no CRC in CSV mode), instead of splicing a restart", () => {
    const lines = ["3,0,1000000,0,0,9.8,0,0,0", "3,1,1010000,0,0,9.8,0,0,0", "3,2,102000,0,0,9.8,0,0,0", "3,3,1030000,0,0,9.8,0,0,0"];
    const frames = lines.map((l) => {
      const r = parseCsvLine(l);
      if (r.kind !== "sample") throw new Error(`fixture line does not parse: ${l}`);
      return r.frame;
    });
    const { samples, issues } = run(frames, {}, [0, 10_000, 20_000, 30_000]);
    expect(samples.map((s) => s.tUs)).toEqual([1_000_000, 1_010_000, 1_030_000]);
    expect(issues.map((i) => i.kind)).toEqual(["bad_value"]);
  });

  it("takes a restart that kept counting seq as a restart once the next frame confirms the new clock", () => {
    const frames = [frameAt(0), frameAt(1), frameAt(2, { tUs: 1_000 }), frameAt(3, { tUs: 11_000 }), frameAt(4, { tUs: 21_000 })];
    const { samples, issues } = run(frames, {}, [0, 10_000, 520_000, 530_000, 540_000]);
    // seq 2 could not be told from a corrupt value when it came; seq 3 shows the board kept the new clock.
    expect(samples.map((s) => [s.seq, s.tUs])).toEqual([
      [0, 1_000_000],
      [1, 1_010_000],
      [3, 1_530_000],
      [4, 1_540_000],
    ]);
    expect(issues.map((i) => i.kind)).toEqual(["bad_value", "clock_restart"]);
  });

  // Issue #13 (reliability fuzz): a CRC-valid frame with a wrong clock right after a lost
  // frame was taken as a board restart (or a forward jump): two wrong time steps each.
  it("drops a CRC-valid wrong clock just after a lost frame as an outlier, not a restart, and counts the loss", () => {
    const frames = [frameAt(0), frameAt(1), frameAt(3, { tUs: 5 }), frameAt(4), frameAt(5)];
    const { samples, issues } = run(frames, {}, [0, 10_000, 30_000, 40_000, 50_000]);
    expect(samples.map((s) => [s.seq, s.tUs])).toEqual([
      [0, 1_000_000],
      [1, 1_010_000],
      [4, 1_040_000],
      [5, 1_050_000],
    ]);
    expect(issues.map((i) => [i.kind, i.message])).toEqual([
      ["bad_value", expect.stringMatching(/seq 3: t_us 5 µs is back .* after seq 1; suspect time .* sample dropped/)],
      ["bad_frame", expect.stringMatching(/sequence gap, 1 frame\(s\) missing \(seq 1 -> 3\)/)],
    ]);
  });

  it("drops a wrong clock far ahead just after a lost frame, instead of taking the jump", () => {
    const frames = [frameAt(0), frameAt(1), frameAt(3, { tUs: 901_030_000 }), frameAt(4)];
    const { samples, issues } = run(frames, {}, [0, 10_000, 30_000, 40_000]);
    expect(samples.map((s) => [s.seq, s.tUs])).toEqual([
      [0, 1_000_000],
      [1, 1_010_000],
      [4, 1_040_000],
    ]);
    expect(issues.map((i) => i.kind)).toEqual(["bad_value", "bad_frame"]);
  });

  it("drops a wrong clock less than JUMP_SLACK_US ahead when neither seq nor the host clock allows the step", () => {
    const frames = [frameAt(0), frameAt(1), frameAt(2, { tUs: 1_520_000 }), frameAt(3), frameAt(4)];
    const { samples, issues } = run(frames, {}, [0, 10_000, 20_000, 30_000, 40_000]);
    expect(samples.map((s) => s.seq)).toEqual([0, 1, 3, 4]);
    expect(samples.map((s) => s.tUs)).toEqual([1_000_000, 1_010_000, 1_030_000, 1_040_000]);
    expect(issues.map((i) => [i.kind, i.message])).toEqual([["bad_value", expect.stringMatching(/seq 2: t_us 1520000 µs is 510000 µs ahead .*1 seq step\(s\) of 10000 µs/)]]);
  });

  it("counts a loss just before a confirmed restart as a gap when the board kept counting seq", () => {
    const frames = [frameAt(0), frameAt(1), frameAt(3, { tUs: 1_000 }), frameAt(4, { tUs: 11_000 })];
    const { samples, issues } = run(frames, {}, [0, 10_000, 530_000, 540_000]);
    expect(samples.map((s) => [s.seq, s.tUs])).toEqual([
      [0, 1_000_000],
      [1, 1_010_000],
      [4, 1_540_000],
    ]);
    expect(issues.map((i) => [i.kind, i.message])).toEqual([
      ["bad_value", expect.stringMatching(/seq 3: .*suspect time/)],
      ["bad_frame", expect.stringMatching(/sequence gap, 1 frame\(s\) missing \(seq 1 -> 3\)/)],
      ["clock_restart", expect.stringMatching(/seq 1 -> 3 -> 4, seq kept counting/)],
    ]);
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
