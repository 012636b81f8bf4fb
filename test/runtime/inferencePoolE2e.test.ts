/**
 * The whole runtime with a pool of two inference workers (inference.thread
 * worker, inference.workers 2) on a real AB06 trial: every angles message the
 * same as with the default single session on the main thread (the raw
 * outputs' bit-for-bit equality: test/inference/inferencePool.test.ts), and
 * get_status showing the pool.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RuntimeConfigInput } from "../../edge/runtime/config.js";
import { memoryLogger } from "../../edge/log.js";
import type { AnglesMessage } from "../../edge/mqtt/topics.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import type { RuntimeStats } from "../../edge/runtime/stats.js";
import { startMosquitto, type RunningMosquitto } from "../helpers/mosquitto.js";

const TRIAL = "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz";
const MODEL = "models/reduced-femur-calcn-lstm/manifest.json";
const CALIBRATION = "data/ab06/calibration.json";

let broker: RunningMosquitto;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
});

/** Replays the demo trial under `inference`; the angles messages (seq, angles) and the stats at the end. */
async function replay(deviceId: string, inference: RuntimeConfigInput["inference"]): Promise<{ angles: AnglesMessage[]; stats: RuntimeStats }> {
  const calibration = path.join(await mkdtemp(path.join(tmpdir(), "gait-pool-cal-")), "calibration.json");
  await writeFile(calibration, await readFile(CALIBRATION));
  const config = parseConfig({
    model: MODEL,
    sources: [{ kind: "replay", file: TRIAL, speed: 0 }],
    mqtt: { url: broker.url, deviceId, protocolVersion: 5 },
    calibration: { file: calibration },
    inference,
  });
  const angles: AnglesMessage[] = [];
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  const runtime = new EdgeRuntime(config, { logger: memoryLogger(), onAngles: (m) => angles.push(m), onEnd: () => ended() });
  await runtime.start();
  await done;
  const stats = runtime.stats();
  await runtime.stop();
  return { angles, stats };
}

describe("the runtime on a pool of inference workers", () => {
  it("publishes the same angles messages as one session on the main thread, and shows the pool in get_status", async () => {
    const single = await replay("pool-e2e-main", {});
    const pooled = await replay("pool-e2e-pool", { thread: "worker", workers: 2 });
    expect(single.stats.inference).toBeUndefined();
    expect(pooled.angles.length).toBeGreaterThan(60);
    expect(pooled.stats.pipelines.default!.skipped).toBe(0);
    expect(pooled.angles.map((m) => [m.seq, m.angles])).toEqual(single.angles.map((m) => [m.seq, m.angles]));
    expect(pooled.stats.inference).toMatchObject({ workers: 2, alive: 2, lostWindows: 0 });
    expect(pooled.stats.inference!.windowsByWorker.reduce((s, n) => s + n, 0)).toBe(pooled.angles.length);
  });
});
