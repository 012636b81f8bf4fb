import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadManifest, type LoadedContract } from "../../edge/contract/manifest.js";
import type { WindowModel } from "../../edge/inference/onnxModel.js";
import { memoryLogger } from "../../edge/log.js";
import type { AnglesMessage } from "../../edge/mqtt/topics.js";
import { pipelineConfigSchema, WearerPipeline, type Health } from "../../edge/runtime/pipeline.js";
import type { ImuSample } from "../../edge/sources/types.js";
import { WindowPhasePlanner } from "../../edge/runtime/windowPhase.js";

// A gait-features/1 model (angles from the first window, no mounting calibration): this tests the runtime, not the shipped model.
const MODEL = "test/fixtures/models/tiny-v1/manifest.json";
let contract: LoadedContract;
beforeAll(async () => {
  contract = await loadManifest(MODEL);
});
afterEach(() => vi.useRealTimers());

/** Returns the window's sample index in every output cell, so tests can see which rows were published. */
const indexModel: WindowModel = {
  run: async (_x: Float32Array) => {
    const joints = contract.pipeline.joints.length;
    const window = contract.pipeline.window;
    const out = new Float32Array(window * joints);
    for (let j = 0; j < window; j++) out.fill(j, j * joints, (j + 1) * joints);
    return out;
  },
};

function sample(sensorId: string, k: number, t0Us = 0): ImuSample {
  const tUs = t0Us + k * 10_000;
  return { sensorId, tUs, acc: [0.3 * Math.sin(k / 9), 0.1, 9.7], gyro: [0.01 * Math.cos(k / 7), 0.2 * Math.sin(k / 11), 0] };
}

function make(config = {}) {
  const messages: AnglesMessage[] = [];
  const health: Health[] = [];
  const logger = memoryLogger();
  const p = new WearerPipeline("default", pipelineConfigSchema.parse(config), {
    contract,
    model: indexModel,
    logger,
    onAngles: (m) => messages.push(m),
    onHealth: (h) => health.push(h),
  });
  p.start();
  return { p, messages, health, logger };
}

async function feed(p: WearerPipeline, from: number, to: number, t0Us = 0, placements = ["femur_r", "calcn_r"] as const) {
  for (let k = from; k < to; k++) {
    for (const pl of placements) p.push(pl, sample(pl, k, t0Us));
    if (k % 25 === 0) await new Promise((r) => setImmediate(r));
  }
  await p.drain();
}

