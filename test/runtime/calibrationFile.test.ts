import { describe, expect, it } from "vitest";

import { CALIBRATION_FORMAT, formatCalibration, mergeCalibration, parseCalibration, parseCalibrationFile } from "../../edge/runtime/calibrationFile.js";

const OLD = "2026-01-10T10:00:00.000Z";
const NEW = "2026-11-30T10:00:00.000Z";

describe("calibration file", () => {
  it("round-trips; a new calibration replaces only the sensors it measured, the others keep their date", () => {
    const first = formatCalibration([
      { wearer: "default", placement: "femur_r", gyroBias: [0.01, 0.02, 0.03], savedAt: OLD },
      { wearer: "default", placement: "calcn_r", gyroBias: [-0.01, 0, 0.01], savedAt: OLD },
    ]);
    const parsed = parseCalibration(first, "cal.json");
    const second = formatCalibration(mergeCalibration(parsed, [{ wearer: "default", placement: "femur_r", gyroBias: [0.5, 0.5, 0.5], savedAt: NEW }]));
    const biases = parseCalibration(second, "cal.json");
    expect(biases).toHaveLength(2);
    expect(biases.find((b) => b.placement === "femur_r")).toMatchObject({ gyroBias: [0.5, 0.5, 0.5], savedAt: NEW });
    expect(biases.find((b) => b.placement === "calcn_r")).toMatchObject({ gyroBias: [-0.01, 0, 0.01], savedAt: OLD });
  });

  it("keeps a wearer whose name contains a slash (the placement never does)", () => {
    const text = formatCalibration([{ wearer: "left/leg", placement: "femur_r", gyroBias: [0.1, 0.2, 0.3], savedAt: NEW }]);
    expect(parseCalibration(text, "cal.json")).toEqual([{ wearer: "left/leg", placement: "femur_r", gyroBias: [0.1, 0.2, 0.3], savedAt: NEW }]);
  });

  it("names the file and the field that is wrong", () => {
    const entry = { gyroBias: [0, 0, 0], savedAt: NEW };
    const ok = { format: CALIBRATION_FORMAT, sensors: { "default/femur_r": entry } };
    const bad = (sensors: Record<string, unknown>) => JSON.stringify({ ...ok, sensors });
    expect(() => parseCalibration("{", "/var/lib/cal.json")).toThrowError(/\/var\/lib\/cal\.json: not JSON/);
    expect(() => parseCalibration(JSON.stringify({ ...ok, format: "other/1" }), "c.json")).toThrowError(/c\.json: format/);
    expect(() => parseCalibration(bad({ "default/femur_r": { ...entry, gyroBias: [0, 0] } }), "c.json"))
      .toThrowError(/c\.json: sensors\.default\/femur_r\.gyroBias/);
    expect(() => parseCalibration(bad({ "default/femur_r": { ...entry, savedAt: "yesterday" } }), "c.json"))
      .toThrowError(/c\.json: sensors\.default\/femur_r\.savedAt/);
    expect(() => parseCalibration(bad({ femur_r: entry }), "c.json")).toThrowError(/<wearer>\/<placement>/);
    expect(() => parseCalibration(bad({ "default/elbow": entry }), "c.json")).toThrowError(/unknown placement "elbow"/);
  });
});

describe("calibration file, mounting part (gait-calibration/2)", () => {
  const quality = { planarity: 0.9, signMargin: 0.4, strides: 10, strideS: 1.1, periodicity: 0.5, seconds: 11, handednessScore: 0.98 };
  const mounting = { wearer: "default", placement: "calcn_r" as const, rotation: [0.5, 0.5, -0.5, 0.5] as const, quality, savedAt: NEW, sensorId: "D4:22" };

  it("keeps bias and mounting per sensor, each with its own date, and reads a sensor that has only a mounting", () => {
    const text = formatCalibration([{ wearer: "default", placement: "femur_r", gyroBias: [0.1, 0, 0], savedAt: OLD }], [mounting, { ...mounting, placement: "femur_r", savedAt: OLD }]);
    expect(JSON.parse(text).format).toBe(CALIBRATION_FORMAT);
    const back = parseCalibrationFile(text, "cal.json");
    expect(back.biases).toEqual([{ wearer: "default", placement: "femur_r", gyroBias: [0.1, 0, 0], savedAt: OLD }]);
    expect(back.mountings).toHaveLength(2);
    expect(back.mountings.find((m) => m.placement === "calcn_r")).toEqual({ ...mounting, rotation: [0.5, 0.5, -0.5, 0.5] });
  });

  it("still reads a gait-calibration/1 file (bias only), and names a bad mounting field", () => {
    const v1 = JSON.stringify({ format: "gait-calibration/1", sensors: { "default/femur_r": { gyroBias: [0.1, 0.2, 0.3], savedAt: OLD } } });
    expect(parseCalibrationFile(v1, "old.json")).toEqual({ biases: [{ wearer: "default", placement: "femur_r", gyroBias: [0.1, 0.2, 0.3], savedAt: OLD }], mountings: [] });
    const notUnit = JSON.stringify({ format: CALIBRATION_FORMAT, sensors: { "default/calcn_r": { mounting: { ...mounting, rotation: [1, 1, 0, 0] } } } });
    expect(() => parseCalibrationFile(notUnit, "c.json")).toThrowError(/c\.json: sensors\.default\/calcn_r\.mounting\.rotation.*unit quaternion/);
    const half = JSON.stringify({ format: CALIBRATION_FORMAT, sensors: { "default/calcn_r": { gyroBias: [0, 0, 0] } } });
    expect(() => parseCalibrationFile(half, "c.json")).toThrowError(/gyroBias and savedAt come together/);
    expect(() => parseCalibrationFile(JSON.stringify({ format: "gait-calibration/9", sensors: {} }), "c.json")).toThrowError(/c\.json: format/);
  });

  it("keeps a converted left-handed stream's handedness flag, reads its absence as right-handed, and names a bad one", () => {
    const left = { ...mounting, handedness: "left" as const };
    const back = parseCalibrationFile(formatCalibration([], [left, { ...mounting, placement: "femur_r" }]), "c.json").mountings;
    expect(back.find((m) => m.placement === "calcn_r")!.handedness).toBe("left");
    expect(back.find((m) => m.placement === "femur_r")!.handedness).toBeUndefined(); // older files: right-handed
    const bad = JSON.stringify({ format: CALIBRATION_FORMAT, sensors: { "default/calcn_r": { mounting: { ...mounting, handedness: "mirrored" } } } });
    expect(() => parseCalibrationFile(bad, "c.json")).toThrowError(/c\.json: sensors\.default\/calcn_r\.mounting\.handedness/);
  });
});
