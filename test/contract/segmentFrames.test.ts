/**
 * The v2 part of the manifest (edge/contract/manifest.ts, its v2 branch): a
 * gait-features/2 manifest loads with its calibration block and segment-frame
 * channels, and is refused, naming the field, without them.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ContractError, loadManifest, manifestCalibration, parseManifest } from "../../edge/contract/manifest.js";

const V2 = "test/fixtures/models/tiny-v2/manifest.json";
const V1 = "test/fixtures/models/tiny-v1/manifest.json";
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a manifest as parsed JSON, broken on purpose below
type RawJson = Record<string, any>;
const raw = (file: string): RawJson => JSON.parse(readFileSync(file, "utf8")) as RawJson;

function problem(edit: (m: RawJson) => void, from = V2): string {
  const m = raw(from);
  edit(m);
  try {
    parseManifest(m, "manifest.json");
  } catch (err) {
    expect(err).toBeInstanceOf(ContractError);
    return (err as Error).message;
  }
  return "(accepted)";
}

describe("gait-features/2 manifests", () => {
  it("load, and say that the runtime must rotate into segment frames; v1 manifests do not", async () => {
    expect((await loadManifest(V2)).pipeline.segmentFrames).toBe(true);
    expect(manifestCalibration((await loadManifest(V2)).manifest)).toMatchObject({ algorithm: "gait-calibration/2", seconds: 30, vertical: "walking" });
    expect((await loadManifest(V1)).pipeline.segmentFrames).toBe(false);
  });

  it.each([
    ["no calibration block", (m: RawJson) => delete m.calibration, "manifest.json: calibration:"],
    ["sensor-frame channels", (m: RawJson) => (m.channels[3].frame = "sensor"), 'manifest.json: channels[3].frame:'],
    ["a standing vertical", (m: RawJson) => (m.calibration.vertical = "stand"), "manifest.json: calibration.vertical:"],
    ["a calibration algorithm that is not one", (m: RawJson) => (m.calibration.algorithm = "kabsch"), "manifest.json: calibration.algorithm:"],
    ["no handedness check", (m: RawJson) => (m.calibration.check_handedness = false), "manifest.json: calibration.check_handedness:"],
  ])("are refused with %s, naming the field", (_name, edit, message) => {
    expect(problem(edit)).toContain(message);
  });

  it("a v1 manifest whose channels say segment is refused (the runtime would not rotate them)", () => {
    expect(problem((m) => (m.channels[0].frame = "segment"), V1)).toContain('channels[0].frame:');
  });
});