describe("WearerPipeline", () => {
  it("counts windows whose inference fails, publishes nothing for them, and logs about once a second, not once a window", async () => {
    const messages: AnglesMessage[] = [];
    const logger = memoryLogger();
    const failing: WindowModel = { run: async () => Promise.reject(new Error("implausible output: NaN")) };
    const p = new WearerPipeline("default", pipelineConfigSchema.parse({}), {
      contract,
      model: failing,
      logger,
      onAngles: (m) => messages.push(m),
      now: () => 5_000, // a frozen clock: every failure falls inside the same second
    });
    p.start();
    await feed(p, 0, 151);
    await p.stop();
    expect(messages).toHaveLength(0);
    expect(p.stats().failed).toBe(5);
    expect(logger.lines.filter((l) => l.includes("inference failed"))).toHaveLength(1);
  });

  it("publishes window 0 whole, then the last stride of every window, as one gap-free stream", async () => {
    const { p, messages } = make();
    await feed(p, 0, 151);
    await p.stop();
    expect(messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(messages[0]!.angles).toHaveLength(50);
    expect(messages.slice(1).every((m) => m.angles.length === 25)).toBe(true);
    // the last stride's rows of the model output (index model: row j -> j)
    expect(messages[1]!.angles[0]![0]).toBe(25);
    const times = messages.flatMap((m) => m.sensorTimeUs!);
    expect(times).toEqual(Array.from({ length: 150 }, (_, k) => k * 10_000));
    expect(messages[0]!.joints).toEqual(contract.pipeline.joints);
    expect(messages[0]!.model).toEqual({ name: contract.manifest.name, version: contract.manifest.version });
  });

  it("staggered windows: a second wearer due on the same tick steps 1 sample to its window 1, and its stream stays gap-free", async () => {
    const planner = new WindowPhasePlanner(() => 1_000); // both window 0s are out on the same tick
    const streams = ["a", "b"].map((wearer) => {
      const messages: AnglesMessage[] = [];
      const p = new WearerPipeline(wearer, pipelineConfigSchema.parse({}), {
        contract,
        model: indexModel,
        logger: memoryLogger(),
        onAngles: (m) => messages.push(m),
        windowPhase: planner,
      });
      p.start();
      return { p, messages };
    });
    for (const { p } of streams) await feed(p, 0, 151);
    for (const { p } of streams) await p.stop();
    const [a, b] = streams as [(typeof streams)[0], (typeof streams)[0]];
    expect(a.messages.map((m) => m.angles.length)).toEqual([50, 25, 25, 25, 25]); // alone on its tick: the contract's windows
    expect(b.messages.map((m) => m.angles.length)).toEqual([50, 1, 25, 25, 25, 25]);
    // window 1 ends at sample 50 and publishes its last row only; window 2 ends at 75
    expect(b.messages[1]!.angles[0]![0]).toBe(49);
    expect(b.messages[1]!.sensorTimeUs).toEqual([50 * 10_000]);
    expect(b.messages[2]!.angles[0]![0]).toBe(25);
    expect(b.messages.flatMap((m) => m.sensorTimeUs!)).toEqual(Array.from({ length: 151 }, (_, k) => k * 10_000));
    expect(b.p.stats().windows).toBe(6);
    expect([a.p.stats().firstStride, b.p.stats().firstStride]).toEqual([25, 1]);
  });

  it("drops bad values, counts them, and keeps going", async () => {
    const { p, messages } = make();
    for (let k = 0; k < 120; k++) {
      const s = sample("femur_r", k);
      p.push("femur_r", k === 60 ? { ...s, acc: [Number.NaN, 0, 9.8] } : k === 61 ? { ...s, gyro: [900, 0, 0] } : s);
      p.push("calcn_r", sample("calcn_r", k));
      if (k % 25 === 0) await new Promise((r) => setImmediate(r));
    }
    await p.drain();
    await p.stop();
    expect(p.stats().resamplerIssues.bad_value).toBe(2);
    expect(messages.length).toBeGreaterThanOrEqual(3);
  });

  it("turns degraded when a sensor stops, withholds stale angles, and recovers when it returns", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date", "performance"] });
    const { p, messages, health } = make({ staleAfterMs: 300 });
    await feed(p, 0, 100);
    const before = messages.length;
    // calcn_r goes silent for 2 s of wall time while femur_r keeps streaming
    for (let k = 100; k < 300; k++) {
      p.push("femur_r", sample("femur_r", k));
      vi.advanceTimersByTime(10);
    }
    expect(health.at(-1)).toEqual({ healthy: false, reason: expect.stringMatching(/no samples from calcn_r for \d+ ms/) });
    await p.drain();
    expect(messages.length).toBe(before);
    // both back, 3 s later on the sensor clock: a gap, a new segment, fresh windows
    await feed(p, 400, 520);
    expect(health.at(-1)).toEqual({ healthy: true });
    expect(messages.length).toBeGreaterThan(before);
    // the new segment starts like a trial: its first message carries a whole window, at the new times
    const restart = messages[before]!;
    expect(restart.angles).toHaveLength(50);
    expect(restart.sensorTimeUs![0]).toBe(400 * 10_000);
    expect(messages.at(-1)!.seq).toBe(messages.length);
    expect(p.stats().segments).toBeGreaterThanOrEqual(2);
    await p.stop();
  });

  it("turns degraded when a placement never sends at all", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date", "performance"] });
    const { p, messages, health } = make({ staleAfterMs: 300 });
    for (let k = 0; k < 100; k++) {
      p.push("femur_r", sample("femur_r", k));
      vi.advanceTimersByTime(10);
    }
    expect(messages).toHaveLength(0);
    expect(health.at(-1)).toEqual({ healthy: false, reason: expect.stringMatching(/no samples from calcn_r/) });
    await p.stop();
  });

  it("survives a sensor clock restart: a new segment, angles again, no blackout", async () => {
    const { p, messages } = make();
    await feed(p, 6000, 6100); // 60 s of uptime
    const before = messages.length;
    await feed(p, 0, 120); // both sensors rebooted: timestamps start again at 0
    expect(messages.length).toBeGreaterThan(before);
    expect(messages[before]!.angles).toHaveLength(50);
    expect(messages[before]!.sensorTimeUs![0]).toBe(0);
    expect(p.stats().resamplerIssues.clock_restart).toBe(1);
    expect(p.stats().resamplerIssues.backwards ?? 0).toBe(0);
    await p.stop();
  });

  it("stops judging freshness once the source has ended", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date", "performance"] });
    const { p, health } = make({ staleAfterMs: 300 });
    await feed(p, 0, 80);
    p.end();
    vi.advanceTimersByTime(5000);
    expect(health).toEqual([]);
    await p.stop();
  });

  describe("heading", () => {
    /** Both segments turning about the vertical at 0.5 rad/s, mounted as in training (thigh sensor x down, foot z up). */
    function turning(placement: "femur_r" | "calcn_r", k: number): ImuSample {
      const tUs = k * 10_000;
      return placement === "femur_r"
        ? { sensorId: placement, tUs, acc: [-9.8, 0, 0], gyro: [0.5, 0, 0] }
        : { sensorId: placement, tUs, acc: [0, 0, 9.8], gyro: [0, 0, 0.5] };
    }
    /** A model whose output depends on every input value, so any change to the features would show in the angles. */
    const sumModel: WindowModel = {
      run: async (x: Float32Array) => {
        const out = new Float32Array(contract.pipeline.window * contract.pipeline.joints.length);
        out.fill(x.reduce((a, v) => a + v, 0) / x.length);
        return out;
      },
    };
    async function run(resetAt: number | undefined) {
      const messages: AnglesMessage[] = [];
      const p = new WearerPipeline("default", pipelineConfigSchema.parse({}), { contract, model: sumModel, logger: memoryLogger(), onAngles: (m) => messages.push(m) });
      p.start();
      const headings: Array<Record<string, number>> = [];
      for (let k = 0; k < 300; k++) {
        if (k === resetAt) {
          headings.push(p.stats().headingDeg);
          p.resetHeading();
          headings.push(p.stats().headingDeg);
        }
        for (const pl of ["femur_r", "calcn_r"] as const) p.push(pl, turning(pl, k));
        if (k % 25 === 0) await p.idle();
      }
      await p.drain();
      headings.push(p.stats().headingDeg);
      await p.stop();
      return { messages, headings };
    }

    it("follows each placement's heading, and heading_reset zeroes it without changing a single angle", async () => {
      const plain = await run(undefined);
      const reset = await run(200);
      const [before, justAfter, atEnd] = reset.headings;
      // 0.5 rad/s for 1.99 s (the window ending at sample 199): 57 deg, the sign is the axis convention's
      for (const pl of ["femur_r", "calcn_r"]) {
        expect(Math.abs(before![pl]!)).toBeCloseTo(0.5 * 1.99 * (180 / Math.PI), 0);
        expect(justAfter![pl]).toBe(0);
        // the last window ends at sample 299: ~1 s of turning since the reset
        expect(Math.abs(atEnd![pl]!)).toBeCloseTo(0.5 * 1.0 * (180 / Math.PI), 0);
        expect(Math.abs(plain.headings[0]![pl]!)).toBeCloseTo(0.5 * 2.99 * (180 / Math.PI), 0); // no reset: ~3 s of turning
      }
      expect(reset.messages.map((m) => m.angles)).toEqual(plain.messages.map((m) => m.angles));
      expect(reset.messages.length).toBeGreaterThan(8);
    });
  });
});
