import { describe, expect, it } from "vitest";
import { WindowPhasePlanner } from "../../edge/runtime/windowPhase.js";

const GRID = { stride: 25, dtMs: 10 };

describe("WindowPhasePlanner", () => {
  it("a lone wearer keeps the contract's stride", () => {
    const planner = new WindowPhasePlanner(() => 1234.5);
    expect(planner.firstStride("a", GRID)).toBe(25);
  });

  it("25 wearers whose window 0 is out on the same tick get one tick of the stride each", () => {
    const planner = new WindowPhasePlanner(() => 1_000_003);
    const steps = Array.from({ length: 25 }, (_, i) => planner.firstStride(`w${i}`, GRID));
    expect(steps[0]).toBe(25);
    expect([...steps].sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(planner.load(GRID)).toEqual(new Array(25).fill(1));
  });

  it("100 wearers on one tick: four per tick, none left on a crowded one", () => {
    const planner = new WindowPhasePlanner(() => 77);
    for (let i = 0; i < 100; i++) planner.firstStride(`w${i}`, GRID);
    expect(planner.load(GRID)).toEqual(new Array(25).fill(4));
  });

  it("a wearer whose windows already fall on a free tick keeps the stride", () => {
    let now = 0;
    const planner = new WindowPhasePlanner(() => now);
    planner.firstStride("a", GRID);
    now = 30; // three ticks later: not where a's windows are due
    expect(planner.firstStride("b", GRID)).toBe(25);
    now = 250; // a's tick again (one period on)
    expect(planner.firstStride("c", GRID)).not.toBe(25);
  });

  it("observe() moves a wearer's place as its clock drifts; forget() frees it", () => {
    let now = 0;
    const planner = new WindowPhasePlanner(() => now);
    planner.firstStride("a", GRID);
    now = 250 + 40; // a's windows now come 4 ticks later in the period
    planner.observe("a", GRID);
    now = 500;
    expect(planner.firstStride("b", GRID)).toBe(25); // a's old tick is free
    now = 540;
    expect(planner.firstStride("c", GRID)).not.toBe(25); // a's new one is not
    planner.forget("a");
    planner.forget("c");
    now = 790; // c's stride would be due here; a and c are gone, b is at 0 mod 250
    expect(planner.firstStride("d", GRID)).toBe(25);
  });

  it("a wearer asking again (a new segment) does not count against itself", () => {
    const planner = new WindowPhasePlanner(() => 0);
    expect(planner.firstStride("a", GRID)).toBe(25);
    expect(planner.firstStride("a", GRID)).toBe(25);
  });
});
