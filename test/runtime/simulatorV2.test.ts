/**
 * A gait-features/2 model (test/fixtures/models/tiny-v2) on the `simulator`
 * source: every simulated sensor calibrates its mounting from the simulated
 * walking (handedness right, the rotation the simulator's documented
 * mounting) and the runtime then publishes angles. Before the simulator was
 * made a consistent rigid-body reading, its feet were refused `mirrored` and
 * a v2 model published nothing on it (demos, `make bench`, the soak).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { rotationAngleDeg, type Mat3 } from "../../edge/calibration/index.js";
import { memoryLogger } from "../../edge/log.js";
import { matrixFromQuat } from "../../edge/modules/mounting.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { SIM_MOUNTINGS, type SimPlacement } from "../../edge/sources/simulator/gaitSimulator.js";

const MODEL = "test/fixtures/models/tiny-v2/manifest.json";
const SECONDS = 45;

describe("gait-features/2 on the simulator", () => {
  it("calibrates every simulated sensor right-handed to its mounting, then publishes angles", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gait-sim-v2-"));
    const config = parseConfig({
      model: MODEL,
      sources: [{ kind: "simulator", wearers: 2, realtime: false, durationS: SECONDS, seed: 1 }],
      mqtt: { deviceId: "sim-v2", embedded: { host: "127.0.0.1", port: 0 } },
      calibration: { file: path.join(dir, "calibration.json") }, // fresh: nothing saved yet
    });
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    /** Sensor time (s) of every published angles row, per wearer. */
    const anglesAtS = new Map<string, number[]>();
    let nonFinite = 0;
    const runtime = new EdgeRuntime(config, {
      logger: memoryLogger(),
      onEnd: () => ended(),
      onAngles: (m) => {
        const rows = anglesAtS.get(m.wearer ?? "") ?? [];
        rows.push(...m.sensorTimeUs!.map((t) => t / 1e6));
        anglesAtS.set(m.wearer ?? "", rows);
        if (!m.angles.flat().every(Number.isFinite)) nonFinite += 1;
      },
    });
    try {
      await runtime.start();
      await done;
      await runtime.idle();
      const mounting = runtime.stats().mounting;
      expect(Object.keys(mounting).sort()).toEqual(["w1/calcn_r", "w1/femur_r", "w2/calcn_r", "w2/femur_r"]);
      for (const [key, m] of Object.entries(mounting)) {
        expect(m.state, `${key}: ${m.reason}`).toBe("calibrated");
        expect(m.source).toBe("walking");
        expect(m.quality!.handednessScore!, key).toBeGreaterThan(0.5);
        // The mounting up to the walking-mean tilt of the segment (6-9 deg, test/sources/simulator/gaitSimulator.calibration.test.ts).
        const placement = key.split("/")[1] as SimPlacement;
        expect(rotationAngleDeg(matrixFromQuat(m.rotation!), SIM_MOUNTINGS[placement] as Mat3), key).toBeLessThan(12);
      }
      // Angles, withheld until the calibration (20 s of walking), then to the end of the walk. Fast mode
      // outruns inference, so not every window is inferred (docs/reliability.md): count none exactly.
      expect([...anglesAtS.keys()].sort()).toEqual(["w1", "w2"]);
      expect(nonFinite).toBe(0);
      for (const [wearer, times] of anglesAtS) {
        expect(Math.min(...times), wearer).toBeGreaterThan(19);
        expect(Math.max(...times), wearer).toBeGreaterThan(SECONDS - 5);
      }
    } finally {
      await runtime.stop();
    }
  });
});
