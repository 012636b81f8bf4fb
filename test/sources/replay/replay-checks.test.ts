/**
 * Issue #13 (replay part): bad input reported at the right level, and a replay
 * that cannot give the model what it needs refused at start, not "succeeding"
 * with exit 0 and no angles.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../../edge/log.js";
import { checkReplayCovers, ReplaySource, replaySourceSchema } from "../../../edge/sources/replay/index.js";
import { SourceConfigError } from "../../../edge/sources/types.js";
import { DEMO_IMU, fixture, playAll, removeTempDirs, startError, tempDir } from "./helpers.js";

afterAll(removeTempDirs);

const HEADER = '{"format":"gait-recording","version":1,"created":"x","deviceId":"d"}';
const sampleLine = (id: string, t: number): string => JSON.stringify({ k: "s", id, t, a: [0, 0, 9.8], g: [0, 0, 0] });

function write(name: string, lines: readonly string[]): string {
  const file = join(tempDir(), name);
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

describe("replay row errors", () => {
  it("are logged at warn with file:line and the field, the first 10 one by one, then a count", async () => {
    const rows = Array.from({ length: 25 }, (_, i) => JSON.stringify({ k: "s", id: "femur_r", t: i * 10_000, a: [0, 0], g: [0, 0, 0] }));
    const file = write("bad.jsonl", [HEADER, sampleLine("femur_r", 0), ...rows, sampleLine("femur_r", 300_000)]);
    const logger = memoryLogger();
    const { source } = await playAll({ file }, { logger });
    expect(source.stats()).toEqual({ samples: 2, issues: { bad_value: 25 } });
    const warns = logger.lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === "warn");
    expect(warns.slice(0, 10).map((w) => w.msg)).toEqual(
      Array.from({ length: 10 }, (_, i) => expect.stringMatching(new RegExp(`^${file}:${i + 3}: bad sample record: .*\\ba\\b`))),
    );
    expect(warns.slice(10).map((w) => w.msg)).toEqual(["replay: 15 more bad_value issue(s) not logged one by one"]);
  });

  it("name the file and line when time goes back", async () => {
    const file = write("back.jsonl", [HEADER, sampleLine("femur_r", 0), sampleLine("femur_r", 20_000), sampleLine("femur_r", 10_000), sampleLine("femur_r", 30_000)]);
    const logger = memoryLogger();
    const { samples, issues } = await playAll({ file }, { logger });
    expect(samples.map((s) => s.tUs)).toEqual([0, 20_000, 30_000]);
    expect(issues).toEqual([
      { kind: "bad_value", sensorId: "femur_r", message: `${file}:4: time 0.01 s of femur_r goes back from 0.02 s (rows out of order, or two recordings in one file?); row skipped` },
    ]);
    expect(logger.lines.some((l) => l.includes('"level":"warn"') && l.includes(`${file}:4: time 0.01 s`))).toBe(true);
  });
});

describe("replay refused at start", () => {
  it("a header-only file: SourceConfigError naming the file and 'no samples'", async () => {
    const file = write("header-only.csv", ["time,thigh_Accel_X,thigh_Accel_Y,thigh_Accel_Z,thigh_Gyro_X,thigh_Gyro_Y,thigh_Gyro_Z"]);
    const err = await startError({ file });
    expect(err).toBeInstanceOf(SourceConfigError);
    expect(err.message).toBe(`${file}: no samples to replay (header only?)`);
    expect((err as SourceConfigError).where).toBe(file);
  });

  it("a file whose every row is bad: SourceConfigError saying so", async () => {
    const file = write("all-bad.jsonl", [HEADER, '{"k":"s","id":"femur_r","t":0}', "not json"]);
    const err = await startError({ file });
    expect(err).toBeInstanceOf(SourceConfigError);
    expect(err.message).toBe(`${file}: no samples to replay (every row was rejected: bad_value 1, bad_frame 1)`);
  });

  it("a Camargo trial without a required sensor, from its header", async () => {
    const file = write("thigh-only_imu.csv", [
      "time,thigh_Accel_X,thigh_Accel_Y,thigh_Accel_Z,thigh_Gyro_X,thigh_Gyro_Y,thigh_Gyro_Z",
      "0,0,0,1,0,0,0",
    ]);
    const err = await startError({ file, requiredSensors: ["femur_r", "calcn_r"] });
    expect(err).toBeInstanceOf(SourceConfigError);
    expect(err.message).toBe(
      `${file}: no samples for required sensor(s) calcn_r; the replay declares femur_r (rename with "placements" or "mappingFile")`,
    );
  });

  it("takes the required sensors from the runtime (deps) too, after renames", async () => {
    const xsens = fixture("MT46_01-000_00B42D4D.txt");
    const start = (required: readonly string[], placements?: Record<string, string>) =>
      new ReplaySource(replaySourceSchema.parse({ file: xsens, speed: 0, ...(placements ? { placements } : {}) }), {
        logger: memoryLogger(),
        requiredSensors: required,
      });
    const refused = start(["femur_r"]);
    await expect(refused.start({ onSample: () => undefined, onIssue: () => undefined })).rejects.toThrow(
      /no samples for required sensor\(s\) femur_r; the replay declares 00B42D4D/,
    );
    const renamed = start(["femur_r"], { "00B42D4D": "femur_r" });
    await renamed.start({ onSample: () => undefined, onIssue: () => undefined });
    await renamed.stop();
  });

  it("a recording whose header lists no sensors is checked against the samples read ahead", async () => {
    const file = write("rec.jsonl", [HEADER, sampleLine("femur_r", 0), sampleLine("femur_r", 10_000)]);
    const err = await startError({ file, requiredSensors: ["femur_r", "calcn_r"] });
    expect(err.message).toBe(`${file}: no samples for required sensor(s) calcn_r; the replay holds femur_r (rename with "placements" or "mappingFile")`);
    const ok = await playAll({ file: write("rec2.jsonl", [HEADER, sampleLine("femur_r", 0), sampleLine("calcn_r", 0)]), requiredSensors: ["femur_r", "calcn_r"] });
    expect(ok.samples).toHaveLength(2);
    expect(ok.ended).toBe(true);
  });

  it("the demo trial covers the shipped model's placements", async () => {
    const { samples, ended } = await playAll({ file: DEMO_IMU, requiredSensors: ["femur_r", "calcn_r"] });
    expect(ended).toBe(true);
    expect(samples.length).toBeGreaterThan(1000);
  });

  it("checkReplayCovers is the same rule for callers holding a sensor list", () => {
    expect(() => checkReplayCovers("a.csv", ["femur_r"], ["femur_r"])).not.toThrow();
    expect(() => checkReplayCovers("a.csv", [], ["femur_r"])).toThrow(new SourceConfigError(
      'a.csv: no samples for required sensor(s) femur_r; the replay holds no sensor (rename with "placements" or "mappingFile")',
      "a.csv",
    ));
  });
});
