/**
 * Per-sample mode (pipeline.perSample): each due grid sample gets the last
 * row of the model's output for the window ENDING at it, yaw made relative
 * to that window's first sample; the windowed stream does not change; a slow
 * model makes per-sample requests skip to the newest.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadManifest, type LoadedContract } from "../../edge/contract/manifest.js";
import { FeatureBuilder } from "../../edge/features/featureBuilder.js";
import type { WindowModel } from "../../edge/inference/onnxModel.js";
import { memoryLogger } from "../../edge/log.js";
import type { AnglesMessage, SampleAnglesMessage } from "../../edge/mqtt/topics.js";
import { pipelineConfigSchema, WearerPipeline } from "../../edge/runtime/pipeline.js";
import type { ImuSample } from "../../edge/sources/types.js";

// A gait-features/1 model (angles from the first window, no mounting calibration): this tests the runtime, not the shipped model.
const MODEL = "test/fixtures/models/tiny-v1/manifest.json";
const PLACEMENTS = ["femur_r", "calcn_r"] as const;
let contract: LoadedContract;
beforeAll(async () => {
  contract = await loadManifest(MODEL);
});

/**
 * Grid sample k of every placement: acc_y encodes k (0.01 k m/s²) so a fake
 * model can tell which sample a row is; gyro z turns the heading so the yaw
 * channel, relative to each window's first row, differs window to window.
 */
function sample(placement: string, k: number): ImuSample {
  const p = placement === "femur_r" ? 0 : 1;
  return {
    sensorId: placement,
    tUs: k * 10_000,
    acc: [0.3 * Math.sin(k / 9 + p), 0.01 * k, 9.7],
    gyro: [0.05 * Math.cos(k / 7), 0.2 * Math.sin(k / 11 + p), 0.8 * Math.sin(k / 13 + 2 * p)],
  };
}

/**
 * Every row of the output fingerprints its window: joint 0 the grid index of
 * that row (from acc_y), joint 1 the index of the window's first row, joints
 * 2 and 3 the row's relative yaw of each placement (deg), joint 4 the sum of
 * all the window's inputs. A window that is wrong in any way shows.
 */
function fingerprint(x: Float32Array): Float32Array {
  const width = contract.featureCount;
  const window = contract.pipeline.window;
  const nj = contract.pipeline.joints.length;
  const out = new Float32Array(window * nj);
  let sum = 0;
  for (let i = 0; i < window * width; i++) sum += x[i]!;
  const first = Math.round(x[1]! * 100);
  for (let j = 0; j < window; j++) {
    const r = j * width;
    out[j * nj] = Math.round(x[r + 1]! * 100);
    out[j * nj + 1] = first;
    out[j * nj + 2] = (x[r + 8]! * 180) / Math.PI;
    out[j * nj + 3] = (x[r + 9 + 8]! * 180) / Math.PI;
    out[j * nj + 4] = sum;
  }
  return out;
}
const fingerprintModel: WindowModel = { run: async (x) => fingerprint(x) };

function make(perSample: object | undefined, models: { model?: WindowModel; sampleModel?: WindowModel } = {}) {
  const windows: AnglesMessage[] = [];
  const samples: SampleAnglesMessage[] = [];
  const p = new WearerPipeline("default", pipelineConfigSchema.parse(perSample ? { perSample } : {}), {
    contract,
    model: models.model ?? fingerprintModel,
    ...(models.sampleModel ? { sampleModel: models.sampleModel } : {}),
    logger: memoryLogger(),
    onAngles: (m) => windows.push(m),
    onSampleAngles: (m) => samples.push(m),
    wallNow: () => 1_700_000_000_000, // fixed: `t` is the same in every run
  });
  p.start();
  return { p, windows, samples };
}

/** One grid sample at a time, letting inference finish after each: nothing is skipped. */
async function feedIdle(p: WearerPipeline, from: number, to: number): Promise<void> {
  for (let k = from; k < to; k++) {
    for (const pl of PLACEMENTS) p.push(pl, sample(pl, k));
    await p.idle();
  }
  await p.drain();
}

/** What the per-sample output of grid sample k must be: the fingerprint's last row for the window ending at k. */
function expectedCausal(to: number): Map<number, number[]> {
  const builder = new FeatureBuilder(contract.pipeline);
  const buf = new Float32Array(contract.pipeline.window * contract.featureCount);
  const nj = contract.pipeline.joints.length;
  const row = (contract.pipeline.window - 1) * nj;
  const values = new Float64Array(12);
  const out = new Map<number, number[]>();
  for (let k = 0; k < to; k++) {
    PLACEMENTS.forEach((pl, i) => {
      const s = sample(pl, k);
      values.set([...s.acc, ...s.gyro], i * 6);
    });
    builder.push(values);
    if (builder.samples < contract.pipeline.window) continue;
    builder.buildWindow(buf);
    const y = fingerprint(buf);
    out.set(k, Array.from(y.subarray(row, row + nj), (v) => Math.round(v * 1000) / 1000));
  }
  return out;
}

