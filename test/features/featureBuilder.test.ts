import { describe, expect, it } from "vitest";
import { eulerZYX, quatMultiply, wrapAngle } from "../../edge/features/euler.js";
import { FeatureBuilder } from "../../edge/features/featureBuilder.js";
import { AhrsFilter } from "../../edge/fusion/ahrsFilter.js";

const REFS = [
  [Math.SQRT1_2, 0, -Math.SQRT1_2, 0], // x down (Camargo thigh): +z turned onto -x
  [1, 0, 0, 0],
] as const;
const OPTIONS = { placements: ["femur_r", "calcn_r"] as const, window: 50, stride: 25, beta: 0.1, dtS: 0.01, references: REFS };

/** Grid sample k: [placement][acc, gyro] with a walking-like wobble and a steady turn (yaw drifts). */
function gridSample(k: number): number[] {
  const t = k / 100;
  return [
    -9.7 + Math.sin(t * 6), Math.cos(t * 5), 0.8 * Math.sin(t * 3), Math.sin(t * 6) * 2, 0.5, 1.5 + Math.cos(t * 4),
    Math.sin(t * 9), 0.3, 9.8 + Math.cos(t * 9), 0.2 * Math.cos(t * 2), Math.sin(t * 7) * 3, 1.5,
  ];
}

/** The contract written out plainly: all rows, then slices with relative yaw. */
function referenceWindows(n: number, firstStride = 25): number[][][] {
  const filters = [0, 1].map(() => new AhrsFilter({ beta: 0.1, dtS: 0.01 }));
  const rows: number[][] = [];
  const qr = new Float64Array(4), e = new Float64Array(3);
  for (let k = 0; k < n; k++) {
    const v = gridSample(k);
    const row: number[] = [];
    for (let p = 0; p < 2; p++) {
      const a = v.slice(p * 6, p * 6 + 6);
      filters[p]!.update(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!);
      quatMultiply(filters[p]!.q, REFS[p]!, qr);
      eulerZYX(qr[0]!, qr[1]!, qr[2]!, qr[3]!, e);
      row.push(...a, ...e);
    }
    rows.push(row);
  }
  const windows: number[][][] = [];
  for (let s = 0; s + 50 <= n; s += s === 0 ? firstStride : 25) {
    windows.push(rows.slice(s, s + 50).map((r) => r.map((v, c) => (c % 9 === 8 ? wrapAngle(v - rows[s]![c]!) : v))));
  }
  return windows;
}

/** Push grid samples 0..n-1 and copy out every window as it becomes ready. */
function collectWindows(fb: FeatureBuilder, n: number, onWindow: () => void = () => {}): number[][][] {
  const got: number[][][] = [];
  const out = new Float64Array(50 * 18);
  for (let k = 0; k < n; k++) {
    if (fb.push(gridSample(k))) {
      fb.buildWindow(out);
      got.push(Array.from({ length: 50 }, (_, j) => Array.from(out.subarray(j * 18, j * 18 + 18))));
      onWindow();
    }
  }
  return got;
}

