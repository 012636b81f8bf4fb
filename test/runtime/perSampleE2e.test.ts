/**
 * Per-sample mode end to end: a real AB06 trial through the runtime and the
 * shipped int8 model to a real mosquitto, read back by a subscriber on
 * `<prefix>/<device>/angles/sample` beside the windowed `angles` topic.
 */
import { connectAsync } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import type { AnglesMessage, SampleAnglesMessage } from "../../edge/mqtt/topics.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { startMosquitto, type RunningMosquitto } from "../helpers/mosquitto.js";

const TRIAL = "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz";
// A gait-features/1 model (angles from the first window, no mounting calibration): this tests the runtime, not the shipped model.
const MODEL = "test/fixtures/models/tiny-v1/manifest.json";
let broker: RunningMosquitto;

beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
});

describe("per-sample mode through mosquitto", () => {
  it("publishes every grid sample's causal estimate on angles/sample, agreeing with the windowed stream where a window ends", async () => {
    const config = parseConfig({
      model: MODEL,
      // chunk 1: the replay waits for inference after every sample, so nothing is skipped
      sources: [{ kind: "replay", file: TRIAL, speed: 0, chunk: 1 }],
      mqtt: { url: broker.url, deviceId: "e2e-ps", protocolVersion: 5 },
      pipeline: { perSample: { enabled: true, every: 1 } },
    });
    const sub = await connectAsync(broker.url, { protocolVersion: 5 });
    const windowed: AnglesMessage[] = [];
    const samples: SampleAnglesMessage[] = [];
    sub.on("message", (topic, payload) => {
      const m: unknown = JSON.parse(payload.toString());
      if (topic === "gait/e2e-ps/angles") windowed.push(m as AnglesMessage);
      if (topic === "gait/e2e-ps/angles/sample") samples.push(m as SampleAnglesMessage);
    });
    await sub.subscribeAsync("gait/e2e-ps/#", { qos: 1 });
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    const runtime = new EdgeRuntime(config, { logger: memoryLogger(), onEnd: () => ended() });
    await runtime.start();
    await done;
    const stats = runtime.stats().pipelines.default!;
    const want = stats.perSample!.published;
    for (let i = 0; i < 200 && (samples.length < want || windowed.length < stats.published); i++) await new Promise((r) => setTimeout(r, 20));
    await runtime.stop();
    await sub.endAsync();

    expect(stats.perSample).toMatchObject({ skipped: 0, failed: 0, staleDropped: 0 });
    expect(want).toBeGreaterThan(1000);
    expect(samples).toHaveLength(want);
    expect(windowed).toHaveLength(stats.published);
    // Compact payload: no joint names or model per message (those are in the retained `model` topic).
    expect(Object.keys(samples[0]!).sort()).toEqual(["a", "seq", "t", "tUs", "wearer"]);
    expect(samples.map((m) => m.seq)).toEqual(samples.map((_, i) => i + 1));
    expect(samples.every((m) => m.a.length === 5 && m.a.every(Number.isFinite))).toBe(true);
    // One per grid sample from the first full window on: the windowed stream's times minus its first 49,
    // then the samples after the last full stride (no window ends there yet; per-sample does not wait for one).
    const grid = windowed.flatMap((m) => m.sensorTimeUs!);
    const times = samples.map((m) => m.tUs);
    expect(times.slice(0, grid.length - 49)).toEqual(grid.slice(49));
    const tail = times.slice(grid.length - 49);
    expect(tail.length).toBeLessThan(25);
    tail.forEach((tUs, i) => expect(tUs - grid.at(-1)!).toBeCloseTo((i + 1) * 10_000, 0));
    // Where a window ends at a sample, its last row IS that sample's causal estimate (same window, batch 1).
    const bySample = new Map(samples.map((m) => [m.tUs, m.a]));
    for (const m of windowed) expect(bySample.get(m.sensorTimeUs!.at(-1)!)).toEqual(m.angles.at(-1));
    // ... and elsewhere it is a different number than the windowed stream's (which looked ahead).
    const rows = windowed.flatMap((m) => m.angles);
    const differs = grid.slice(49).filter((tUs, i) => {
      const a = bySample.get(tUs)!;
      const w = rows[49 + i]!;
      return a.some((v, c) => v !== w[c]);
    });
    expect(differs.length).toBeGreaterThan(want / 2);
  });
});
