/** The load watch (edge/modules/loadWatch.ts): pure interval and rule, the hysteresis, and the module on a fake clock. */
import { describe, expect, it } from "vitest";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents } from "../../edge/core/events.js";
import { memoryLogger } from "../../edge/log.js";
import {
  intervalOf, LoadWatchModule, loadConfigSchema, OverloadHysteresis, overloadReason, type LoadCounters, type LoadInterval,
} from "../../edge/modules/loadWatch.js";
import { StatusModule } from "../../edge/modules/status.js";
import type { PipelineStats } from "../../edge/runtime/pipeline.js";

const c = (windows: number, skipped: number, samplesDue = 0, samplesSkipped = 0): LoadCounters => ({ windows, skipped, samplesDue, samplesSkipped });
const quiet: LoadInterval = { seconds: 10, windows: 40, skippedWindows: 0, wearersSkipping: 0, samplesDue: 1000, skippedSamples: 0, loopDelayP99Ms: 2, loopDelayMaxMs: 5 };

describe("intervalOf", () => {
  it("sums what every wearer did since the last look; a new wearer counts from zero, and so does a rebuilt pipeline", () => {
    const before = new Map([["a", c(100, 2)], ["b", c(50, 0, 500, 1)], ["rebuilt", c(400, 9)]]);
    const now = new Map([["a", c(140, 5)], ["b", c(90, 0, 900, 3)], ["new", c(8, 1)], ["rebuilt", c(4, 0)]]);
    expect(intervalOf(before, now, 10, { p99Ms: 3, maxMs: 12 })).toEqual({
      seconds: 10, windows: 40 + 40 + 8 + 4, skippedWindows: 3 + 0 + 1 + 0, wearersSkipping: 3, samplesDue: 400, skippedSamples: 2, loopDelayP99Ms: 3, loopDelayMaxMs: 12,
    });
  });
});

describe("overloadReason", () => {
  it("any skipped stride window is a problem, naming how many of how many, the wearers and the event loop", () => {
    expect(overloadReason(quiet, 0.01)).toBeUndefined();
    const r = overloadReason({ ...quiet, skippedWindows: 3, wearersSkipping: 2, loopDelayMaxMs: 61.4 }, 0.01);
    expect(r).toBe("overloaded: 3 of 40 stride windows skipped in the last 10 s (their angles were not published), 2 wearers; event loop up to 61 ms late; inference cannot keep up (fewer wearers, inference.workers, or a faster machine)");
  });

  it("per-sample outputs skipped are a problem only beyond the share allowed", () => {
    expect(overloadReason({ ...quiet, skippedSamples: 10, wearersSkipping: 1 }, 0.01)).toBeUndefined(); // 1.0%: allowed
    expect(overloadReason({ ...quiet, skippedSamples: 11, wearersSkipping: 1, loopDelayMaxMs: null }, 0.01)).toMatch(
      /^overloaded: 11 of 1000 per-sample outputs skipped \(1\.1%\) in the last 10 s, 1 wearer; inference cannot/,
    );
    expect(overloadReason({ ...quiet, skippedSamples: 1, wearersSkipping: 1 }, 0)).toMatch(/1 of 1000 per-sample outputs skipped/);
  });
});

describe("OverloadHysteresis", () => {
  it("keeps the last problem's reason until clearAfter has passed without one", () => {
    const h = new OverloadHysteresis(30_000);
    expect(h.observe(undefined, 0)).toBeUndefined();
    expect(h.observe("A", 10_000)).toBe("A");
    expect(h.observe(undefined, 20_000)).toBe("A");
    expect(h.observe("B", 30_000)).toBe("B");
    expect(h.observe(undefined, 59_999)).toBe("B");
    expect(h.observe(undefined, 60_000)).toBeUndefined();
    expect(h.observe(undefined, 70_000)).toBeUndefined();
  });
});

describe("LoadWatchModule", () => {
  it("degrades the status while windows are skipped and clears it after clearAfterS of keeping up; get_status's figures are the last interval's", async () => {
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    const status = new StatusModule({ logger, bus, device: { publishRetained: async () => undefined }, snapshot: () => ({}), now: () => 1 });
    await status.start();
    let nowMs = 0;
    let counters = { windows: 0, skipped: 0 };
    let look: () => void = () => undefined;
    let cancelled = false;
    const watch = new LoadWatchModule(loadConfigSchema.parse({ intervalS: 10, clearAfterS: 20 }), {
      logger, bus, now: () => nowMs,
      pipelines: () => ({ w1: { ...counters, perSample: undefined } as unknown as PipelineStats }),
      loopDelay: { enable: () => undefined, disable: () => undefined, take: () => ({ p99Ms: 2, maxMs: 40 }) },
      every: (ms, fn) => {
        expect(ms).toBe(10_000);
        look = fn;
        return () => void (cancelled = true);
      },
    });
    await watch.start();
    const step = (windows: number, skipped: number): void => {
      nowMs += 10_000;
      counters = { windows: counters.windows + windows, skipped: counters.skipped + skipped };
      look();
    };
    step(40, 0);
    expect(status.status).toEqual({ state: "online" });
    expect(watch.stats()).toMatchObject({ overloaded: false, last: { windows: 40, skippedWindows: 0 } });
    step(40, 4);
    expect(status.status.state).toBe("degraded");
    expect(status.status.reason).toMatch(/^overloaded: 4 of 40 stride windows skipped in the last 10 s .*1 wearer; event loop up to 40 ms late/);
    expect(logger.lines.join("\n")).toMatch(/overloaded: 4 of 40/);
    step(40, 0); // 10 s clean: still degraded (clearAfterS 20)
    expect(status.status.state).toBe("degraded");
    expect(watch.stats()).toMatchObject({ overloaded: true, last: { skippedWindows: 0 }, overloadedIntervals: 1 });
    step(40, 0); // 20 s clean
    expect(status.status).toEqual({ state: "online" });
    expect(logger.lines.join("\n")).toMatch(/keeping up again/);
    await watch.stop();
    expect(cancelled).toBe(true);
    await status.stop();
  });
});