describe("per-sample mode", () => {
  it("gives every grid sample from the first full window on the last row of the window ending at it, yaw relative to that window", async () => {
    const { p, samples } = make({ enabled: true, every: 1 });
    await feedIdle(p, 0, 160);
    await p.stop();
    const expected = expectedCausal(160);
    expect(samples.map((m) => m.tUs)).toEqual(Array.from({ length: 160 - 49 }, (_, i) => (49 + i) * 10_000));
    expect(samples.map((m) => m.seq)).toEqual(samples.map((_, i) => i + 1));
    for (const m of samples) {
      const k = m.tUs / 10_000;
      expect(m.a[0]).toBe(k); // the window ends at the sample itself
      expect(m.a[1]).toBe(k - 49); // ... and starts 49 samples earlier
      expect(m.a).toEqual(expected.get(k));
      expect(m.wearer).toBe("default");
    }
    // The yaw really is per window: sample 120's yaw is relative to sample 71, not to a stride window's start.
    expect(Math.abs(samples.find((m) => m.tUs === 1_200_000)!.a[2]!)).toBeGreaterThan(1);
    expect(p.stats().perSample).toEqual({ requested: 111, published: 111, skipped: 0, staleDropped: 0, failed: 0 });
  });

  it.each([2, 5] as const)("every %i: one output per that many grid samples, counted from the first full window", async (every) => {
    const { p, samples } = make({ enabled: true, every });
    await feedIdle(p, 0, 160);
    await p.stop();
    const expected = expectedCausal(160);
    const due = Array.from({ length: 160 - 49 }, (_, i) => 49 + i).filter((k) => (k - 49) % every === 0);
    expect(samples.map((m) => m.tUs / 10_000)).toEqual(due);
    for (const m of samples) expect(m.a).toEqual(expected.get(m.tUs / 10_000));
  });

  it("leaves the windowed stream exactly as it is without per-sample mode", async () => {
    const off = make(undefined);
    const on = make({ enabled: true, every: 1 });
    await feedIdle(off.p, 0, 275);
    await feedIdle(on.p, 0, 275);
    await Promise.all([off.p.stop(), on.p.stop()]);
    expect(off.windows.length).toBe(10);
    expect(on.windows).toEqual(off.windows);
    expect(off.samples).toHaveLength(0);
    expect(off.p.stats().perSample).toBeUndefined();
    // The windowed stream's sample k and the causal estimate of k agree where the window ends at k.
    const last = on.windows.map((m) => [m.sensorTimeUs!.at(-1)!, m.angles.at(-1)!] as const);
    for (const [tUs, a] of last) expect(on.samples.find((m) => m.tUs === tUs)!.a).toEqual(a);
  });

  it("with one pending request, skips to the newest while inference is behind, without holding back a window", async () => {
    const gate: Array<() => void> = [];
    // Per-sample runs wait for the test to release them; the windowed stream runs freely.
    const slow: WindowModel = {
      run: (x) => new Promise((resolve) => gate.push(() => resolve(fingerprint(x)))),
    };
    const { p, windows, samples } = make({ enabled: true, every: 1, maxPending: 1 }, { sampleModel: slow });
    for (let k = 0; k < 100; k++) {
      for (const pl of PLACEMENTS) p.push(pl, sample(pl, k));
      await new Promise((r) => setImmediate(r));
    }
    // 49, 74 and 99 end stride windows: their estimates came with those runs, at once.
    // Sample 50's run is in flight; 51..98 (but 74) each replaced the pending one: 46 skipped, 98 pending.
    expect(gate).toHaveLength(1);
    expect(samples.map((m) => m.tUs / 10_000)).toEqual([49, 74, 99]);
    expect(p.stats().perSample).toMatchObject({ requested: 51, skipped: 46, published: 3 });
    // The windowed stream was not held back: windows 0 to 2 (ending at 49, 74, 99) are out.
    expect(windows.map((m) => m.sensorTimeUs!.at(-1))).toEqual([490_000, 740_000, 990_000]);
    gate.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(gate).toHaveLength(1); // the newest request, now in flight
    gate.shift()!();
    await p.drain();
    await p.stop();
    // 50 and 98 finished after 99 was out: never published behind a newer sample, counted as skipped.
    expect(samples.map((m) => m.tUs / 10_000)).toEqual([49, 74, 99]);
    expect(samples.map((m) => m.a[0])).toEqual([49, 74, 99]);
    expect(p.stats().perSample).toEqual({ requested: 51, published: 3, skipped: 48, staleDropped: 0, failed: 0 });
  });

  it("by default queues a burst of 3 while one runs (none lost), and beyond that drops the oldest for the newest", async () => {
    const gate: Array<() => void> = [];
    const slow: WindowModel = { run: (x) => new Promise((resolve) => gate.push(() => resolve(fingerprint(x)))) };
    const { p, samples } = make({ enabled: true, every: 1 }, { sampleModel: slow });
    const push = (k: number): void => PLACEMENTS.forEach((pl) => p.push(pl, sample(pl, k)));
    for (let k = 0; k < 54; k++) push(k); // 49 rides on the first window; 50 runs; 51, 52, 53 wait
    expect(p.stats().perSample).toMatchObject({ requested: 5, skipped: 0 });
    push(54); // queue full: 51 is dropped for 54
    push(55); // ... and 52 for 55
    while (gate.length) {
      gate.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await p.drain();
    await p.stop();
    expect(samples.map((m) => Math.round(m.tUs / 10_000))).toEqual([49, 50, 53, 54, 55]);
    for (const m of samples) expect(m.a[0]).toBe(Math.round(m.tUs / 10_000));
    expect(p.stats().perSample).toEqual({ requested: 7, published: 5, skipped: 2, staleDropped: 0, failed: 0 });
  });

  it("runs the window that ends at a stride boundary once, for both streams", async () => {
    let windowedRuns = 0;
    let sampleRuns = 0;
    const counted = (count: () => void): WindowModel => ({ run: async (x) => (count(), fingerprint(x)) });
    const { p, windows, samples } = make({ enabled: true, every: 1 }, { model: counted(() => windowedRuns++), sampleModel: counted(() => sampleRuns++) });
    await feedIdle(p, 0, 160);
    await p.stop();
    // Windows end at 49, 74, 99, 124, 149; per-sample requests are 49..159 (111), 5 of them those same windows.
    expect(windows).toHaveLength(5);
    expect(samples).toHaveLength(111);
    expect(windowedRuns).toBe(5);
    expect(sampleRuns).toBe(106);
    const expected = expectedCausal(160);
    for (const m of samples) expect(m.a).toEqual(expected.get(m.tUs / 10_000));
  });

  it("a stride window skipped for a newer one skips the per-sample estimate it carried, and order is kept", async () => {
    const gate: Array<() => void> = [];
    // Now the windowed runs are the slow ones; per-sample runs are immediate.
    const slow: WindowModel = { run: (x) => new Promise((resolve) => gate.push(() => resolve(fingerprint(x)))) };
    const { p, windows, samples } = make({ enabled: true, every: 1 }, { model: slow, sampleModel: fingerprintModel });
    for (let k = 0; k < 100; k++) {
      for (const pl of PLACEMENTS) p.push(pl, sample(pl, k));
      await new Promise((r) => setImmediate(r));
    }
    // Window 0 (ending at 49) is in flight; window 1 (74) was replaced by window 2 (99) while pending.
    expect(gate).toHaveLength(1);
    while (gate.length) {
      gate.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await p.drain();
    await p.stop();
    expect(windows.map((m) => m.sensorTimeUs!.at(-1))).toEqual([490_000, 990_000]);
    // 74 went with its skipped window; 49 came back after 50..73 were out: neither is published out of order.
    const published = samples.map((m) => m.tUs / 10_000);
    expect(published).toEqual(Array.from({ length: 51 }, (_, i) => 49 + i).filter((k) => k !== 49 && k !== 74));
    expect(p.stats().perSample).toEqual({ requested: 51, published: 49, skipped: 2, staleDropped: 0, failed: 0 });
  });

  it("drops a result whose stream restarted while it ran, and starts over with the new segment's first full window", async () => {
    const gate: Array<() => void> = [];
    const slow: WindowModel = { run: (x) => new Promise((resolve) => gate.push(() => resolve(fingerprint(x)))) };
    const { p, samples } = make({ enabled: true, every: 1 }, { sampleModel: slow });
    // 49 rides on the first stride window; 50 is a per-sample run of its own.
    for (let k = 0; k < 51; k++) for (const pl of PLACEMENTS) p.push(pl, sample(pl, k));
    expect(gate).toHaveLength(1);
    // 3 s later on the sensor clock: a gap, a new segment (its grid starts at sample 350)
    for (let k = 350; k < 420; k++) for (const pl of PLACEMENTS) p.push(pl, sample(pl, k));
    while (gate.length) {
      gate.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await p.drain();
    await p.stop();
    // 49 and 50 are from the old segment: dropped. The new one's first window (399) and its newest 3 queued requests: published.
    expect(samples.map((m) => Math.round(m.tUs / 10_000))).toEqual([399, 417, 418, 419]);
    expect(p.stats().perSample).toMatchObject({ staleDropped: 2, published: 4 });
  });

  it("refuses an `every` other than 1, 2 or 5", () => {
    expect(pipelineConfigSchema.safeParse({ perSample: { enabled: true, every: 3 } }).success).toBe(false);
    expect(pipelineConfigSchema.parse({}).perSample).toEqual({ enabled: false, every: 1, maxPending: 3 });
  });
});
