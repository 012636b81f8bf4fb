import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { Recorder, recorderSchema } from "../../edge/recording/recorder.js";
import type { ImuSample } from "../../edge/sources/types.js";
import { DEMO_IMU, playAll, tempDir, removeTempDirs } from "../sources/replay/helpers.js";

function recorder(dir: string, options: Partial<ReturnType<typeof recorderSchema.parse>> = {}) {
  const logger = memoryLogger();
  const rec = new Recorder(recorderSchema.parse({ dir, deviceId: "pi-7", gzip: false, ...options }), {
    logger,
    now: () => new Date("2024-05-01T12:30:00.000Z"),
  });
  return { rec, logger };
}

function jsonLines(file: string): Record<string, unknown>[] {
  const raw = readFileSync(file);
  const text = file.endsWith(".gz") ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const demoSamples = async (): Promise<ImuSample[]> => (await playAll({ file: DEMO_IMU })).samples;

afterAll(removeTempDirs);

describe("Recorder", () => {
  for (const gzip of [false, true]) {
    it(`round-trips samples through ReplaySource (gzip: ${gzip}), with angles and events alongside`, async () => {
      const dir = tempDir();
      const samples = (await demoSamples()).slice(0, 2000);
      const withExtras: ImuSample = { ...samples[0]!, seq: 65535, mag: [20, -5, 40], quat: [1, 0, 0, 0] };
      const { rec } = recorder(dir, { gzip });
      await rec.start({ model: { name: "gaitlstm", version: "1.0.0" }, sensors: [{ id: "femur_r", placement: "femur_r" }] });
      rec.recordSample(withExtras);
      for (const s of samples.slice(1)) rec.recordSample(s);
      rec.recordAngles({ t: 1, k: "ignored", angles: { knee_flexion_r: 12.5 } });
      rec.recordEvent("broker_down", { reason: "ECONNREFUSED" });
      await rec.stop();

      const files = readdirSync(dir);
      expect(files).toEqual([gzip ? "pi-7-2024-05-01T12-30-00.000Z.jsonl.gz" : "pi-7-2024-05-01T12-30-00.000Z.jsonl"]);
      const file = join(dir, files[0]!);
      if (gzip) expect([...readFileSync(file).subarray(0, 2)]).toEqual([0x1f, 0x8b]);

      const lines = jsonLines(file);
      expect(lines[0]).toEqual({
        format: "gait-recording",
        version: 1,
        created: "2024-05-01T12:30:00.000Z",
        deviceId: "pi-7",
        part: 1,
        model: { name: "gaitlstm", version: "1.0.0" },
        sensors: [{ id: "femur_r", placement: "femur_r" }],
      });
      expect(lines.at(-2)).toEqual({ k: "a", w: Date.parse("2024-05-01T12:30:00.000Z"), t: 1, angles: { knee_flexion_r: 12.5 } });
      expect(lines.at(-1)).toMatchObject({ k: "e", name: "broker_down", data: { reason: "ECONNREFUSED" } });

      const replayed = await playAll({ file });
      expect(replayed.issues).toEqual([]);
      expect(replayed.samples).toEqual([withExtras, ...samples.slice(1)]);
      expect(rec.stats()).toMatchObject({ records: samples.length + 2, dropped: 0, files: 1, errors: 0 });
    });
  }

  it("rotates at rotateMb into self-contained files that replay back to the same samples", async () => {
    const dir = tempDir();
    const samples = (await demoSamples()).slice(0, 1000);
    const rotateMb = 0.01;
    const { rec } = recorder(dir, { rotateMb, gzip: true });
    await rec.start();
    for (const s of samples) rec.recordSample(s);
    await rec.stop();

    const files = readdirSync(dir).sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(files.length).toBe(rec.stats().files);
    expect(rec.stats().errors).toBe(0);
    const byPart = files
      .map((f) => ({ f, lines: jsonLines(join(dir, f)) }))
      .sort((a, b) => (a.lines[0]!.part as number) - (b.lines[0]!.part as number));
    expect(byPart.map((p) => p.lines[0]!.part)).toEqual(files.map((_, i) => i + 1));
    for (const [i, { lines }] of byPart.entries()) {
      expect(lines[0]).toMatchObject({ format: "gait-recording", deviceId: "pi-7" });
      // Every file but the last is cut at the first record that crosses rotateMb.
      const records = lines.slice(1).map((l) => JSON.stringify(l).length + 1);
      const size = records.reduce((a, b) => a + b, 0);
      if (i < byPart.length - 1) {
        expect(size).toBeGreaterThanOrEqual(rotateMb * 1024 * 1024);
        expect(size - records.at(-1)!).toBeLessThan(rotateMb * 1024 * 1024);
      }
    }

    const replayed = await playAll({ files: files.map((f) => join(dir, f)) });
    expect(replayed.samples).toHaveLength(samples.length);
    const key = (s: ImuSample): string => `${s.tUs}/${s.sensorId}`;
    expect(replayed.samples.map(key).sort()).toEqual(samples.map(key).sort());
  });

  it("never blocks or throws when the disk cannot keep up: drops, counts and warns", async () => {
    const dir = tempDir();
    const samples = (await demoSamples()).slice(0, 3000);
    const { rec, logger } = recorder(dir, { maxBufferedMb: 0.05 });
    await rec.start();
    // All in one synchronous burst: nothing reaches the disk until we yield.
    for (const s of samples) rec.recordSample(s);
    const { dropped, records } = rec.stats();
    expect(dropped).toBeGreaterThan(0);
    expect(records + dropped).toBe(samples.length);
    expect(logger.lines.some((l) => l.includes("disk cannot keep up"))).toBe(true);
    await rec.stop();
    const replayed = await playAll({ file: join(dir, readdirSync(dir)[0]!) });
    expect(replayed.samples).toHaveLength(records);
  });

  it("flushes gzip periodically, so a file cut off by a crash still replays up to the last flush", async () => {
    const dir = tempDir();
    const samples = (await demoSamples()).slice(0, 100);
    const { rec } = recorder(dir, { gzip: true, flushIntervalMs: 10 });
    await rec.start();
    for (const s of samples) rec.recordSample(s);
    await new Promise((r) => setTimeout(r, 100));
    // What a power cut leaves behind: the bytes so far, no gzip trailer.
    const crashed = join(tempDir(), "crashed.jsonl.gz");
    writeFileSync(crashed, readFileSync(rec.stats().currentFile!));
    await rec.stop();

    const replayed = await playAll({ file: crashed });
    expect(replayed.samples).toEqual(samples);
    expect(replayed.issues).toHaveLength(1);
    expect(replayed.issues[0]).toMatchObject({ kind: "io_error" });
    expect(replayed.ended).toBe(true);
  });

  it("counts records given before start() or after stop() as dropped", async () => {
    const dir = tempDir();
    const { rec } = recorder(dir);
    const sample: ImuSample = { sensorId: "x", tUs: 0, acc: [0, 0, 9.8], gyro: [0, 0, 0] };
    rec.recordSample(sample);
    await rec.start();
    rec.recordSample(sample);
    await rec.stop();
    rec.recordEvent("late");
    expect(rec.stats()).toMatchObject({ records: 1, dropped: 2 });
  });

  it("fails start() with the path when the directory cannot be used", async () => {
    const blocker = join(tempDir(), "a-file");
    writeFileSync(blocker, "");
    const { rec } = recorder(join(blocker, "sub"));
    await expect(rec.start()).rejects.toThrow(`recorder: cannot create ${join(blocker, "sub")}`);
    // The config's recorder.dir is the user's to fix: a ConfigError, so the CLI exits 78 and systemd does not restart.
    await expect(rec.start()).rejects.toMatchObject({ name: "ConfigError" });
  });

  it("keeps device ids file-name safe", () => {
    expect(() => recorderSchema.parse({ deviceId: "../etc" })).toThrow();
    expect(recorderSchema.parse({})).toMatchObject({ dir: "recordings", gzip: true, rotateMb: 64 });
  });
});
