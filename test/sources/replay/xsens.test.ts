import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseXsensMappings, readXsensMappings, xsensSensorIdFromName } from "../../../edge/sources/replay/index.js";
import { SHARED, fixture, playAll, startError, tempDir, removeTempDirs } from "./helpers.js";

const MAT = (sep: string): string => fixture(`MT2022_ACC_GYRO_ROT_MAT_${sep}_00B42D4B.txt`);

afterAll(removeTempDirs);

describe("Xsens MT Manager reader", () => {
  it("reads the same rows whatever the separator (comma, semicolon, space with empty fields)", async () => {
    const comma = await playAll({ file: MAT("COMMA"), format: "xsens" });
    const semicolon = await playAll({ file: MAT("SEMICOLON") });
    const space = await playAll({ file: MAT("SPACE") });

    expect(comma.issues).toEqual([]);
    expect(comma.samples).toHaveLength(5);
    expect(semicolon.samples).toEqual(comma.samples);
    expect(space.samples).toEqual(comma.samples);
    const first = comma.samples[0]!;
    expect(first.sensorId).toBe("00B42D4B");
    expect(first.acc).toEqual([0.074225, -0.040975, 9.922524]); // already m/s²
    expect(first.gyro).toEqual([0.003078, 0.00428, 0.002706]);
    expect(first.seq).toBe(51400);
    // SampleTimeFine is NaN here: PacketCounter at the default 100 Hz gives the time.
    expect(comma.samples.map((s) => s.tUs)).toEqual([0, 1, 2, 3, 4].map((k) => (51400 + k) * 10_000));
  });

  it("skips a row with a NaN accelerometer value, naming file, line and column, and keeps the quaternion", async () => {
    const file = fixture("MT2022_ACC_GYRO_ROT_ALL_TAB_NAN_00B42D4B.txt");
    const { samples, issues } = await playAll({ file });

    expect(issues).toEqual([
      { kind: "bad_value", sensorId: "00B42D4B", message: `${file}:14: Acc_X is not a number ("NaN")` },
    ]);
    expect(samples.map((s) => s.seq)).toEqual([51401, 51402, 51403, 51404]);
    expect(samples[0]!.quat).toEqual([-0.529132, 0.004542, 0.00245, 0.848524]);
  });

  it("reads the old layout: `// Update Rate` header, empty SampleTimeFine, quaternion", async () => {
    const { samples, issues } = await playAll({ file: fixture("MT46_01-000_00B42D4D.txt") });
    expect(issues).toEqual([]);
    expect(samples).toHaveLength(5);
    expect(samples[0]).toMatchObject({ sensorId: "00B42D4D", seq: 4097, tUs: 40_970_000 });
    expect(samples[0]!.quat).toEqual([0.41428, -0.57886, -0.508282, -0.484709]);
    expect(samples[0]!.mag).toBeUndefined();
  });

  it("reads exports with only a PacketCounter and with magnetometer columns (mag not emitted: not µT)", async () => {
    const oldest = await playAll({ file: fixture("test1_00B421E6.txt") });
    expect(oldest.issues).toEqual([]);
    expect(oldest.samples.map((s) => s.seq)).toEqual([20117, 20118, 20119]);
    expect(oldest.samples[0]!.gyro).toEqual([-0.000167, 0.004846, 0.003427]);

    const withMag = await playAll({ file: fixture("MT_01200454_000-000_00B40DE4.txt") });
    expect(withMag.issues).toEqual([]);
    expect(withMag.samples).toHaveLength(4);
    expect(withMag.samples[0]!.mag).toBeUndefined();
  });

  it("merges one file per sensor in timestamp order", async () => {
    const files = [fixture("MT46_01-000_00B42D4D.txt"), fixture("MT46_01-000_00B42D4E.txt")];
    const { samples, issues } = await playAll({ files });
    expect(issues).toEqual([]);
    expect(samples).toHaveLength(10);
    expect(samples.map((s) => s.sensorId)).toEqual(Array.from({ length: 10 }, (_, i) => (i % 2 ? "00B42D4E" : "00B42D4D")));
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.tUs).toBeGreaterThanOrEqual(samples[i - 1]!.tUs);
  });

  it("refuses files without a gyroscope with a clear error naming the file", async () => {
    for (const name of ["MT2022_ACC_00B42D4B.txt", "MT_01200312-002-000_00B474BA.txt"]) {
      const file = fixture(name);
      expect((await startError({ file })).message).toBe(
        `${file}: no gyroscope columns (Gyr_X..): the runtime needs angular rate`,
      );
    }
  });

  it("names sensors by placement from an OpenSense mapping file or the placements map", async () => {
    const mappings = await readXsensMappings(fixture("myIMUMappings.xml"));
    expect(mappings.size).toBe(8);
    expect(mappings.get("00B4227C")).toBe("femur_r");
    expect(mappings.get("00B421E6")).toBe("calcn_l");
    expect(parseXsensMappings("<x/>").size).toBe(0);

    const mapped = await playAll({ file: fixture("test1_00B421E6.txt"), mappingFile: fixture("myIMUMappings.xml") });
    expect(new Set(mapped.samples.map((s) => s.sensorId))).toEqual(new Set(["calcn_l"]));

    const renamed = await playAll({ file: fixture("test1_00B421E6.txt"), placements: { "00B421E6": "femur_l" } });
    expect(new Set(renamed.samples.map((s) => s.sensorId))).toEqual(new Set(["femur_l"]));
  });

  it("takes the sensor id from the file name", () => {
    expect(xsensSensorIdFromName("/x/MT_012005D6_009-001_00B421EF.txt")).toBe("00B421EF");
    expect(xsensSensorIdFromName("walk.txt")).toBe("walk");
  });

  it("unwraps PacketCounter (u16) and SampleTimeFine (u32) so time keeps going forward", async () => {
    const dir = tempDir();
    const counter = join(dir, "counter_00000001.txt");
    const rows = [65534, 65535, 0, 1].map((c) => `${c}\t1\t2\t9.8\t0.1\t0.2\t0.3`);
    writeFileSync(counter, ["// Update Rate: 50.0Hz", "PacketCounter\tAcc_X\tAcc_Y\tAcc_Z\tGyr_X\tGyr_Y\tGyr_Z", ...rows].join("\n"));
    const byCounter = await playAll({ file: counter });
    expect(byCounter.samples.map((s) => s.tUs)).toEqual([65534, 65535, 65536, 65537].map((c) => c * 20_000));

    const fine = join(dir, "fine_00000002.txt");
    const ticks = [4294967000, 4294967200, 104, 304];
    writeFileSync(
      fine,
      ["PacketCounter,SampleTimeFine,Acc_X,Acc_Y,Acc_Z,Gyr_X,Gyr_Y,Gyr_Z", ...ticks.map((t, i) => `${i},${t},1,2,9.8,0,0,0`)].join("\r\n"),
    );
    const byFine = await playAll({ file: fine });
    expect(byFine.issues).toEqual([]);
    expect(byFine.samples.map((s) => s.tUs)).toEqual([4294967000, 4294967200, 2 ** 32 + 104, 2 ** 32 + 304].map((t) => t * 100));
  });

  it("counts rows with the wrong number of fields", async () => {
    const file = join(tempDir(), "short_00000003.txt");
    writeFileSync(file, ["PacketCounter\tAcc_X\tAcc_Y\tAcc_Z\tGyr_X\tGyr_Y\tGyr_Z", "1\t1\t2\t3\t4\t5\t6", "2\t1\t2", "3\t1\t2\t3\t4\t5\t6"].join("\n"));
    const { samples, issues } = await playAll({ file });
    expect(samples).toHaveLength(2);
    expect(issues).toEqual([{ kind: "bad_frame", sensorId: "00000003", message: `${file}:3: expected 7 fields, got 3` }]);
  });

  const opensense = join(SHARED, "opensense_example");
  describe.skipIf(!existsSync(opensense))("on the shared OpenSense data (skipped without /work/shared/data)", () => {
    it("merges the two 33.7 s sensors of MT_012005D6_031 in time order", async () => {
      const dir = join(opensense, "test_xsens");
      const files = ["MT_012005D6_031-000_00B421AF.txt", "MT_012005D6_031-000_00B4227B.txt"].map((f) => join(dir, f));
      const { samples, issues } = await playAll({ files });
      expect(issues).toEqual([]);
      expect(samples.length).toBeGreaterThan(2 * 3300);
      expect(new Set(samples.map((s) => s.sensorId))).toEqual(new Set(["00B421AF", "00B4227B"]));
      for (let i = 1; i < samples.length; i++) expect(samples[i]!.tUs).toBeGreaterThanOrEqual(samples[i - 1]!.tUs);
    });

    it("refuses the 8-IMU walking trial (accelerometer and orientation only, no gyroscope)", async () => {
      const file = join(opensense, "example_walk_8imu/MT_012005D6_009-001_00B4227C.txt");
      expect((await startError({ file })).message).toContain("no gyroscope columns");
    });
  });
});
