import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { calibrate, handedness, toRightHanded } from "../../../edge/calibration/index.js";
import { CAMARGO_THIGH_ACC_SIGNS, openCamargo, STANDARD_GRAVITY } from "../../../edge/sources/replay/index.js";
import type { ImuSample, Vec3 } from "../../../edge/sources/types.js";
import { DEMO_IMU, SHARED, playAll, startError, tempDir, removeTempDirs } from "./helpers.js";

const demoText = (): string => gunzipSync(readFileSync(DEMO_IMU)).toString("utf8");

afterAll(removeTempDirs);

describe("Camargo reader", () => {
  it("turns every row of the demo trial into one sample per placement, in contract units", async () => {
    const lines = demoText().trim().split("\n");
    const rows = lines.length - 1;
    const { samples, issues, ended } = await playAll({ file: DEMO_IMU, format: "camargo" });

    expect(ended).toBe(true);
    expect(issues).toEqual([]);
    expect(samples).toHaveLength(rows * 4);
    expect(new Set(samples.map((s) => s.sensorId))).toEqual(new Set(["femur_r", "tibia_r", "calcn_r", "torso"]));

    // First row: time 8.255 s; accel in g becomes m/s² (the thigh's negated:
    // Camargo's consistent mirror, CAMARGO_THIGH_ACC_SIGNS), gyro stays rad/s.
    const header = lines[0]!.split(",");
    const first = lines[1]!.split(",").map(Number);
    const thigh = samples.find((s) => s.sensorId === "femur_r")!;
    const foot = samples.find((s) => s.sensorId === "calcn_r")!;
    const col = (name: string): number => first[header.indexOf(name)]!;
    expect(CAMARGO_THIGH_ACC_SIGNS).toEqual([-1, -1, -1]);
    expect(thigh.tUs).toBe(8_255_000);
    expect(thigh.acc[0]).toBeCloseTo(-col("thigh_Accel_X") * STANDARD_GRAVITY, 12);
    expect(thigh.acc[1]).toBeCloseTo(-col("thigh_Accel_Y") * STANDARD_GRAVITY, 12);
    expect(thigh.acc[2]).toBeCloseTo(-col("thigh_Accel_Z") * STANDARD_GRAVITY, 12);
    expect(thigh.gyro).toEqual([col("thigh_Gyro_X"), col("thigh_Gyro_Y"), col("thigh_Gyro_Z")]);
    expect(foot.acc[0]).toBeCloseTo(col("foot_Accel_X") * STANDARD_GRAVITY, 12);
    expect(foot.acc[2]).toBeCloseTo(col("foot_Accel_Z") * STANDARD_GRAVITY, 12);

    const last = samples[samples.length - 1]!;
    expect(last.tUs).toBe(25_475_000);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.tUs).toBeGreaterThanOrEqual(samples[i - 1]!.tUs);
  });

  it("reads the demo thigh as a proper sensor: right-handed, its frontal rate following the IK's hip adduction", async () => {
    // The consistent mirror is invisible to the handedness test (both before and
    // after the fix the stream is consistent), so the check that can fail is
    // physical: calibrated into the segment frame (x anterior, y up, z right),
    // the thigh's rate about x must rise with the right hip's adduction
    // (OpenSim: adduction about +x). As recorded it correlates -0.57, fixed +0.57.
    const { samples } = await playAll({ file: DEMO_IMU, format: "camargo" });
    const thigh = samples.filter((s) => s.sensorId === "femur_r").filter((_, i) => i % 2 === 0); // 200 -> 100 Hz
    const acc = thigh.map((s) => s.acc), gyro = thigh.map((s) => s.gyro);

    expect(handedness(acc, gyro).decision).toBe("right");
    const flipped = toRightHanded(acc, gyro); // a Z label flipped on both channels
    expect(handedness(flipped.acc, flipped.gyro).decision).toBe("mirrored");

    const cal = calibrate(acc, gyro);
    expect(cal.ok).toBe(true);
    const C = cal.C!;
    const frontal = gyro.map((w: Vec3) => C[0][0] * w[0] + C[0][1] * w[1] + C[0][2] * w[2]);
    const ik = gunzipSync(readFileSync(DEMO_IMU.replace("_imu.", "_ik."))).toString("utf8").trim().split("\n");
    const at = ik[0]!.split(",").indexOf("hip_adduction_r");
    const adduction = ik.slice(1).filter((_, i) => i % 2 === 0).map((l) => (Number(l.split(",")[at]) * Math.PI) / 180);
    const rate = adduction.map((_, k) => (adduction[Math.min(k + 1, adduction.length - 1)]! - adduction[Math.max(k - 1, 0)]!) / 0.02);
    expect(rate).toHaveLength(frontal.length);
    expect(pearson(frontal, rate)).toBeGreaterThan(0.4);
  });

  it("is a pure reader too: openCamargo yields samples without a source", async () => {
    const stream = await openCamargo(DEMO_IMU);
    const firstRow: ImuSample[] = [];
    for await (const item of stream) {
      if (item.kind === "sample") firstRow.push(item.sample);
      if (firstRow.length === 4) break;
    }
    expect(firstRow.map((s) => s.sensorId)).toEqual(["femur_r", "tibia_r", "calcn_r", "torso"]);
    expect(firstRow.every((s) => s.tUs === 8_255_000)).toBe(true);
  });

  it("counts bad rows with file and line and keeps playing", async () => {
    const [header, ...rows] = demoText().trim().split("\n");
    const good = rows.slice(0, 3);
    const nanFoot = good[2]!.split(",");
    nanFoot[1] = "NaN"; // foot_Accel_X
    const file = join(tempDir(), "bad_imu.csv");
    writeFileSync(
      file,
      [header, good[0], "abc," + good[1]!.split(",").slice(1).join(","), "8.3,1,2", nanFoot.join(","), good[1], ""].join(
        "\n",
      ),
    );

    const { samples, issues } = await playAll({ file });

    expect(issues.map((i) => i.kind)).toEqual(["bad_value", "bad_frame", "bad_value", "bad_value", "bad_value", "bad_value"]);
    expect(issues[0]!.message).toContain(`${file}:3: time is not a number`);
    expect(issues[1]!.message).toContain(`${file}:4: expected 25 fields, got 3`);
    expect(issues[2]!.message).toContain(`${file}:5: foot_Accel_X is not a number ("NaN")`);
    expect(issues[2]!.sensorId).toBe("calcn_r");
    // Line 6 repeats an earlier row: its time goes back for every sensor that had line 5.
    expect(issues.slice(3).map((i) => i.sensorId)).toEqual(["femur_r", "tibia_r", "torso"]);
    expect(issues[3]!.message).toMatch(new RegExp(`^${file}:6: time [0-9.]+ s of femur_r goes back from [0-9.]+ s .*row skipped$`));
    // Line 2 gives 4 samples; line 5 loses only the foot sample; line 6 keeps only the foot (its last was line 2).
    expect(samples).toHaveLength(4 + 3 + 1);
    expect(samples.filter((s) => s.sensorId === "calcn_r")).toHaveLength(2);
  });

  it("reports a truncated gzip as an io_error, keeps what was read, and still ends", async () => {
    const bytes = readFileSync(DEMO_IMU);
    const file = join(tempDir(), "cut_imu.csv.gz");
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));

    const { samples, issues, ended } = await playAll({ file });

    expect(ended).toBe(true);
    expect(samples.length).toBeGreaterThan(100);
    expect(samples.length).toBeLessThan((demoText().trim().split("\n").length - 1) * 4);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.kind).toBe("io_error");
    expect(issues[0]!.message).toMatch(/cut_imu\.csv\.gz: read failed after line \d+ \(truncated or corrupt file\?\)/);
  });

  it("refuses a csv that is not a Camargo IMU table, naming the file", async () => {
    const file = join(tempDir(), "ik.csv");
    writeFileSync(file, "time,hip_flexion_r\n0,1\n");
    expect((await startError({ file, format: "camargo" })).message).toContain(`${file}: no Camargo IMU columns`);
  });

  const trials = join(SHARED, "camargo_ab06/trials");
  describe.skipIf(!existsSync(trials))("on the shared Camargo AB06 trials (skipped without /work/shared/data)", () => {
    it("reads a full trial of each speed without a single issue", async () => {
      const files = readdirSync(trials).filter((f) => /_01_01_imu\.csv\.gz$/.test(f) && f.includes("_ccw_"));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        const { samples, issues } = await playAll({ file: join(trials, f) });
        expect(issues, f).toEqual([]);
        expect(samples.length, f).toBeGreaterThan(4 * 200 * 5); // > 5 s of 4 sensors at 200 Hz
      }
    });
  });
});

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n, mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}
