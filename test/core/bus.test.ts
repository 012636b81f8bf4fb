import { describe, expect, it } from "vitest";
import { EventBus } from "../../edge/core/bus.js";
import { memoryLogger } from "../../edge/log.js";

interface Events {
  tick: { n: number };
  other: string;
}

describe("EventBus", () => {
  it("delivers each payload to the event's listeners, in subscription order, until unsubscribed", () => {
    const bus = new EventBus<Events>({ logger: memoryLogger() });
    const got: string[] = [];
    const offA = bus.on("tick", ({ n }) => got.push(`a${n}`));
    bus.on("tick", ({ n }) => got.push(`b${n}`));
    bus.on("other", (s) => got.push(s));
    bus.emit("tick", { n: 1 });
    offA();
    bus.emit("tick", { n: 2 });
    expect(got).toEqual(["a1", "b1", "b2"]);
    expect(bus.listenerCount("tick")).toBe(1);
  });

  it("logs and counts a throwing listener; the emitter and the other listeners carry on", () => {
    const logger = memoryLogger();
    let t = 0;
    const bus = new EventBus<Events>({ logger, now: () => t });
    const got: number[] = [];
    bus.on("tick", () => {
      throw new Error("listener bug");
    });
    bus.on("tick", ({ n }) => got.push(n));
    expect(() => {
      for (let n = 0; n < 5; n++) bus.emit("tick", { n });
    }).not.toThrow();
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(bus.stats().listenerErrors).toEqual({ tick: 5 });
    // One log line per second at most: a listener failing on every sample must not flood the log.
    expect(logger.lines.filter((l) => l.includes("listener bug"))).toHaveLength(1);
    t = 1500;
    bus.emit("tick", { n: 5 });
    expect(logger.lines.filter((l) => l.includes("listener bug"))).toHaveLength(2);
    expect(logger.lines.at(-1)).toContain('a listener of \\"tick\\" threw (6 so far): listener bug');
  });

  it("lets a listener unsubscribe itself during an emit without skipping the others", () => {
    const bus = new EventBus<Events>({ logger: memoryLogger() });
    const got: string[] = [];
    const off = bus.on("other", () => {
      got.push("once");
      off();
    });
    bus.on("other", (s) => got.push(s));
    bus.emit("other", "x");
    bus.emit("other", "y");
    expect(got).toEqual(["once", "x", "y"]);
  });
});
