/**
 * `gait-edge demo` with a gait-features/2 model (test/fixtures/models/tiny-v2):
 * it starts from the calibration shipped beside the demo trial
 * (data/ab06/calibration.json) and shows angles from the first second; without
 * a calibration on a trial too short to calibrate it says why there are none
 * (instead of scoring NaN). The shipped file must still fit the demo trial.
 * (v1: test/runtime/e2e.test.ts.)
 */
import { copyFile, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { stillFits, type Vec3 } from "../../edge/calibration/index.js";
import { GridResampler } from "../../edge/features/resampler.js";
import { memoryLogger } from "../../edge/log.js";
import { matrixFromQuat } from "../../edge/modules/mounting.js";
import { parseCalibrationFile } from "../../edge/runtime/calibrationFile.js";
import { runDemo } from "../../edge/runtime/demo.js";
import { AB06_TRIAL, ab06Samples } from "../helpers/ab06.js";

const V2 = "test/fixtures/models/tiny-v2/manifest.json";
const SHIPPED = "data/ab06/calibration.json";

describe("demo with a gait-features/2 model", () => {
  it("loads the calibration shipped beside the trial: angles from the first second, the file itself untouched", async () => {
    const before = await readFile(SHIPPED, "utf8");
    const lines: string[] = [];
    const demo = await runDemo({ trial: path.resolve(AB06_TRIAL), model: V2, speed: 0, logger: memoryLogger(), out: (l) => lines.push(l) });
    expect(demo.calibration).toBe(path.resolve(SHIPPED));
    expect(lines).toContain(`mounting calibration from ${path.resolve(SHIPPED)} (re-checked while walking)`);
    expect(demo.messages).toBeGreaterThan(60); // the whole 17 s trial: (1700 - 50) / 25 + 1 windows
    expect(lines.find((l) => l.startsWith("#  1 "))).toMatch(/t=\s+0\.49 s/);
    expect(lines.some((l) => /calibrating/.test(l))).toBe(false);
    expect(demo.rmse.mean).toBeLessThan(15); // a tiny model, but angles, not garbage
    expect(await readFile(SHIPPED, "utf8")).toBe(before);
  });

  it("without a calibration on a 17 s trial, fails saying why there are no angles", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gait-demo-nocal-"));
    for (const f of ["levelground_ccw_normal_04_01_imu.csv.gz", "levelground_ccw_normal_04_01_ik.csv.gz"]) await copyFile(path.join("data/ab06", f), path.join(dir, f));
    const lines: string[] = [];
    await expect(runDemo({ trial: path.join(dir, "levelground_ccw_normal_04_01_imu.csv.gz"), model: V2, speed: 0, logger: memoryLogger(), out: (l) => lines.push(l) })).rejects.toThrow(
      /the demo received no angles \(last status: online \(femur_r: calibrating mounting \d+% \(keep walking; no angles until then\).*pass --calibration <file>/,
    );
    expect(lines).toContain("no calibration file: the sensors calibrate themselves from the first 20-30 s of walking; the angles start then");
  });

  it("the shipped calibration (from levelground_ccw_normal_02_01) still fits the demo trial (regenerate it if a reader changes: data/ab06/README.md)", async () => {
    const { mountings } = parseCalibrationFile(await readFile(SHIPPED, "utf8"), SHIPPED);
    expect(mountings.map((m) => m.placement).sort()).toEqual(["calcn_r", "femur_r"]);
    // The demo trial on the model's grid, as the runtime re-checks it.
    const grid: { acc: Vec3[]; gyro: Vec3[] }[] = [{ acc: [], gyro: [] }, { acc: [], gyro: [] }];
    const placements = ["femur_r", "calcn_r"] as const;
    const r = new GridResampler(
      { placements, sampleRateHz: 100, config: { maxGapS: 0.1, queueCapacity: 512 } },
      {
        onGridSample: (g) => placements.forEach((_p, i) => {
          grid[i]!.acc.push([g.values[6 * i]!, g.values[6 * i + 1]!, g.values[6 * i + 2]!]);
          grid[i]!.gyro.push([g.values[6 * i + 3]!, g.values[6 * i + 4]!, g.values[6 * i + 5]!]);
        }),
        onIssue: () => undefined,
      },
    );
    for (const s of ab06Samples()) r.push(placements.indexOf(s.placement as (typeof placements)[number]), s.sample.tUs, s.sample.acc, s.sample.gyro);
    r.finish();
    placements.forEach((p, i) => {
      const m = mountings.find((x) => x.placement === p)!;
      const fit = stillFits(matrixFromQuat(m.rotation), grid[i]!.acc, grid[i]!.gyro);
      expect(fit.decision, `${p}: ${fit.reason}`).toBe("fits");
      expect(fit.angleDeg!).toBeLessThan(5); // measured 1.1-1.3 deg
    });
  });
});
