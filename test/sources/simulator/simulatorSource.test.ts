import { afterEach, describe, expect, it, vi } from "vitest";
import { memoryLogger } from "../../../edge/log.js";
import {
  SimulatorSource,
  simulatorSensorId,
  simulatorSourceSchema,
  type SimulatorSourceConfig,
} from "../../../edge/sources/simulator/simulatorSource.js";
import type { ImuSample } from "../../../edge/sources/types.js";

function collect(config: Partial<SimulatorSourceConfig>, deps: { now?: () => number } = {}) {
  const source = new SimulatorSource(simulatorSourceSchema.parse(config), { logger: memoryLogger(), ...deps });
  const samples: ImuSample[] = [];
  let ended = 0;
  const handlers = {
    onSample: (s: ImuSample) => samples.push(s),
    onIssue: () => {},
    onEnd: () => {
      ended++;
    },
  };
  return { source, samples, handlers, ended: () => ended };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("simulatorSourceSchema", () => {
  it("has the documented defaults", () => {
    expect(simulatorSourceSchema.parse({})).toMatchObject({
      wearers: 1,
      rateHz: 100,
      placements: ["femur_r", "calcn_r"],
      realtime: true,
      sensorIdFormat: "w{wearer}:{placement}",
    });
  });

  it("rejects fast mode without an end and ids that would collide", () => {
    expect(simulatorSourceSchema.safeParse({ realtime: false }).success).toBe(false);
    expect(simulatorSourceSchema.safeParse({ wearers: 2, sensorIdFormat: "{placement}" }).success).toBe(false);
    expect(simulatorSourceSchema.safeParse({ placements: ["tibia_r"] }).success).toBe(false);
  });

  it("numbers wearers from 1 in sensor ids", () => {
    expect(simulatorSensorId("w{wearer}:{placement}", 0, "calcn_r")).toBe("w1:calcn_r");
  });
});

describe("SimulatorSource fast mode", () => {
  it("emits every stream on the grid with correct timestamps, then calls onEnd once", async () => {
    const t = collect({ wearers: 3, realtime: false, durationS: 2, rateHz: 100 });
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(t.ended()).toBe(1));

    expect(t.samples).toHaveLength(3 * 2 * 200);
    expect(t.source.stats().samples).toBe(1200);
    const w2foot = t.samples.filter((s) => s.sensorId === "w2:calcn_r");
    expect(w2foot).toHaveLength(200);
    expect(w2foot.slice(0, 3).map((s) => s.tUs)).toEqual([0, 10_000, 20_000]);
    expect(w2foot.at(-1)?.tUs).toBe(1_990_000);
    expect(w2foot.every((s, k) => s.seq === k)).toBe(true);
    expect(new Set(t.samples.map((s) => s.sensorId))).toEqual(
      new Set(["w1:femur_r", "w1:calcn_r", "w2:femur_r", "w2:calcn_r", "w3:femur_r", "w3:calcn_r"]),
    );
    await t.source.stop();
    expect(t.ended()).toBe(1);
  });

  it("startSpreadS: wearer w starts w / wearers of it later, on the same grid; 0 (the default) starts all together", async () => {
    expect(simulatorSourceSchema.parse({}).startSpreadS).toBe(0);
    const t = collect({ wearers: 4, realtime: false, durationS: 1, rateHz: 100, startSpreadS: 0.2 });
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(t.ended()).toBe(1));
    const firstSeq = (id: string): number | undefined => t.samples.find((s) => s.sensorId === id)?.seq;
    expect(["w1:femur_r", "w2:femur_r", "w3:calcn_r", "w4:femur_r"].map(firstSeq)).toEqual([0, 5, 10, 15]);
    const w3 = t.samples.filter((s) => s.sensorId === "w3:femur_r");
    expect(w3).toHaveLength(90);
    expect(w3[0]!.tUs).toBe(100_000); // the shared grid's time of sample 10
    await t.source.stop();
  });

  it("gives the same samples for the same seed", async () => {
    const run = async (seed: number) => {
      const t = collect({ realtime: false, durationS: 0.5, seed });
      await t.source.start(t.handlers);
      await vi.waitFor(() => expect(t.ended()).toBe(1));
      return t.samples;
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect((await run(8))[0]?.acc).not.toEqual(a[0]?.acc);
  });

  it("stops early on stop() without calling onEnd", async () => {
    const t = collect({ wearers: 50, realtime: false, durationS: 3600 });
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(t.samples.length).toBeGreaterThan(0));
    await t.source.stop();
    const count = t.samples.length;
    await new Promise((r) => setImmediate(r));
    expect(t.samples.length).toBe(count);
    expect(count).toBeLessThan(50 * 2 * 360_000);
    expect(t.ended()).toBe(0);
  });
});

describe("SimulatorSource real-time mode", () => {
  it("emits by elapsed time, catching up after a late tick, and ends at durationS", async () => {
    vi.useFakeTimers();
    let clock = 0;
    const t = collect({ realtime: true, durationS: 1, rateHz: 100 }, { now: () => clock });
    await t.source.start(t.handlers);
    expect(t.samples).toHaveLength(0); // nothing inside start()

    clock = 10;
    vi.advanceTimersByTime(10);
    // Samples 0 and 1 (t = 0 and 10 ms) are due, for both placements.
    expect(t.samples).toHaveLength(4);

    // The event loop was blocked for 300 ms: the next tick catches up.
    clock = 310;
    vi.advanceTimersByTime(10);
    expect(t.samples).toHaveLength(2 * 32);
    expect(t.samples.at(-1)?.tUs).toBe(310_000);

    clock = 5_000;
    vi.advanceTimersByTime(10);
    expect(t.samples).toHaveLength(2 * 100);
    expect(t.ended()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(t.samples).toHaveLength(2 * 100);
    await t.source.stop();
  });

  it("runs on the real clock until stopped", async () => {
    const t = collect({ realtime: true, rateHz: 200 });
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(t.samples.length).toBeGreaterThanOrEqual(20));
    await t.source.stop();
    const count = t.samples.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(t.samples.length).toBe(count);
    expect(t.ended()).toBe(0);
  });
});
