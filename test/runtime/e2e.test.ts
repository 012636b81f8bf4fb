/**
 * The whole runtime through a real mosquitto (MQTT 5): a real AB06 trial in,
 * angles, retained status and model info out; commands over MQTT; and the
 * demo's accuracy figure against `make evaluate` on the same trial.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { connectAsync, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import type { AnglesMessage, ModelInfoMessage, StatusMessage } from "../../edge/mqtt/topics.js";
import { encodeSample } from "../../edge/recording/format.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { runDemo } from "../../edge/runtime/demo.js";
import { sendCommand } from "../../edge/runtime/remote.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { startMosquitto, type RunningMosquitto } from "../helpers/mosquitto.js";

const TRIAL = "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz";
const MODEL = "models/reduced-femur-calcn-lstm/manifest.json";
/** The demo trial's mounting calibration (made by the edge from another AB06 trial: data/ab06/README.md): the shipped v2 model needs one. */
const CALIBRATION = "data/ab06/calibration.json";
/** A gait-features/1 test model, for what tests the runtime's v1 path (the static calibration's mounting offset, the heading). */
const V1_MODEL = "test/fixtures/models/tiny-v1/manifest.json";

/** A temporary copy of the demo's calibration (the runtime saves re-checks into it; never into the shipped file). */
async function calibrationCopy(): Promise<string> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), "gait-e2e-cal-")), "calibration.json");
  await writeFile(file, await readFile(CALIBRATION));
  return file;
}
let broker: RunningMosquitto;

beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
});

