/**
 * The recorder module writes the broker's coming and going (docs/recording-format.md
 * "e" records broker_up / broker_down), fed by a real MqttConnection wired to the
 * bus as the runtime wires it, against an embedded broker that dies and comes back.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents } from "../../edge/core/events.js";
import { memoryLogger } from "../../edge/log.js";
import { RecorderModule } from "../../edge/modules/recorder.js";
import { mqttConfigSchema } from "../../edge/mqtt/config.js";
import { MqttConnection } from "../../edge/mqtt/connection.js";
import { EmbeddedBroker } from "../../edge/mqtt/embeddedBroker.js";
import { recorderSchema } from "../../edge/recording/recorder.js";
import { waitFor } from "../helpers/waitFor.js";

describe("RecorderModule", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it("records broker_up and broker_down events when the MQTT connection comes and goes", async () => {
    const logger = memoryLogger();
    const dir = await mkdtemp(path.join(tmpdir(), "rec-broker-"));
    const bus = new EventBus<EdgeEvents>({ logger });
    const recorder = new RecorderModule(recorderSchema.parse({ dir, gzip: false }), { logger, bus, model: () => ({ name: "m", version: "1" }) });
    let broker = new EmbeddedBroker({ host: "127.0.0.1", port: 0 }, { logger });
    const url = await broker.start();
    const port = broker.port;
    cleanups.push(() => broker.stop());
    const connection = new MqttConnection(mqttConfigSchema.parse({ url, deviceId: "rec", reconnectMinMs: 50, reconnectMaxMs: 100 }), {
      logger,
      onChange: (e) => bus.emit("connection", e),
    });
    cleanups.push(() => connection.stop());
    await recorder.start();
    await connection.start();

    await broker.stop();
    await waitFor("the connection to notice", () => !connection.connected);
    broker = new EmbeddedBroker({ host: "127.0.0.1", port }, { logger });
    await broker.start();
    await connection.whenConnected();
    await recorder.stop();

    const [file] = await readdir(dir);
    const events = (await readFile(path.join(dir, file!), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { k: string; name?: string; data?: { reconnects: number } })
      .filter((r) => r.k === "e");
    expect(events.map((e) => e.name)).toEqual(["broker_up", "broker_down", "broker_up"]);
    expect(events.map((e) => e.data?.reconnects)).toEqual([0, 0, 1]);
  });

  it("autoStart false: nothing is written until startRecording, and stop() closes an open recording", async () => {
    const logger = memoryLogger();
    const dir = await mkdtemp(path.join(tmpdir(), "rec-cmd-"));
    const bus = new EventBus<EdgeEvents>({ logger });
    const recorder = new RecorderModule(recorderSchema.parse({ dir, gzip: false, autoStart: false }), { logger, bus, model: () => ({ name: "m", version: "1" }) });
    await recorder.start();
    const sample = { sensorId: "femur_r", tUs: 1, acc: [0, 0, 9.8], gyro: [0, 0, 0] } as const;
    bus.emit("sample", { sample, wearer: "default", placement: "femur_r" });
    expect(await readdir(dir)).toEqual([]);
    // Two starts at once: the second waits for the first and is refused, never a second file.
    const [first, second] = await Promise.allSettled([recorder.startRecording("a"), recorder.startRecording("b")]);
    expect(first).toMatchObject({ status: "fulfilled", value: { session: "a" } });
    expect(second).toMatchObject({ status: "rejected", reason: new Error('already recording session "a"; send record_stop first') });
    bus.emit("sample", { sample, wearer: "default", placement: "femur_r" });
    await recorder.stop();
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    const lines = (await readFile(path.join(dir, files[0]!), "utf8")).trim().split("\n");
    expect(lines).toHaveLength(2); // header + the one sample recorded while recording
    expect(recorder.stats()).toMatchObject({ records: 1, currentFile: undefined });
  });
});
