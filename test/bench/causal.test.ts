import { describe, expect, it } from "vitest";
import { pool } from "../../edge/bench/causal.js";

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
});
