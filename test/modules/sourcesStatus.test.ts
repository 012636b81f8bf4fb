/**
 * Sources -> bus -> status, with a fake source: routing, and the device's
 * health following `no_valid_data` / `valid_data` per source and sensor.
 */
import { describe, expect, it } from "vitest";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents, RoutedSample, StatusChange } from "../../edge/core/events.js";
import { memoryLogger } from "../../edge/log.js";
import { requiredSensorIds, SourcesModule } from "../../edge/modules/sources.js";
import { StatusModule } from "../../edge/modules/status.js";
import type { StatusMessage } from "../../edge/mqtt/topics.js";
import { FakeSource } from "./fakeSource.js";

async function rig(options: { failPublish?: boolean } = {}) {
  const logger = memoryLogger();
  const bus = new EventBus<EdgeEvents>({ logger });
  const source = new FakeSource();
  const published: StatusMessage[] = [];
  const device = {
    publishRetained: async (_suffix: "status" | "model", payload: unknown): Promise<void> => {
      if (options.failPublish) throw new Error("broker refused");
      published.push(payload as StatusMessage);
    },
  };
  const status = new StatusModule({ logger, bus, device, snapshot: () => ({}), now: () => 1 });
  const sources = new SourcesModule(
    { sources: [{ kind: "simulator" } as never], sensors: { "board-7": "femur_r" } },
    { logger, bus, waitForDrain: async () => undefined, createSource: async () => source },
  );
  const changes: StatusChange[] = [];
  const samples: RoutedSample[] = [];
  bus.on("status", (s) => changes.push(s));
  bus.on("sample", (s) => samples.push(s));
  await status.start();
  await sources.start();
  return { bus, source, status, sources, published, changes, samples, logger };
}

const imu = (sensorId: string) => ({ sensorId, tUs: 0, acc: [0, 0, 9.8] as const, gyro: [0, 0, 0] as const });

describe("requiredSensorIds", () => {
  it("names, per placement the model needs, the one sensor id routed to it, else the placement itself", () => {
    expect(requiredSensorIds(["femur_r", "calcn_r"], { "board-7": "femur_r" })).toEqual(["board-7", "calcn_r"]);
    expect(requiredSensorIds(["femur_r"], {})).toEqual(["femur_r"]);
  });
  it("requires nothing when several ids may feed one placement", () => {
    expect(requiredSensorIds(["femur_r"], { a: "femur_r", b: "femur_r" })).toBeUndefined();
  });
});

describe("SourcesModule", () => {
  it("reports each sensor's arrival rate and the age of its last sample", async () => {
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    let clock = 1000;
    const source = new FakeSource();
    const sources = new SourcesModule(
      { sources: [{ kind: "simulator" } as never], sensors: {} },
      { logger, bus, waitForDrain: async () => undefined, now: () => clock, createSource: async () => source },
    );
    await sources.start();
    source.sample(imu("w1:femur_r"));
    expect(sources.stats().sensors["w1:femur_r"]).toMatchObject({ wearer: "w1", placement: "femur_r", samples: 1, rateHz: null, ageMs: 0 });
    for (let k = 0; k < 300; k++) {
      clock += 10; // 100 Hz
      source.sample(imu("w1:femur_r"));
    }
    clock += 250;
    expect(sources.stats().sensors["w1:femur_r"]).toEqual({ wearer: "w1", placement: "femur_r", samples: 301, rateHz: 100, ageMs: 250 });
  });

  it("asks a lone replay for the sensors the model needs", async () => {
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    const asked: (readonly string[] | undefined)[] = [];
    const sources = new SourcesModule(
      { sources: [{ kind: "replay" } as never], sensors: { "board-7": "femur_r" } },
      {
        logger,
        bus,
        waitForDrain: async () => undefined,
        placements: () => ["femur_r", "calcn_r"],
        createSource: async (_c, deps) => {
          asked.push(deps.requiredSensors);
          return new FakeSource();
        },
      },
    );
    await sources.start();
    expect(asked).toEqual([["board-7", "calcn_r"]]);
  });

  it("routes sensor ids to wearer and placement (config map first, then the id itself) and counts the unroutable", async () => {
    const { source, samples, sources, logger } = await rig();
    source.sample(imu("board-7"));
    source.sample(imu("w2:calcn_r"));
    source.sample(imu("mystery"));
    source.sample(imu("mystery"));
    expect(samples.map((s) => [s.wearer, s.placement])).toEqual([
      ["default", "femur_r"],
      ["w2", "calcn_r"],
    ]);
    expect(sources.stats()).toMatchObject({ unroutedSensors: ["mystery"], sourceIssues: { unrouted: 2 } });
    expect(logger.lines.filter((l) => l.includes('sensor \\"mystery\\" is not mapped'))).toHaveLength(1);
  });

  it("says sourcesEnded once every source has ended", async () => {
    const { bus, source } = await rig();
    const ended: number[] = [];
    bus.on("sourcesEnded", ({ sources }) => ended.push(sources));
    source.end();
    expect(ended).toEqual([1]);
  });
});

