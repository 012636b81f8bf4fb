import { describe, expect, it } from "vitest";
import { LiveGate } from "../../edge/mqtt/liveGate.js";

describe("LiveGate: QoS 0 live messages wait for the broker to answer a probe", () => {
  it("holds a message, asks for one probe per batch, and releases the batch in order on the answer", () => {
    const gate = new LiveGate(500);
    expect(gate.offer("t", "a", 0)).toBe(true);
    // A probe is in flight: the next ones join its batch.
    expect(gate.offer("t", "b", 1)).toBe(false);
    expect(gate.offer("t", "c", 2)).toBe(false);
    expect(gate.answered(3).release.map((m) => m.body)).toEqual(["a", "b", "c"]);
    expect(gate.heldCount).toBe(0);
    // The next message asks for a new probe.
    expect(gate.offer("t", "d", 10)).toBe(true);
  });

  it("drops (and counts) what waited past the budget, and says once that the broker stalled", () => {
    const gate = new LiveGate(500);
    gate.offer("t", "a", 0);
    gate.offer("t", "b", 400);
    expect(gate.expire(499)).toBe(false);
    expect(gate.expire(501)).toBe(true); // the probe sent at 0 is unanswered past the budget
    expect(gate.heldCount).toBe(1); // "a" dropped, "b" still within its budget
    expect(gate.expire(800)).toBe(false); // once per stall
    expect(gate.stats()).toEqual({ expired: 1, stalls: 1, stalled: true });
  });

  it("a late answer (after a freeze) releases only what is still within the budget, and ends the stall", () => {
    const gate = new LiveGate(500);
    gate.offer("t", "old", 0);
    gate.expire(600);
    gate.offer("t", "older-than-budget", 1000);
    gate.offer("t", "fresh", 2800);
    // No tick ran between 1000 and 3000 (a busy event loop): the answer itself checks ages.
    const { release, stalledForMs } = gate.answered(3000);
    expect(release.map((m) => m.body)).toEqual(["fresh"]);
    expect(stalledForMs).toBe(3000);
    expect(gate.stats()).toEqual({ expired: 2, stalls: 1, stalled: false });
  });

  it("a dead link drops what it held and forgets the probe", () => {
    const gate = new LiveGate(500);
    gate.offer("t", "a", 0);
    gate.offer("t", "b", 1);
    expect(gate.reset()).toBe(2);
    expect(gate.answered(5).release).toEqual([]);
    expect(gate.offer("t", "c", 6)).toBe(true);
  });

  it("refuses a budget that is not positive", () => {
    expect(() => new LiveGate(0)).toThrow(/budget must be > 0/);
  });
});
