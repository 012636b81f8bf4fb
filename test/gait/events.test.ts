import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DEFAULT_DETECTOR_PARAMS, GaitEventDetector, detectEvents } from "../../edge/gait/events.js";
import { DEFAULT_PHASE_PARAMS } from "../../edge/gait/phase.js";
import { GaitStream } from "../../edge/gait/stream.js";
import type { GaitEvent, Stride } from "../../edge/gait/types.js";

interface Golden {
  params: Record<string, number>;
  phase_params: Record<string, number>;
  joints: string[];
  input: { t: number[]; sagittal_rate: number[]; angles: number[][] };
  expected: {
    events: { type: string; t: number; t_detected: number }[];
    phase: (number | null)[];
    strides: {
      t_start: number; t_end: number; t_toe_off: number | null; stride_time_s: number;
      cadence_spm: number; stance_pct: number | null; rom_deg: Record<string, number> | null;
    }[];
  };
}

const golden = JSON.parse(readFileSync(fileURLToPath(new URL("../fixtures/gait/golden.json", import.meta.url)), "utf8")) as Golden;

describe("gait golden vectors (Python writes them, both sides replay them)", () => {
  it("uses the same parameters as the Python detector", () => {
    const py = golden.params;
    const ts = DEFAULT_DETECTOR_PARAMS;
    expect({
      mswMinRate: py.msw_min_rate, mswDrop: py.msw_drop, hsMinDepth: py.hs_min_depth, hsRise: py.hs_rise,
      hsOffsetS: py.hs_offset_s, minStanceS: py.min_stance_s, toTrough: py.to_trough, toOffsetS: py.to_offset_s,
      maxTerminalSwingS: py.max_terminal_swing_s,
    }).toEqual(ts);
    const pp = golden.phase_params;
    expect({ history: pp.history, minStrideS: pp.min_stride_s, maxStrideS: pp.max_stride_s, pauseFactor: pp.pause_factor, cap: pp.cap }).toEqual(DEFAULT_PHASE_PARAMS);
  });

  const { t, sagittal_rate: w, angles } = golden.input;
  const stream = new GaitStream(true);
  const events: GaitEvent[] = [];
  const strides: Stride[] = [];
  const phase: (number | null)[] = [];
  for (let k = 0; k < t.length; k++) {
    const r = stream.push(t[k]!, w[k]!, angles[k]);
    events.push(...r.events);
    strides.push(...r.strides);
    phase.push(r.phase);
  }

  it("finds the same events at the same times", () => {
    expect(events.map((e) => e.type)).toEqual(golden.expected.events.map((e) => e.type));
    events.forEach((e, i) => {
      expect(e.t).toBeCloseTo(golden.expected.events[i]!.t, 8);
      expect(e.tDetected).toBeCloseTo(golden.expected.events[i]!.t_detected, 8);
    });
  });

  it("gives the same phase at every sample", () => {
    expect(phase.map((p) => p === null)).toEqual(golden.expected.phase.map((p) => p === null));
    phase.forEach((p, i) => {
      if (p !== null) expect(p).toBeCloseTo(golden.expected.phase[i]!, 5);
    });
  });

  it("gives the same strides, cadence, stance and range of motion", () => {
    expect(strides.length).toBe(golden.expected.strides.length);
    strides.forEach((s, i) => {
      const g = golden.expected.strides[i]!;
      expect(s.tStart).toBeCloseTo(g.t_start, 8);
      expect(s.tEnd).toBeCloseTo(g.t_end, 8);
      expect(s.cadenceSpm).toBeCloseTo(g.cadence_spm, 6);
      expect(s.stancePct === null).toBe(g.stance_pct === null);
      if (s.stancePct !== null) expect(s.stancePct).toBeCloseTo(g.stance_pct!, 6);
      for (const j of golden.joints) expect(s.romDeg![j]).toBeCloseTo(g.rom_deg![j]!, 6);
    });
  });

  it("walks: the shipped trial yields several complete strides at a plausible cadence", () => {
    expect(strides.length).toBeGreaterThanOrEqual(6);
    for (const s of strides) {
      expect(s.cadenceSpm).toBeGreaterThan(80);
      expect(s.cadenceSpm).toBeLessThan(140);
      expect(s.stancePct!).toBeGreaterThan(50);
      expect(s.stancePct!).toBeLessThan(75);
      expect(s.romDeg!["knee_flexion_r"]!).toBeGreaterThan(40);
    }
  });
});