describe("StatusModule", () => {
  it("turns degraded on no_valid_data with the source's reason, per sensor, and online again on valid_data", async () => {
    const { source, published, changes, status } = await rig();
    expect(published.at(-1)).toEqual({ state: "online", since: 1 });
    source.issue({ kind: "no_valid_data", sensorId: "femur", message: "all checksums bad for 2 s" });
    expect(status.status).toEqual({ state: "degraded", reason: "fake/femur: no valid data (all checksums bad for 2 s)" });
    source.issue({ kind: "no_valid_data", sensorId: "foot", message: "no frames for 2 s" });
    source.issue({ kind: "valid_data", sensorId: "femur", message: "valid samples again" });
    expect(status.status).toEqual({ state: "degraded", reason: "fake/foot: no valid data (no frames for 2 s)" });
    source.issue({ kind: "valid_data", sensorId: "foot", message: "valid samples again" });
    expect(status.status).toEqual({ state: "online" });
    expect(changes.map((c) => c.state)).toEqual(["degraded", "degraded", "degraded", "online"]);
    await new Promise((r) => setImmediate(r));
    expect(published.map((p) => p.state)).toEqual(["online", "degraded", "degraded", "degraded", "online"]);
    expect(published[1]).toMatchObject({ reason: "fake/femur: no valid data (all checksums bad for 2 s)" });
  });

  it("ignores the other source issues (a bad checksum now and then is a counter, not a status)", async () => {
    const { source, status } = await rig();
    source.issue({ kind: "bad_checksum", message: "crc" });
    source.issue({ kind: "valid_data", message: "was never invalid" });
    expect(status.status).toEqual({ state: "online" });
  });

  it("stays degraded while a wearer is unhealthy OR a source has no valid data, naming both", async () => {
    const { bus, source, status } = await rig();
    bus.emit("health", { wearer: "default", health: { healthy: false, reason: "no samples from calcn_r for 600 ms" } });
    source.issue({ kind: "no_valid_data", message: "wrong mode" });
    expect(status.status).toEqual({ state: "degraded", reason: "no samples from calcn_r for 600 ms; fake: no valid data (wrong mode)" });
    bus.emit("health", { wearer: "default", health: { healthy: true } });
    expect(status.status).toEqual({ state: "degraded", reason: "fake: no valid data (wrong mode)" });
  });

  it("logs a status it could not publish instead of letting the rejection terminate Node", async () => {
    const { bus, logger } = await rig({ failPublish: true });
    bus.emit("health", { wearer: "w1", health: { healthy: false, reason: "silent" } });
    // An unhandled rejection here would fail the test run; the warning shows it was handled.
    await new Promise((r) => setImmediate(r));
    expect(logger.lines.filter((l) => l.includes("could not publish status degraded (sent again on reconnect): broker refused"))).toHaveLength(1);
  });
});
