import { describe, expect, it } from "vitest";

import { CALIBRATION_FORMAT, formatCalibration, mergeCalibration, parseCalibration } from "../../edge/runtime/calibrationFile.js";

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
