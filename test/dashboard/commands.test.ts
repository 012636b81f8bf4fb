import { describe, expect, it } from "vitest";
import { CommandTracker, describeOutcome, recordingSummary } from "../../web/dashboard/lib/commands.js";

describe("CommandTracker", () => {
  it("matches a reply to its request by id and reports how long it took", () => {
    const c = new CommandTracker("page1");
    const req = c.request("calibrate", { durationS: 2 }, 1000, 15_000);
    expect(req).toEqual({ id: "page1-1", command: "calibrate", args: { durationS: 2 } });
    expect(c.isPending("calibrate")).toBe(true);
    const outcome = c.settle({ id: "page1-1", status: "ok", data: {} }, 3100);
    expect(outcome).toMatchObject({ kind: "reply", command: "calibrate", elapsedMs: 2100 });
    expect(describeOutcome(outcome!)).toBe("calibrate: ok (2.1 s)");
    expect(c.size).toBe(0);
    // A second reply with the same id (a duplicate at QoS 1) is not ours any more.
    expect(c.settle({ id: "page1-1", status: "ok" }, 3200)).toBeUndefined();
  });

  it("ignores replies to other dashboards' requests", () => {
    const c = new CommandTracker("page1");
    c.request("heading_reset", undefined, 0, 5000);
    expect(c.settle({ id: "page2-1", status: "ok" }, 10)).toBeUndefined();
    expect(c.settle({ id: null, status: "error", error: "invalid JSON" }, 10)).toBeUndefined();
    expect(c.size).toBe(1);
  });

  it("times out requests with no reply, once", () => {
    const c = new CommandTracker("p");
    const a = c.request("get_status", undefined, 0, 5000);
    expect(a).toEqual({ id: "p-1", command: "get_status" });
    c.request("calibrate", undefined, 0, 15_000);
    expect(c.expire(4999)).toEqual([]);
    const expired = c.expire(5000);
    expect(expired).toEqual([{ kind: "timeout", command: "get_status", elapsedMs: 5000 }]);
    expect(describeOutcome(expired[0]!)).toMatch(/get_status: no reply after 5.0 s .*may not send commands/);
    expect(c.expire(6000)).toEqual([]);
    expect(c.isPending("calibrate")).toBe(true);
  });

  it("says which session and files a recording reply names", () => {
    const c = new CommandTracker("p");
    c.request("record_stop", undefined, 0, 5000);
    const outcome = c.settle({ id: "p-1", status: "ok", data: { session: "walk-1", files: ["rec/a.jsonl", "rec/a.1.jsonl"], records: 10 } }, 500);
    expect(describeOutcome(outcome!)).toBe("record_stop: ok, session walk-1, files rec/a.jsonl, rec/a.1.jsonl (0.5 s)");
    expect(recordingSummary({ session: "s", file: "rec/s.jsonl" })).toBe(", session s, file rec/s.jsonl");
    expect(recordingSummary({ pipelines: {} })).toBe("");
  });

  it("describes a refusal with the device's reason", () => {
    const c = new CommandTracker("p");
    c.request("calibrate", undefined, 0, 15_000);
    const o = c.settle({ id: "p-1", status: "error", error: "calibration rejected (nothing changed): w1/femur_r: moving" }, 2000)!;
    expect(describeOutcome(o)).toBe("calibrate: error: calibration rejected (nothing changed): w1/femur_r: moving (2.0 s)");
  });
});
