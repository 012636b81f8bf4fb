import { describe, expect, it } from "vitest";
import { Deadline, DeadlineError } from "../../edge/ota/deadline.js";

describe("Deadline", () => {
  it("passes a result through while time is left", async () => {
    expect(await new Deadline(5).race(Promise.resolve(42), "the answer")).toBe(42);
  });

  it("once spent, fails saying what it waited for, asked at that moment", async () => {
    let now = 0;
    const d = new Deadline(2, () => now);
    now = 2500; // spent before the wait starts: it fails at once
    let seen = 0;
    const never = new Promise<never>(() => undefined);
    const wait = d.race(never, () => `the device (${(seen += 1)} look)`);
    await expect(wait).rejects.toThrow(DeadlineError);
    await expect(wait).rejects.toThrow("the device (1 look) within 2 s");
    expect(d.remainingMs).toBe(0);
  });
});
