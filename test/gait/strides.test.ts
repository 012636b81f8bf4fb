import { describe, expect, it } from "vitest";
import { PhaseEstimator } from "../../edge/gait/phase.js";
import { StrideTracker } from "../../edge/gait/strides.js";
import { gaitEventMessage, strideMessage, type GaitEvent, type Stride } from "../../edge/gait/types.js";

const hs = (t: number): GaitEvent => ({ type: "heel_strike", t, tDetected: t + 0.02 });
const to = (t: number): GaitEvent => ({ type: "toe_off", t, tDetected: t + 0.03 });

describe("PhaseEstimator", () => {
  it("has no phase until one stride is timed, then predicts from the recent strides", () => {
    const p = new PhaseEstimator();
    expect(p.phase(0.5)).toBeNull();
    p.onEvent(hs(0));
    expect(p.phase(0.5)).toBeNull();
    p.onEvent(hs(1.0));
    expect(p.phase(1.25)).toBeCloseTo(25, 10);
    p.onEvent(hs(2.2)); // mean of 1.0 and 1.2 = 1.1 s
    expect(p.phase(2.2 + 0.55)).toBeCloseTo(50, 10);
  });

  it("holds at the cap when the stride runs long, and goes unknown in a pause", () => {
    const p = new PhaseEstimator();
    p.onEvent(hs(0));
    p.onEvent(hs(1.0));
    expect(p.phase(2.1)).toBe(99);
    expect(p.phase(2.6)).toBeNull(); // > 1.5 x stride: stopped
    p.onEvent(hs(6.0)); // the 5 s "stride" is not kept: resumes with the 1.0 s one
    expect(p.phase(6.5)).toBeCloseTo(50, 10);
  });

  it("ignores toe off and mid-swing", () => {
    const p = new PhaseEstimator();
    p.onEvent(hs(0));
    p.onEvent(to(0.6));
    p.onEvent({ type: "mid_swing", t: 0.8, tDetected: 0.82 });
    p.onEvent(hs(1.0));
    expect(p.strideEstimate()).toBeCloseTo(1.0, 12);
  });
});

describe("StrideTracker", () => {
  it("closes a stride at its heel strike without angles: time, cadence, stance", () => {
    const s = new StrideTracker(null);
    expect(s.onEvent(hs(10))).toEqual([]);
    expect(s.onEvent(to(10.72))).toEqual([]);
    const [stride] = s.onEvent(hs(11.2));
    expect(stride!.strideTimeS).toBeCloseTo(1.2, 12);
    expect(stride!.cadenceSpm).toBeCloseTo(100, 10);
    expect(stride!.stancePct).toBeCloseTo(60, 10);
    expect(stride!.romDeg).toBeNull();
  });

  it("waits for the angle stream to pass the stride's end, then reports each joint's range", () => {
    const s = new StrideTracker(["a", "b"]);
    s.onEvent(hs(0));
    s.onEvent(to(0.6));
    for (let k = 0; k < 90; k++) s.pushAngles(k / 100, [Math.sin(k / 10), 2]);
    expect(s.onEvent(hs(1.0))).toEqual([]); // angles only reached 0.89 s
    const before: Stride[] = [];
    for (let k = 90; k < 100; k++) before.push(...s.pushAngles(k / 100, [0, 2]));
    expect(before).toEqual([]);
    const out = s.pushAngles(1.0, [5, 7]); // t >= end: complete; the sample at t = end belongs to the next stride
    expect(out.length).toBe(1);
    expect(out[0]!.romDeg!["a"]).toBeCloseTo(2, 2); // sin over 0..0.89 s: about -1..1
    expect(out[0]!.romDeg!["b"]).toBe(0);
  });

  it("drops strides out of the 0.5-2.5 s range (a pause, a doubled heel strike)", () => {
    const s = new StrideTracker(null);
    s.onEvent(hs(0));
    expect(s.onEvent(hs(0.3))).toEqual([]);
    expect(s.onEvent(hs(4.0))).toEqual([]);
    expect(s.onEvent(hs(5.1)).length).toBe(1);
  });

  it("refuses an angle sample of the wrong width, naming the joints", () => {
    const s = new StrideTracker(["hip", "knee"]);
    expect(() => s.pushAngles(0, [1, 2, 3])).toThrow(/expected 2 angles \(hip, knee\), got 3/);
  });
});

describe("payloads", () => {
  it("carries times in µs and leaves out what is unknown", () => {
    const m = gaitEventMessage({ type: "heel_strike", t: 12.3456785, tDetected: 12.37 }, "w1", "calcn_r", null);
    expect(m).toEqual({ type: "heel_strike", wearer: "w1", placement: "calcn_r", tUs: 12345679, detectedUs: 12370000 });
    const s = strideMessage({ tStart: 1, tEnd: 2.2, tToeOff: null, strideTimeS: 1.2, cadenceSpm: 100, stancePct: null, romDeg: null }, "w1", "calcn_r");
    expect(s).toEqual({ wearer: "w1", placement: "calcn_r", startUs: 1000000, endUs: 2200000, strideTimeS: 1.2, cadenceSpm: 100 });
  });
});
