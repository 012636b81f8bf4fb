import { describe, expect, it } from "vitest";
import { pool, scoreTrial } from "../../edge/bench/causal.js";
import { createLogger } from "../../edge/log.js";

describe("causal accuracy tool", () => {
  it("pools trials by their sample counts (sqrt of the mean squared error), not by averaging RMSEs", () => {
    const a = { samples: 300, joints: { knee: 1, hip: 3 }, mean: 2 };
    const b = { samples: 100, joints: { knee: 3, hip: 3 }, mean: 3 };
    const p = pool([a, b]);
    expect(p.samples).toBe(400);
    expect(p.joints.knee).toBeCloseTo(Math.sqrt((300 * 1 + 100 * 9) / 400), 12); // 1.732, not 2
    expect(p.joints.hip).toBeCloseTo(3, 12);
    expect(p.mean).toBeCloseTo((Math.sqrt(3) + 3) / 2, 12);
  });

  // The shipped model reads segment frames: without the calibration pre-pass this
  // trial (17 s) publishes nothing and every figure was NaN.
  it("scores the shipped gait-features/2 model on a short trial, calibrating its mounting first", async () => {
    const logger = createLogger("causal-test", { level: "error" });
    const s = await scoreTrial("data/ab06/levelground_ccw_normal_04_01_imu.csv.gz", "models/reduced-femur-calcn-lstm/manifest.json", logger);
    expect(s.refused).toBeUndefined();
    expect(s.causal.samples).toBeGreaterThan(1000);
    expect(s.windowedOnCausalSamples.samples).toBeGreaterThan(1000);
    expect(s.skipped).toBe(0);
    expect(s.causal.mean).toBeLessThan(4);
    expect(Math.abs(s.causal.mean - s.windowedOnCausalSamples.mean)).toBeLessThan(0.3);
  }, 120_000);
});