describe("events against the shipped trial's force plates (data/ab06)", () => {
  const plates = JSON.parse(
    readFileSync(fileURLToPath(new URL("../../data/ab06/levelground_ccw_normal_04_01_fp_events.json", import.meta.url)), "utf8"),
  ) as { contacts: { side: string; heel_strike: number; toe_off: number }[] };
  // The golden input IS the shipped trial's foot rate at 100 Hz: no ../shared needed.
  const events = detectEvents(golden.input.t, golden.input.sagittal_rate);
  const right = plates.contacts.filter((c) => c.side === "right");

  it("has right-foot plate contacts to check", () => {
    expect(right.length).toBe(2);
  });

  it("detects exactly one heel strike within 20 ms and one toe off within 40 ms of each right-foot contact", () => {
    for (const c of right) {
      const hs = events.filter((e) => e.type === "heel_strike" && Math.abs(e.t - c.heel_strike) < 0.15);
      const to = events.filter((e) => e.type === "toe_off" && Math.abs(e.t - c.toe_off) < 0.15);
      expect(hs.length).toBe(1);
      expect(to.length).toBe(1);
      expect(Math.abs(hs[0]!.t - c.heel_strike)).toBeLessThan(0.02);
      expect(Math.abs(to[0]!.t - c.toe_off)).toBeLessThan(0.04);
    }
  });
});

/** A synthetic foot rate: per stride of `T` s, a swing bump (+peak), foot slap, flat stance, heel-off trough. */
function syntheticStride(t0: number, T: number, rate: number, peak = 5): { t: number[]; w: number[] } {
  const t: number[] = [], w: number[] = [];
  const n = Math.round(T * rate);
  for (let k = 0; k < n; k++) {
    const u = k / n; // 0 = heel strike
    let v: number;
    if (u < 0.06) v = -6 * Math.sin((Math.PI * u) / 0.06); // foot slap
    else if (u < 0.4) v = 0;
    else if (u < 0.62) v = -7 * Math.sin((Math.PI * (u - 0.4)) / 0.22); // heel off -> toe off
    else if (u < 0.97) v = peak * Math.sin((Math.PI * (u - 0.62)) / 0.35); // swing
    else v = -1.5 * Math.sin((Math.PI * (u - 0.97)) / 0.03); // terminal swing dip
    t.push(t0 + k / rate);
    w.push(v);
  }
  return { t, w };
}

describe("GaitEventDetector behaviour", () => {
  const rate = 100;
  const T = 1.1;
  const t: number[] = [], w: number[] = [];
  for (let s = 0; s < 6; s++) {
    const st = syntheticStride(s * T, T, rate);
    t.push(...st.t);
    w.push(...st.w);
  }

  it("emits heel strike, toe off, mid-swing in order once per stride", () => {
    const ev = detectEvents(t, w);
    const types = ev.map((e) => e.type);
    // Starts searching in swing: the first stride's stance gives nothing until its swing peak.
    expect(types.slice(0, 4)).toEqual(["mid_swing", "heel_strike", "toe_off", "mid_swing"]);
    expect(types.filter((x) => x === "heel_strike").length).toBe(5);
    const hs = ev.filter((e) => e.type === "heel_strike").map((e) => e.t);
    for (let i = 1; i < hs.length; i++) expect(hs[i]! - hs[i - 1]!).toBeCloseTo(T, 2);
  });

  it("is causal: an event is never reported before the sample that confirmed it", () => {
    for (const e of detectEvents(t, w)) expect(e.tDetected).toBeGreaterThanOrEqual(e.t);
  });

  it("gives the same events whatever comes after (feeding a prefix changes nothing before its end)", () => {
    const full = detectEvents(t, w);
    const cut = 400;
    const part = detectEvents(t.slice(0, cut), w.slice(0, cut));
    expect(part).toEqual(full.filter((e) => e.tDetected <= t[cut - 1]!));
  });

  it("ignores a still foot and small wobble (no events while standing)", () => {
    const still = Array.from({ length: 500 }, (_, k) => 0.3 * Math.sin(k / 5));
    expect(detectEvents(still.map((_, k) => k / rate), still)).toEqual([]);
  });

  it("starting mid-swing (w already falling) does not block the smaller swings that follow", () => {
    const tt: number[] = [], ww: number[] = [];
    for (let k = 0; k < 10; k++) {
      tt.push(k / rate);
      ww.push(6 - 0.6 * k); // falling from a peak the detector never saw
    }
    for (let s = 0; s < 3; s++) {
      const st = syntheticStride(0.1 + s * T, T, rate, 3);
      tt.push(...st.t);
      ww.push(...st.w);
    }
    const ev = detectEvents(tt, ww);
    expect(ev.filter((e) => e.type === "mid_swing").length).toBe(3);
    expect(ev.filter((e) => e.type === "mid_swing").every((e) => e.t > 0.1)).toBe(true);
  });

  it("refuses non-finite samples and time that does not advance", () => {
    const det = new GaitEventDetector();
    det.update(0, 0);
    expect(() => det.update(0.01, NaN)).toThrow(/not finite/);
    expect(() => det.update(0, 0)).toThrow(/not after the previous sample/);
  });

  it("reset() forgets the stride in progress", () => {
    const det = new GaitEventDetector();
    for (let k = 0; k < 180; k++) det.update(t[k]!, w[k]!);
    det.reset();
    expect(det.currentState).toBe("swing");
  });
});
