import { describe, expect, it } from "vitest";
import { AngleHistory, RESTART_GAP_MS } from "../../web/dashboard/lib/angleHistory.js";

/** Samples at 100 Hz from t0, channel k = k * 10 + i. */
function fill(h: AngleHistory, n: number, t0 = 1_000_000, from = 0): void {
  for (let i = from; i < from + n; i++) h.push(t0 + i * 10, [i, 10 + i, 20 + i]);
}

describe("AngleHistory", () => {
  it("returns the samples in time order, in seconds, one column per channel", () => {
    const h = new AngleHistory(3, 10_000, 16);
    fill(h, 5);
    const { t, values } = h.columns();
    expect([...t]).toEqual([1000, 1000.01, 1000.02, 1000.03, 1000.04]);
    expect([...values[0]!]).toEqual([0, 1, 2, 3, 4]);
    expect([...values[2]!]).toEqual([20, 21, 22, 23, 24]);
    expect(h.latest()).toEqual([4, 14, 24]);
  });

  it("keeps only the last windowMs, across the ring's wrap-around", () => {
    const h = new AngleHistory(3, 100, 32); // 100 ms = 10 samples at 100 Hz
    fill(h, 45); // wraps the 32-slot ring
    const { t, values } = h.columns();
    expect(t.length).toBe(10);
    expect([...values[0]!]).toEqual([35, 36, 37, 38, 39, 40, 41, 42, 43, 44]);
    expect(t[9]! - t[0]!).toBeCloseTo(0.09, 9);
  });

  it("holds at most `capacity` samples however many arrive (memory stays flat)", () => {
    const h = new AngleHistory(3, 1e9, 64);
    fill(h, 10_000);
    expect(h.length).toBe(64);
    expect(h.columns().values[0]![0]).toBe(10_000 - 64);
  });

  it("drops repeated or slightly older samples, and restarts on a jump back in time", () => {
    const h = new AngleHistory(3, 10_000, 64);
    fill(h, 10);
    h.push(1_000_090, [99, 99, 99]); // same time as the newest
    h.push(1_000_050, [99, 99, 99]); // reordered
    expect(h.dropped).toBe(2);
    expect(h.length).toBe(10);
    h.push(1_000_090 - RESTART_GAP_MS - 1, [7, 8, 9]); // a new run of the stream
    expect(h.restarts).toBe(1);
    expect(h.length).toBe(1);
    expect(h.latest()).toEqual([7, 8, 9]);
  });

  it("stores a missing or non-finite value as NaN (a gap in the plot), and ignores a sample with no time", () => {
    const h = new AngleHistory(3, 10_000, 8);
    h.push(1000, [1, undefined, Number.POSITIVE_INFINITY]);
    h.push(Number.NaN, [1, 2, 3]);
    expect(h.length).toBe(1);
    expect(h.latest()).toEqual([1, Number.NaN, Number.NaN]);
    expect(h.dropped).toBe(1);
  });

  it("bumps its version on every change, so a renderer can skip idle frames", () => {
    const h = new AngleHistory(3, 10_000, 8);
    const v0 = h.version;
    h.columns();
    expect(h.version).toBe(v0);
    fill(h, 1);
    expect(h.version).toBe(v0 + 1);
    h.clear();
    expect(h.length).toBe(0);
    expect(h.latest()).toBeUndefined();
    expect(h.columns().t.length).toBe(0);
  });
});
