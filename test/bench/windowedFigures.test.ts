/** The bench's inference bound (edge/bench/windowedFigures.ts): what inference alone takes for N wearers. */
import { describe, expect, it } from "vitest";
import { inferenceCores } from "../../edge/bench/windowedFigures.js";

describe("inferenceCores", () => {
  it("is wearers x windows per wearer-second x ms per window, alone (batch 1) and at the cheapest batch", () => {
    const f = { inferenceMsPerWindow: { int8: { "1": 0.44, "8": 0.26, "32": 0.2, "128": 0.31 }, fp32: {} }, windowsPerWearerS: 4 };
    // 1000 wearers x 4 windows/s x 0.44 ms = 1760 ms of CPU per second.
    expect(inferenceCores(f, 1000)).toEqual({ int8_alone: 1.76, int8_cheapest_batch: 0.8 });
    expect(inferenceCores(f, 25).int8_alone).toBeCloseTo(0.04, 2);
  });
});
