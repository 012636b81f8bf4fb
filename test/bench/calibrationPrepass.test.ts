/**
 * The bench's calibration pre-pass (edge/bench/calibrationPrepass.ts): the
 * simulated wearers calibrate their mountings once, and a runtime started
 * with the resulting `calibration.file` publishes angles from its first
 * windows (a gait-features/2 model withholds them until calibrated). Fast
 * mode, a tiny v2 model: no timing is asserted.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { BenchCalibrationFiles, calibrateSimulatedWearers, calibrationFileFor, mountingsFromStats, simulatedWearer } from "../../edge/bench/calibrationPrepass.js";
import { memoryLogger } from "../../edge/log.js";
import type { MountingStats } from "../../edge/modules/mounting.js";
import { parseCalibrationFile } from "../../edge/runtime/calibrationFile.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";

const MODEL = "test/fixtures/models/tiny-v2/manifest.json";
const SEED = 7;

const calibrated = (over: Partial<MountingStats> = {}): MountingStats => ({
  state: "calibrated", sensorId: "w1:femur_r", progress: 1, source: "walking", rotation: [1, 0, 0, 0], handedness: "right",
  quality: { planarity: 0.9, signMargin: 0.5, strides: 18, strideS: 1, periodicity: 0.9, seconds: 20, handednessScore: 0.9 },
  savedAt: "2026-12-02T00:00:00.000Z", reason: "calibrated from walking", lastFitDeg: null, judgements: 1, ...over,
});

describe("bench calibration pre-pass", () => {
  it("names the simulator's wearers as its routing does", () => {
    expect([0, 1, 9].map(simulatedWearer)).toEqual(["w1", "w2", "w10"]);
  });

  it("refuses to hand out a calibration when a sensor is not calibrated, naming it", () => {
    const stats = { "w1/femur_r": calibrated(), "w1/calcn_r": calibrated({ state: "refused", rotation: null, reason: "no_gait: moving, but not periodic walking" }) };
    expect(() => mountingsFromStats(stats, 2)).toThrow(/w1\/calcn_r: refused \(no_gait/);
    expect(() => mountingsFromStats({ "w1/femur_r": calibrated() }, 2)).toThrow("1 sensors calibrated, expected 2");
    expect(mountingsFromStats({ "w1/femur_r": calibrated() }, 1)).toEqual([
      expect.objectContaining({ wearer: "w1", placement: "femur_r", rotation: [1, 0, 0, 0], handedness: "right", sensorId: "w1:femur_r" }),
    ]);
  });

  it("writes each run's file with only that run's wearers", () => {
    const c = { mountings: mountingsFromStats({ "w1/femur_r": calibrated(), "w2/femur_r": calibrated({ sensorId: "w2:femur_r" }) }, 2), wearers: 2, walkedS: 25, wallS: 1 };
    const one = parseCalibrationFile(calibrationFileFor(c, 1), "one.json");
    expect(one.mountings.map((m) => m.wearer)).toEqual(["w1"]);
    expect(one.biases).toEqual([]);
    expect(() => calibrationFileFor(c, 3)).toThrow("calibrated 2 wearers; a run wants 3");
  });

  it("yields calibrated wearers that publish angles from their first window", async () => {
    const prepass = { model: MODEL, seed: SEED, logger: memoryLogger() };
    const calibration = await calibrateSimulatedWearers({ ...prepass, wearers: 1 });
    expect(calibration.mountings.map((m) => `${m.wearer}/${m.placement}`).sort()).toEqual(["w1/calcn_r", "w1/femur_r"]);
    // A run with more wearers than calibrated calibrates the rest first (wearer 2 only: wearer 1 is kept).
    const files = await BenchCalibrationFiles.create(calibration, prepass);
    try {
      const file = await files.fileFor(2);
      expect(files.calibration.wearers).toBe(2);
      expect(files.calibration.mountings.filter((m) => m.wearer === "w1")).toEqual(calibration.mountings);
      const saved = parseCalibrationFile(await readFile(file, "utf8"), file).mountings;
      expect(saved.map((m) => `${m.wearer}/${m.placement}`).sort()).toEqual(["w1/calcn_r", "w1/femur_r", "w2/calcn_r", "w2/femur_r"]);

      // A timed run's start: the same seed, the file through the runtime's ordinary load path.
      const config = parseConfig({
        model: MODEL,
        sources: [{ kind: "simulator", wearers: 2, realtime: false, durationS: 3, seed: SEED }],
        mqtt: { deviceId: "bench-prepass", embedded: { host: "127.0.0.1", port: 0 } },
        calibration: { file },
      });
      let ended!: () => void;
      const done = new Promise<void>((r) => (ended = r));
      const firstAngleS = new Map<string, number>();
      const runtime = new EdgeRuntime(config, {
        logger: memoryLogger(),
        onEnd: () => ended(),
        onAngles: (m) => {
          const wearer = m.wearer ?? "";
          if (!firstAngleS.has(wearer)) firstAngleS.set(wearer, m.sensorTimeUs![0]! / 1e6);
        },
      });
      try {
        await runtime.start();
        await done;
        await runtime.idle();
        const stats = runtime.stats();
        for (const [key, m] of Object.entries(stats.mounting)) {
          expect(m.state, key).toBe("calibrated");
          expect(m.source, key).toBe("file");
        }
        expect([...firstAngleS.keys()].sort()).toEqual(["w1", "w2"]);
        // The first window (50 samples, 0.5 s) is published: nothing withheld for want of a mounting.
        for (const [wearer, s] of firstAngleS) expect(s, wearer).toBeLessThan(0.1);
        for (const [wearer, p] of Object.entries(stats.pipelines)) expect(p.frames?.withheld, wearer).toBe(0);
      } finally {
        await runtime.stop();
      }
    } finally {
      await files.remove();
    }
  });
});