describe("FeatureBuilder", () => {
  it("signals a window at grid samples 49, 74, 99, ... and not otherwise", () => {
    const fb = new FeatureBuilder(OPTIONS);
    const ready: number[] = [];
    for (let k = 0; k < 160; k++) if (fb.push(gridSample(k))) ready.push(k);
    expect(ready).toEqual([49, 74, 99, 124, 149]);
    expect(fb.windowIndex).toBe(4);
  });

  it("builds the windows of the contract, yaw relative to each window's first sample", () => {
    const n = 230; // the ring buffer wraps several times
    const want = referenceWindows(n);
    const fb = new FeatureBuilder(OPTIONS);
    const starts: number[] = [];
    const got = collectWindows(fb, n, () => starts.push(fb.windowStartIndex));
    expect(starts).toEqual(got.map((_, i) => 25 * i));
    expect(got).toEqual(want);
    for (const w of got) {
      expect(w[0]![8]).toBe(0);
      expect(w[0]![17]).toBe(0);
    }
    // the steady turn makes yaw move within a window, so relative yaw is really exercised
    expect(Math.abs(got[3]![49]![17]!)).toBeGreaterThan(0.3);
  });

  it("with a first stride of 7, window 1 ends 7 samples after window 0 and later ones every 25", () => {
    const fb = new FeatureBuilder(OPTIONS);
    const ready: number[] = [];
    const index: number[] = [];
    for (let k = 0; k < 160; k++) {
      if (fb.push(gridSample(k))) {
        ready.push(k);
        index.push(fb.windowIndex);
        if (k === 49) fb.setFirstStride(7);
      }
    }
    expect(ready).toEqual([49, 56, 81, 106, 131, 156]);
    expect(index).toEqual([0, 1, 2, 3, 4, 5]);
    expect(fb.firstStride).toBe(7);
    // What each window has that the one before had not: the gaps between the ends above.
    expect(index.map((i) => fb.newSamples(i))).toEqual([50, 7, 25, 25, 25, 25]);
    expect(() => fb.newSamples(-1)).toThrow(/non-negative integer/);
  });

  it("builds the contract's windows with a first stride: window 1 starts 7 samples after window 0", () => {
    const n = 230;
    const want = referenceWindows(n, 7);
    const fb = new FeatureBuilder(OPTIONS);
    fb.setFirstStride(7); // before any sample: the same as at window 0
    const got = collectWindows(fb, n);
    expect(got.length).toBe(want.length);
    expect(got).toEqual(want);
  });

  it("refuses a first stride outside 1..stride, or once window 1 is out; a reset restores the stride", () => {
    const fb = new FeatureBuilder(OPTIONS);
    expect(() => fb.setFirstStride(0)).toThrow(/1\.\.stride \(25\)/);
    expect(() => fb.setFirstStride(26)).toThrow(/1\.\.stride/);
    expect(() => fb.setFirstStride(2.5)).toThrow(/integer/);
    for (let k = 0; k < 55; k++) fb.push(gridSample(k));
    expect(() => fb.setFirstStride(3)).toThrow(/already complete \(55 samples\)/); // window 1 would have ended at 52
    fb.setFirstStride(10); // ends at 59: still ahead
    for (let k = 55; k < 60; k++) fb.push(gridSample(k));
    expect(fb.windowIndex).toBe(1);
    expect(() => fb.setFirstStride(25)).toThrow(/already complete/);
    fb.reset();
    expect(fb.firstStride).toBe(25);
  });

  it("writes float32 for the model", () => {
    const fb = new FeatureBuilder(OPTIONS);
    for (let k = 0; k < 50; k++) fb.push(gridSample(k));
    const f64 = new Float64Array(900), f32 = new Float32Array(900);
    fb.buildWindow(f64);
    fb.buildWindow(f32);
    expect(Array.from(f32)).toEqual(Array.from(f64, Math.fround));
  });

  it("refuses to build a window before one is complete, or into a short array", () => {
    const fb = new FeatureBuilder(OPTIONS);
    for (let k = 0; k < 49; k++) fb.push(gridSample(k));
    expect(() => fb.buildWindow(new Float64Array(900))).toThrow(/49 of 50/);
    fb.push(gridSample(49));
    expect(() => fb.buildWindow(new Float64Array(899))).toThrow(/need 900/);
  });

  it("reset() starts over: windows and filters as for a fresh stream", () => {
    const fb = new FeatureBuilder(OPTIONS);
    for (let k = 0; k < 80; k++) fb.push(gridSample(k + 1000));
    fb.reset();
    const want = referenceWindows(50)[0]!;
    for (let k = 0; k < 50; k++) fb.push(gridSample(k));
    const out = new Float64Array(900);
    fb.buildWindow(out);
    expect(Array.from(out)).toEqual(want.flat());
  });

  it("needs one reference quaternion per placement", () => {
    expect(() => new FeatureBuilder({ ...OPTIONS, references: [REFS[0]] })).toThrow(/2 reference/);
  });
});