async function subscriber(topic: string): Promise<{ client: MqttClient; messages: Map<string, unknown[]> }> {
  const client = await connectAsync(broker.url, { protocolVersion: 5 });
  const messages = new Map<string, unknown[]>();
  client.on("message", (t, payload) => {
    const list = messages.get(t) ?? [];
    list.push(JSON.parse(payload.toString()));
    messages.set(t, list);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, messages };
}

describe("edge runtime end to end", () => {
  it("refuses at start a replay that lacks a placement the model needs, naming the file and the sensor", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gait-missing-"));
    const file = path.join(dir, "thigh_only_imu.csv");
    // A Camargo-layout file with the thigh only: the model also needs the foot (calcn_r).
    await writeFile(file, "time,thigh_Accel_X,thigh_Accel_Y,thigh_Accel_Z,thigh_Gyro_X,thigh_Gyro_Y,thigh_Gyro_Z\n0,1,0,0,0,0,0\n0.005,1,0,0,0,0,0\n");
    const config = parseConfig({ model: MODEL, sources: [{ kind: "replay", file, speed: 0 }], mqtt: { url: broker.url, deviceId: "e2e-missing", protocolVersion: 5 } });
    const runtime = new EdgeRuntime(config, { logger: memoryLogger() });
    const started = runtime.start();
    await expect(started).rejects.toMatchObject({ name: "SourceConfigError" });
    await expect(started).rejects.toThrow(/thigh_only_imu\.csv.*calcn_r/);
    await runtime.stop();
  });


  it("replays a real trial into gap-free angles on mosquitto, with retained status and model info", async () => {
    // The shipped model reads segment frames: with the saved mounting calibration its angles start at once.
    const config = parseConfig({
      model: MODEL,
      sources: [{ kind: "replay", file: TRIAL, speed: 0 }],
      mqtt: { url: broker.url, deviceId: "e2e", protocolVersion: 5 },
      calibration: { file: await calibrationCopy() },
    });
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    const runtime = new EdgeRuntime(config, { logger: memoryLogger(), onEnd: () => ended() });
    const sub = await subscriber("gait/e2e/#");
    await runtime.start();
    await done;
    const published = runtime.stats().pipelines.default!.published;
    for (let i = 0; i < 100 && (sub.messages.get("gait/e2e/angles")?.length ?? 0) < published; i++) await new Promise((r) => setTimeout(r, 20));
    const stats = runtime.stats();
    await runtime.stop();
    await sub.client.endAsync();

    const angles = sub.messages.get("gait/e2e/angles") as AnglesMessage[];
    expect(stats.pipelines.default!.skipped).toBe(0);
    expect(angles.length).toBe(published);
    expect(angles.length).toBeGreaterThan(60); // ~20 s at 4 windows/s
    expect(angles.map((m) => m.seq)).toEqual(angles.map((_, i) => i + 1));
    expect(angles[0]!.angles).toHaveLength(50);
    expect(angles.slice(1).every((m) => m.angles.length === 25)).toBe(true);
    const t = angles.flatMap((m) => m.sensorTimeUs!);
    const steps = t.slice(1).map((v, i) => v - t[i]!);
    expect(Math.min(...steps)).toBeCloseTo(10_000, 0);
    expect(Math.max(...steps)).toBeCloseTo(10_000, 0);
    expect(angles[0]!.joints).toEqual(["hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r"]);
    const model = (sub.messages.get("gait/e2e/model") as ModelInfoMessage[]).at(-1)!;
    expect(model.name).toBe("reduced-femur-calcn-lstm");
    const status = sub.messages.get("gait/e2e/status") as StatusMessage[];
    expect(status[0]!.state).toBe("online");
    expect(status.at(-1)!.state).toBe("offline"); // stop() leaves a retained offline
  });

  it("answers commands: calibrate on a still wearer sets the gyro bias, and refuses a moving one", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "still-"));
    const file = path.join(dir, "still.jsonl");
    const header = { format: "gait-recording", version: 1, created: new Date().toISOString(), deviceId: "still" };
    const lines = [JSON.stringify(header)];
    for (let k = 0; k < 1500; k++) {
      const tUs = k * 10_000;
      // The thigh as AB06's reads at rest through the fixed Camargo reader (x up the thigh), as the v1 model was trained.
      lines.push(encodeSample({ sensorId: "femur_r", tUs, acc: [9.8, -0.1, -0.4], gyro: [0.02, -0.01, 0.005] }));
      lines.push(encodeSample({ sensorId: "calcn_r", tUs, acc: [0.2, 0.1, 9.8], gyro: [-0.01, 0.0, 0.01] }));
    }
    await writeFile(file, lines.join("\n") + "\n");
    const calibrationFile = path.join(dir, "state", "calibration.json");
    await mkdir(path.dirname(calibrationFile));
    const config = parseConfig({
      model: V1_MODEL, // the mounting offset against the model's reference is v1's (a v2 model has a constant reference)
      sources: [{ kind: "replay", file, speed: 1 }],
      mqtt: { url: broker.url, deviceId: "cal", protocolVersion: 5 },
      calibration: { file: calibrationFile },
    });
    const runtime = new EdgeRuntime(config, { logger: memoryLogger() });
    await runtime.start();
    await new Promise((r) => setTimeout(r, 300));
    const ok = await sendCommand(broker.url, "gait", "cal", { command: "calibrate", args: { durationS: 0.5 } });
    expect(ok.status).toBe("ok");
    const femur = (ok.data as Record<string, { gyroBias: number[]; mountingOffsetDeg: number }>)["default/femur_r"]!;
    expect(femur.gyroBias[0]).toBeCloseTo(0.02, 6);
    expect(femur.mountingOffsetDeg).toBeLessThan(10); // mounted as in training
    const status = await sendCommand(broker.url, "gait", "cal", { command: "get_status" });
    const applied = (status.data as { pipelines: Record<string, { gyroBias: Record<string, number[]> }> }).pipelines.default!;
    expect(applied.gyroBias.femur_r![0]).toBeCloseTo(0.02, 6);
    const heading = await sendCommand(broker.url, "gait", "cal", { command: "heading_reset" });
    expect(heading.status).toBe("ok");
    const bad = await sendCommand(broker.url, "gait", "cal", { command: "calibrate", args: { durationS: 99 } });
    expect(bad).toMatchObject({ status: "error", error: expect.stringMatching(/durationS must be in/) });
    await runtime.stop();

    // A restart keeps the calibration (calibration.file), and a malformed file only loses it.
    expect(JSON.parse(await readFile(calibrationFile, "utf8")).sensors["default/femur_r"].gyroBias[0]).toBeCloseTo(0.02, 6);
    const restarted = new EdgeRuntime(config, { logger: memoryLogger() });
    await restarted.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(restarted.stats().pipelines.default!.gyroBias.femur_r![0]).toBeCloseTo(0.02, 6);
    await restarted.stop();
    await writeFile(calibrationFile, "{ not json");
    const logger = memoryLogger();
    const uncalibrated = new EdgeRuntime(config, { logger });
    await uncalibrated.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(uncalibrated.stats().pipelines.default!.gyroBias.femur_r).toEqual([0, 0, 0]);
    expect(logger.lines.some((l) => /ignoring a malformed saved calibration.*calibration\.json: not JSON/.test(l))).toBe(true);
    await uncalibrated.stop();

    // One sensor still, the other moving: refused as a whole, nothing applied.
    const half = path.join(dir, "half.jsonl");
    const halfLines = [JSON.stringify({ ...header, deviceId: "half" })];
    for (let k = 0; k < 1500; k++) {
      const tUs = k * 10_000;
      halfLines.push(encodeSample({ sensorId: "femur_r", tUs, acc: [-9.8, 0.1, 0.4], gyro: [0.02, -0.01, 0.005] }));
      halfLines.push(encodeSample({ sensorId: "calcn_r", tUs, acc: [0.2, 0.1, 9.8], gyro: [2 * Math.sin(k / 10), 0, 0] }));
    }
    await writeFile(half, halfLines.join("\n") + "\n");
    const partial = new EdgeRuntime(
      parseConfig({ model: V1_MODEL, sources: [{ kind: "replay", file: half, speed: 1 }], mqtt: { url: broker.url, deviceId: "half", protocolVersion: 5 } }),
      { logger: memoryLogger() },
    );
    await partial.start();
    await new Promise((r) => setTimeout(r, 300));
    const refusedHalf = await sendCommand(broker.url, "gait", "half", { command: "calibrate", args: { durationS: 0.5 } });
    expect(refusedHalf).toMatchObject({ status: "error", error: expect.stringMatching(/nothing changed.*calcn_r: moving/) });
    expect(partial.stats().pipelines.default!.gyroBias.femur_r).toEqual([0, 0, 0]);
    await partial.stop();

    const moving = new EdgeRuntime(
      parseConfig({ model: V1_MODEL, sources: [{ kind: "simulator" }], sensors: { "w1:femur_r": "femur_r", "w1:calcn_r": "calcn_r" }, mqtt: { url: broker.url, deviceId: "walk", protocolVersion: 5 } }),
      { logger: memoryLogger() },
    );
    await moving.start();
    const refused = await sendCommand(broker.url, "gait", "walk", { command: "calibrate", args: { durationS: 0.5 } });
    expect(refused).toMatchObject({ status: "error", error: expect.stringMatching(/moving during calibration/) });
    await moving.stop();
  });

  it("heading_reset zeroes each placement's AHRS heading in get_status", async () => {
    // A still wearer whose gyros carry a bias about the vertical: the heading drifts ~1 deg/s (thigh) and ~0.6 deg/s (foot).
    const dir = await mkdtemp(path.join(tmpdir(), "heading-"));
    const file = path.join(dir, "drift.jsonl");
    const lines = [JSON.stringify({ format: "gait-recording", version: 1, created: new Date().toISOString(), deviceId: "drift" })];
    for (let k = 0; k < 3000; k++) {
      const tUs = k * 10_000;
      lines.push(encodeSample({ sensorId: "femur_r", tUs, acc: [-9.8, 0.1, 0.4], gyro: [0.02, -0.01, 0.005] }));
      lines.push(encodeSample({ sensorId: "calcn_r", tUs, acc: [0.2, 0.1, 9.8], gyro: [-0.01, 0.0, 0.01] }));
    }
    await writeFile(file, lines.join("\n") + "\n");
    // A v1 model: its AHRS runs from the first sample (a v2 model's waits for the mounting, which a still wearer never gets).
    const runtime = new EdgeRuntime(
      parseConfig({ model: V1_MODEL, sources: [{ kind: "replay", file, speed: 1 }], mqtt: { url: broker.url, deviceId: "heading", protocolVersion: 5 } }),
      { logger: memoryLogger() },
    );
    await runtime.start();
    const heading = async (): Promise<Record<string, number>> => {
      const r = await sendCommand(broker.url, "gait", "heading", { command: "get_status" });
      return (r.data as { pipelines: Record<string, { headingDeg: Record<string, number> }> }).pipelines.default?.headingDeg ?? {};
    };
    let before: Record<string, number> = {};
    // Paced well under the command rate limit (10/s): this is a poll, not a flood.
    for (let i = 0; i < 100 && !(Math.abs(before.femur_r ?? 0) > 1.5 && Math.abs(before.calcn_r ?? 0) > 0.5); i++) {
      await new Promise((r) => setTimeout(r, 150));
      before = await heading();
    }
    expect(Math.abs(before.femur_r!)).toBeGreaterThan(1.5);
    expect(Math.abs(before.calcn_r!)).toBeGreaterThan(0.5);
    const reset = await sendCommand(broker.url, "gait", "heading", { command: "heading_reset" });
    expect(reset).toMatchObject({ status: "ok", data: { wearers: ["default"] } });
    const after = await heading();
    // At most a window or two of drift since the reset.
    expect(Math.abs(after.femur_r!)).toBeLessThan(0.5);
    expect(Math.abs(after.calcn_r!)).toBeLessThan(0.5);
    const refused = await sendCommand(broker.url, "gait", "heading", { command: "heading_reset", args: { wearer: "x" } });
    expect(refused).toMatchObject({ status: "error", error: expect.stringMatching(/^invalid args for heading_reset/) });
    await runtime.stop();
  });

  it("refuses a malformed model at start with a clear error", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "badmodel-"));
    await writeFile(path.join(dir, "manifest.json"), JSON.stringify({ schema: "gait-model-contract/1", name: "x" }));
    const runtime = new EdgeRuntime(parseConfig({ model: dir, sources: [{ kind: "simulator" }], mqtt: { url: broker.url } }), { logger: memoryLogger() });
    await expect(runtime.start()).rejects.toThrowError(/manifest\.json/);
  });

  it("prints the same RMSE as `make evaluate` on the demo trial (within 0.5 deg)", async () => {
    // The shipped model is v2: the demo takes its mountings from data/ab06/calibration.json (found by
    // the edge on ANOTHER trial of the session), `evaluate` calibrates on this trial's first 30 s
    // (docs/contract.md 2b). Same samples, same features otherwise; the two calibrations differ by
    // about 1 deg, the RMSE by about 0.1 deg (v1, which needs no calibration, agreed within 0.02).
    const lines: string[] = [];
    const demo = await runDemo({ trial: path.resolve(TRIAL), model: MODEL, speed: 0, logger: memoryLogger(), out: (l) => lines.push(l) });
    expect(lines.at(-1)).toMatch(/mean\s+\d+\.\d\d deg/);
    expect(demo.seqGaps).toBe(0);
    const { stdout } = await promisify(execFile)(
      path.resolve(".venv/bin/python"),
      ["-m", "gaitlstm", "evaluate", "--model", path.resolve(MODEL), "--data", path.resolve("data/ab06")],
      { cwd: path.resolve("training"), maxBuffer: 1 << 24 },
    );
    const evaluated = JSON.parse(stdout.slice(stdout.indexOf("{"))) as { mean_rmse_deg: number; n_samples: number };
    expect(demo.samples).toBe(evaluated.n_samples);
    expect(Math.abs(demo.rmse.mean - evaluated.mean_rmse_deg)).toBeLessThan(0.5); // the bar
  }, 120_000);
});
