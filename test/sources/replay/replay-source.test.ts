import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../../edge/log.js";
import { detectFormat, ReplaySource, replaySourceSchema } from "../../../edge/sources/replay/index.js";
import type { ImuSample } from "../../../edge/sources/types.js";
import { DEMO_IMU, fixture, playAll, startError, tempDir, removeTempDirs } from "./helpers.js";

/** A gait recording of `n` samples of one sensor at 100 Hz. */
function writeRecording(n: number, name = "rec.jsonl"): string {
  const file = join(tempDir(), name);
  const header = { format: "gait-recording", version: 1, created: "2024-01-01T00:00:00.000Z", deviceId: "test" };
  const lines = [JSON.stringify(header)];
  for (let i = 0; i < n; i++) lines.push(JSON.stringify({ k: "s", id: "femur_r", t: i * 10_000, a: [0, 0, 9.8], g: [i, 0, 0] }));
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

afterAll(removeTempDirs);

describe("ReplaySource", () => {
  it("detects each format from the first line, not the name", async () => {
    expect(await detectFormat(DEMO_IMU)).toBe("camargo");
    expect(await detectFormat(fixture("MT46_01-000_00B42D4D.txt"))).toBe("xsens");
    expect(await detectFormat(fixture("MT2022_ACC_GYRO_ROT_MAT_COMMA_00B42D4B.txt"))).toBe("xsens");
    const renamed = join(tempDir(), "looks_like_imu.csv");
    writeFileSync(renamed, '{"format":"gait-recording","version":1,"created":"x","deviceId":"d"}\n');
    expect(await detectFormat(renamed)).toBe("recording");
  });

  it("fails start() with an Error naming the file for a missing file or an unknown format", async () => {
    const missing = join(tempDir(), "nope.csv");
    expect((await startError({ file: missing })).message).toBe(`${missing}: cannot open replay file: file not found`);

    const unknown = join(tempDir(), "notes.txt");
    writeFileSync(unknown, "hello world\n");
    expect((await startError({ file: unknown })).message).toMatch(new RegExp(`^${unknown}: unrecognised replay format`));

    const empty = join(tempDir(), "empty.csv");
    writeFileSync(empty, "");
    expect((await startError({ file: empty })).message).toContain(`${empty}: empty file`);

    expect((await startError({})).message).toContain("no file to play");
    expect((await startError({ file: DEMO_IMU, files: [DEMO_IMU] })).message).toContain('not both');
  });

  it("paces samples by their timestamps: 0.5 s at speed 10 is not instantaneous", async () => {
    const file = writeRecording(51); // 0 .. 0.5 s
    const began = performance.now();
    const { samples } = await playAll({ file, speed: 10 });
    const elapsed = performance.now() - began;
    expect(samples.map((s) => s.gyro[0])).toEqual(Array.from({ length: 51 }, (_, i) => i));
    expect(elapsed).toBeGreaterThanOrEqual(40); // 50 ms of file time at 10x
  });

  it("as fast as possible, hands the event loop back between chunks and waits for drain", async () => {
    let drains = 0;
    let samplesAtFirstTick: number | undefined;
    let count = 0;
    const source = new ReplaySource(replaySourceSchema.parse({ file: DEMO_IMU, speed: 0, chunk: 100 }), {
      logger: memoryLogger(),
      waitForDrain: async () => {
        drains += 1;
      },
    });
    await new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        samplesAtFirstTick = count;
      });
      source.start({ onSample: () => (count += 1), onIssue: reject, onEnd: resolve }).catch(reject);
    });
    await source.stop();
    expect(count).toBe(source.stats().samples);
    expect(samplesAtFirstTick).toBeDefined();
    expect(samplesAtFirstTick!).toBeLessThan(count);
    expect(drains).toBe(Math.floor(count / 100));
  });

  it("loops with timestamps that keep increasing, until stopped (no onEnd after stop)", async () => {
    const file = writeRecording(3);
    const seen: ImuSample[] = [];
    let ended = false;
    const source = new ReplaySource(replaySourceSchema.parse({ file, speed: 0, loop: true, chunk: 4 }), {
      logger: memoryLogger(),
    });
    await new Promise<void>((resolve, reject) => {
      source
        .start({
          onSample: (s) => {
            seen.push(s);
            if (seen.length === 10) resolve();
          },
          onIssue: reject,
          onEnd: () => (ended = true),
        })
        .catch(reject);
    });
    await source.stop();
    expect(ended).toBe(false);
    // Three passes and a bit: 0, 10, 20 ms, then 30, 40, 50 ms (one sample period after the last)...
    expect(seen.slice(0, 7).map((s) => s.tUs)).toEqual([0, 10, 20, 30, 40, 50, 60].map((ms) => ms * 1000));
    expect(seen.slice(0, 7).map((s) => s.gyro[0])).toEqual([0, 1, 2, 0, 1, 2, 0]);
  });

  it("stop() during real-time play returns promptly and delivers nothing more", async () => {
    const file = writeRecording(1000); // 10 s of file time
    const seen: ImuSample[] = [];
    const source = new ReplaySource(replaySourceSchema.parse({ file, speed: 1 }), { logger: memoryLogger() });
    await source.start({ onSample: (s) => seen.push(s), onIssue: () => undefined });
    await new Promise((r) => setTimeout(r, 30));
    await source.stop();
    const count = seen.length;
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 30));
    expect(seen.length).toBe(count);
  });

  it("keeps stats of samples and issues by kind", async () => {
    const file = join(tempDir(), "stats.jsonl");
    writeFileSync(
      file,
      [
        '{"format":"gait-recording","version":1,"created":"x","deviceId":"d"}',
        '{"k":"s","id":"a","t":0,"a":[0,0,9.8],"g":[0,0,0]}',
        "not json",
        '{"k":"s","id":"a","t":1,"a":[0,0],"g":[0,0,0]}',
      ].join("\n"),
    );
    const { source } = await playAll({ file });
    expect(source.stats()).toEqual({ samples: 1, issues: { bad_frame: 1, bad_value: 1 } });
  });
});
