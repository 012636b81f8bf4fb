import { describe, expect, it } from "vitest";
import { RecentSet } from "../../edge/ota/recentSet.js";

describe("RecentSet", () => {
  it("keeps the most recent entries up to its capacity", () => {
    const s = new RecentSet<string>(3);
    for (const v of ["a", "b", "c", "d"]) s.add(v);
    expect([s.has("a"), s.has("b"), s.has("d")]).toEqual([false, true, true]);
    expect(s.size).toBe(3);
    s.add("b"); // refreshed: now the newest
    s.add("e");
    expect([s.has("b"), s.has("c")]).toEqual([true, false]);
    for (let i = 0; i < 10_000; i++) s.add(`spam-${i}`);
    expect(s.size).toBe(3);
  });
});
