import { describe, expect, it } from "vitest";
import { LogBudget } from "../../edge/ota/logBudget.js";

describe("LogBudget", () => {
  it("lets perWindow messages through per window and counts the rest into the next one", () => {
    const b = new LogBudget(2, 1000);
    expect([b.take(0), b.take(10), b.take(20), b.take(30)]).toEqual([
      { log: true, suppressedBefore: 0 },
      { log: true, suppressedBefore: 0 },
      { log: false },
      { log: false },
    ]);
    expect(b.take(1000)).toEqual({ log: true, suppressedBefore: 2 });
    expect(b.take(1001)).toEqual({ log: true, suppressedBefore: 0 });
  });
});
