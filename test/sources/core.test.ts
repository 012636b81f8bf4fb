import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { RateLimiter, SourceCore, describeNoValidData } from "../../edge/sources/core.js";
import type { ImuSample, SourceIssue } from "../../edge/sources/types.js";

const sample = (t: number): ImuSample => ({ sensorId: "femur_r", tUs: t, acc: [0, 0, 9.8], gyro: [0, 0, 0] });

describe("RateLimiter", () => {
  it("passes the first N, then one per period carrying the count held back", () => {
    const limiter = new RateLimiter({ first: 2, everyMs: 1000 });
    expect([0, 1, 2, 3, 500].map((t) => limiter.hit(t))).toEqual([0, 0, undefined, undefined, undefined]);
    expect(limiter.hit(1001)).toBe(3);
    expect(limiter.hit(1002)).toBeUndefined();
    expect(limiter.takeHeld(1500, true)).toBe(0); // not due yet
    expect(limiter.takeHeld(2001, true)).toBe(1);
    expect(limiter.takeHeld(2002)).toBe(0);
  });
});

describe("describeNoValidData", () => {
  const w = { ms: 5000, unit: "frame" } as const;
  it("tells silence, noise in the wrong mode, bad checksums and rejected frames apart", () => {
    expect(describeNoValidData({ ...w, bytes: 0, issues: {} })).toBe("no bytes for 5 s");
    expect(describeNoValidData({ ...w, bytes: 812, issues: {} })).toBe("bytes but no valid frame for 5 s (wrong mode? 812 bytes, 0 frames)");
    expect(describeNoValidData({ ...w, bytes: 1480, issues: { bad_checksum: 40, resync: 1 } })).toBe("all 40 frames failed the checksum in 5 s");
    expect(describeNoValidData({ ...w, bytes: 900, issues: { bad_value: 25 } })).toBe(
      "no valid frame for 5 s: every one was rejected (900 bytes, bad_value 25)",
    );
    expect(describeNoValidData({ ms: 5000, unit: "notification", bytes: undefined, issues: {} })).toBe("no notifications for 5 s");
  });
});

describe("SourceCore", () => {
  function core(now: () => number = () => 0) {
    const issues: SourceIssue[] = [];
    const samples: ImuSample[] = [];
    let ends = 0;
    const logger = memoryLogger();
    const c = new SourceCore({ name: "test", logger, noDataTimeoutMs: 0, now });
    c.begin({ onSample: (s) => samples.push(s), onIssue: (i) => issues.push(i), onEnd: () => ends++ });
    return { c, issues, samples, logger, ends: () => ends };
  }

  it("keeps delivering after a consumer throws, and counts every throw", () => {
    const issues: SourceIssue[] = [];
    const c = new SourceCore({ name: "test", logger: memoryLogger(), noDataTimeoutMs: 0, now: () => 0 });
    let n = 0;
    c.begin({
      onSample: () => {
        n++;
        throw new Error("boom");
      },
      onIssue: (i) => issues.push(i),
    });
    for (let i = 0; i < 10; i++) expect(c.deliver(sample(i))).toBe(true);
    expect(n).toBe(10);
    expect(c.stats()).toEqual({ samples: 10, issues: { consumer_error: 10 } });
    expect(issues).toHaveLength(3);
    c.halt();
    expect(issues.map((i) => i.message).at(-1)).toBe("test: onSample threw 7 more time(s) since the last report");
  });

  it("delivers nothing after halt, and calls onEnd once, never after halt", () => {
    const t = core();
    t.c.end();
    t.c.end();
    expect(t.ends()).toBe(1);
    expect(t.c.deliver(sample(0))).toBe(false);
    const u = core();
    u.c.halt();
    u.c.end();
    expect(u.ends()).toBe(0);
  });

  it("survives an onIssue handler that throws, and logs it", () => {
    const logger = memoryLogger();
    const c = new SourceCore({ name: "test", logger, noDataTimeoutMs: 0 });
    c.begin({ onSample: () => undefined, onIssue: () => { throw new Error("handler bug"); } });
    expect(() => c.issue({ kind: "bad_value", message: "x" })).not.toThrow();
    expect(c.stats().issues).toEqual({ bad_value: 1 });
    expect(logger.lines.some((l) => l.includes("handler bug"))).toBe(true);
  });

  it("logs bad input at warn, the first 10 of a kind one by one, the rest as a count at halt", () => {
    const t = core();
    for (let i = 0; i < 14; i++) t.c.issue({ kind: "bad_frame", message: `f.csv:${i + 2}: bad` });
    expect(t.issues).toHaveLength(14); // every one reaches onIssue
    t.c.halt();
    const warns = t.logger.lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === "warn");
    expect(warns.map((w) => w.msg)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `f.csv:${i + 2}: bad`),
      "test: 4 more bad_frame issue(s) not logged one by one",
    ]);
  });
});
