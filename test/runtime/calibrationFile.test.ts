import { describe, expect, it } from "vitest";

import { CALIBRATION_FORMAT, formatCalibration, parseCalibration } from "../../edge/runtime/calibrationFile.js";

describe("calibration file", () => {
  it("round-trips, and a new calibration replaces only the sensors it measured", () => {
    const first = formatCalibration([], [
      { wearer: "default", placement: "femur_r", gyroBias: [0.01, 0.02, 0.03] },
      { wearer: "default", placement: "calcn_r", gyroBias: [-0.01, 0, 0.01] },
    ], new Date("2026-11-30T10:00:00Z"));
    const parsed = parseCalibration(first, "cal.json");
    expect(parsed.savedAt).toBe("2026-11-30T10:00:00.000Z");
    const second = formatCalibration(parsed.biases, [{ wearer: "default", placement: "femur_r", gyroBias: [0.5, 0.5, 0.5] }], new Date());
    const biases = parseCalibration(second, "cal.json").biases;
    expect(biases).toHaveLength(2);
    expect(biases.find((b) => b.placement === "femur_r")!.gyroBias).toEqual([0.5, 0.5, 0.5]);
    expect(biases.find((b) => b.placement === "calcn_r")!.gyroBias).toEqual([-0.01, 0, 0.01]);
  });

  it("names the file and the field that is wrong", () => {
    const ok = { format: CALIBRATION_FORMAT, savedAt: "x", sensors: { "default/femur_r": { gyroBias: [0, 0, 0] } } };
    expect(() => parseCalibration("{", "/var/lib/cal.json")).toThrowError(/\/var\/lib\/cal\.json: not JSON/);
    expect(() => parseCalibration(JSON.stringify({ ...ok, format: "other/1" }), "c.json")).toThrowError(/c\.json: format/);
    expect(() => parseCalibration(JSON.stringify({ ...ok, sensors: { "default/femur_r": { gyroBias: [0, 0] } } }), "c.json"))
      .toThrowError(/c\.json: sensors\.default\/femur_r\.gyroBias/);
    expect(() => parseCalibration(JSON.stringify({ ...ok, sensors: { femur_r: { gyroBias: [0, 0, 0] } } }), "c.json"))
      .toThrowError(/<wearer>\/<placement>/);
    expect(() => parseCalibration(JSON.stringify({ ...ok, sensors: { "default/elbow": { gyroBias: [0, 0, 0] } } }), "c.json"))
      .toThrowError(/unknown placement "elbow"/);
  });
});
