import { describe, expect, it } from "vitest";
import { GaitSimulator, type GaitSimulatorOptions } from "../../../edge/sources/simulator/gaitSimulator.js";

const BASE: GaitSimulatorOptions = {
  wearers: 3,
  placements: ["femur_r", "calcn_r", "femur_l", "calcn_l"],
  rateHz: 100,
  strideHz: 1,
  seed: 42,
  accNoise: 0.05,
  gyroNoise: 0.005,
};

/** n samples of one stream as rows [ax, ay, az, gx, gy, gz]. */
function record(sim: GaitSimulator, stream: number, n: number, from = 0): number[][] {
  const out = new Float64Array(6);
  const rows: number[][] = [];
  for (let k = from; k < from + n; k++) {
    sim.sample(stream, k, out);
    rows.push([...out]);
  }
  return rows;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("GaitSimulator", () => {
  it("is deterministic for a seed, differs between seeds, and does not depend on call order", () => {
    const a = new GaitSimulator(BASE);
    const b = new GaitSimulator(BASE);
    expect(record(a, 3, 300)).toEqual(record(b, 3, 300));
    // Sample 250 alone equals sample 250 of the sequential run.
    expect(record(a, 3, 1, 250)).toEqual([record(b, 3, 300)[250]]);
    const other = new GaitSimulator({ ...BASE, seed: 43 });
    expect(record(other, 3, 10)).not.toEqual(record(a, 3, 10));
  });

  it("plays wearer w the same whichever wearer it starts from (firstWearer: a fleet in parts)", () => {
    const all = new GaitSimulator(BASE);
    const part = new GaitSimulator({ ...BASE, wearers: 2, firstWearer: 1 });
    expect(part.streams.map((s) => `${s.wearer}:${s.placement}`)).toEqual(all.streams.slice(4).map((s) => `${s.wearer}:${s.placement}`));
    for (let i = 0; i < part.streams.length; i++) expect(record(part, i, 50, 300)).toEqual(record(all, i + 4, 50, 300));
    // Not trivially equal: another wearer walks differently.
    expect(record(part, 0, 50, 300)).not.toEqual(record(all, 0, 50, 300));
  });

  it("reads gravity: specific force about 9.81 m/s² on average (more on a foot carried a stride per swing), all finite", () => {
    const sim = new GaitSimulator(BASE);
    sim.streams.forEach((s, i) => {
      const rows = record(sim, i, 1000);
      expect(rows.flat().every(Number.isFinite)).toBe(true);
      const norm = mean(rows.map((r) => Math.hypot(r[0]!, r[1]!, r[2]!)));
      expect(norm, `stream ${i}`).toBeGreaterThan(9.0);
      // A foot travels 1.2-1.4 m from heel-off to heel strike (peaks about 25 m/s²): measured 14-15 m/s² on average.
      expect(norm, `stream ${i}`).toBeLessThan(s.placement.startsWith("calcn") ? 16 : 11.5);
    });
  });

  it("mounts the thigh sensor x-down and the foot sensor z-up", () => {
    const sim = new GaitSimulator(BASE);
    const thigh = record(sim, 0, 1000);
    const foot = record(sim, 1, 1000);
    expect(mean(thigh.map((r) => r[0]!))).toBeLessThan(-8.5);
    expect(Math.abs(mean(thigh.map((r) => r[2]!)))).toBeLessThan(0.5);
    expect(mean(foot.map((r) => r[2]!))).toBeGreaterThan(7.5);
    expect(Math.abs(mean(foot.map((r) => r[1]!)))).toBeLessThan(0.5);
  });

  it("gyro z of the thigh is the rate of its sagittal angle: it integrates back to zero over whole strides", () => {
    const sim = new GaitSimulator({ ...BASE, wearers: 1, accNoise: 0, gyroNoise: 0 });
    const thigh = record(sim, 0, 2000).map((r) => r[5]!);
    // Peak thigh angular rate in walking is a few rad/s.
    const peak = Math.max(...thigh.map(Math.abs));
    expect(peak).toBeGreaterThan(1.5);
    expect(peak).toBeLessThan(6);
    // The swing is periodic, so the integrated angle returns (a drift would be a bug).
    const strideSamples = Math.round(100 / sim.streams[0]!.strideHz);
    const integrated = thigh.slice(0, strideSamples).reduce((a, b) => a + b, 0) / 100;
    expect(Math.abs(integrated)).toBeLessThan(0.05);
    // Sagittal rate dominates the other axes.
    const rms = (i: number) => Math.sqrt(mean(record(sim, 0, 1000).map((r) => r[i]! ** 2)));
    expect(rms(5)).toBeGreaterThan(2 * rms(3));
  });

  it("mirrors the left leg half a stride later", () => {
    const sim = new GaitSimulator({ ...BASE, wearers: 1, accNoise: 0, gyroNoise: 0, placements: ["femur_r", "femur_l"] });
    const right = record(sim, 0, 200);
    const left = record(sim, 1, 200);
    // Strides are 1 Hz ± 6 % per wearer, so compare the left leg against the right leg half a stride earlier.
    const half = Math.round(50 / sim.streams[0]!.strideHz);
    const k = 120;
    expect(left[k]![0]).toBeCloseTo(right[k - half]![0]!, 0);
    expect(Math.sign(left[k]![5]!)).toBe(-Math.sign(right[k - half]![5]!));
  });

  it("puts timestamps on the grid", () => {
    const sim = new GaitSimulator({ ...BASE, rateHz: 100 });
    expect([0, 1, 2, 100].map((k) => sim.timestampUs(k))).toEqual([0, 10_000, 20_000, 1_000_000]);
  });
});
