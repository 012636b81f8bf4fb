/**
 * The OTA compatibility rules of docs/ota.md ("Compatibility rules"): what
 * happens when an offered model's feature pipeline differs from the running
 * one's or is not run by this edge build, when its placements differ, and when
 * a gait-features/2 model meets stored calibrations made by another
 * calibration algorithm. Pure rules first, then through `evaluateOffer` with
 * signed offers.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CALIBRATION_ALGORITHM } from "../../edge/calibration/calibrate.js";
import { ManifestSchema, SUPPORTED_FEATURE_PIPELINES, type Manifest, type ManifestV2 } from "../../edge/contract/manifest.js";
import { formatCalibration, parseCalibrationFile, type SavedMounting } from "../../edge/runtime/calibrationFile.js";
import {
  calibrationMismatches, contractDifferences, staleMountings, unsupportedPipelineReason, unsupportedReasons,
} from "../../edge/ota/compatibility.js";
import { OFFER_FORMAT, type OtaOffer } from "../../edge/ota/messages.js";
import { evaluateOffer, type OfferContext } from "../../edge/ota/offerEvaluation.js";
import { keyIdOf, loadPublicKeys, privateKeyFromPem, signManifest } from "../../edge/ota/signature.js";
import { makeKeys, MODEL, tempDir, type Keys } from "./helpers.js";

// Edits reach deep into manifests on purpose (that is what the rules vary), so the JSON is untyped here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type RawManifest = Record<string, any>;

const V2_FIXTURE = "test/fixtures/contract/manifest.v2.json";
const V2_RUNS_HERE = (SUPPORTED_FEATURE_PIPELINES as readonly string[]).includes("gait-features/2");

const shippedRaw = (): RawManifest => JSON.parse(readFileSync(MODEL, "utf8")) as RawManifest;
/** The shipped model's files and hashes with gait-features/2's fields (from what export.py writes for v2). */
function v2Raw(): RawManifest {
  const v2 = JSON.parse(readFileSync(V2_FIXTURE, "utf8")) as RawManifest;
  const m = shippedRaw();
  for (const k of ["feature_pipeline", "channels", "calibration", "euler"]) m[k] = v2[k];
  return m;
}
/** Schema-typed (the support check aside, which is what some tests are about). */
const typed = (raw: RawManifest): Manifest => ManifestSchema.parse(raw);
const v2 = (edit: (m: RawManifest) => void = () => undefined): ManifestV2 => {
  const m = v2Raw();
  edit(m);
  return typed(m) as ManifestV2;
};
const mounting = (placement: "femur_r" | "calcn_r", algorithm?: string): SavedMounting => ({
  wearer: "default", placement, rotation: [1, 0, 0, 0], savedAt: "2026-12-01T10:00:00.000Z",
  quality: { planarity: 0.9, signMargin: 0.3, strides: 10, strideS: 1.1, periodicity: 0.5, seconds: 11, handednessScore: 0.8 },
  ...(algorithm !== undefined ? { algorithm } : {}),
});

describe("rule 1: can this edge build run the offered contract?", () => {
  it("a feature pipeline this build does not run (known or newer) needs a software update", () => {
    expect(unsupportedPipelineReason("gait-features/1")).toBeNull();
    expect(unsupportedPipelineReason("gait-features/9")).toBe(
      `the model needs the feature pipeline "gait-features/9", this edge build runs ${SUPPORTED_FEATURE_PIPELINES.join(", ")} only: update the edge software first`,
    );
    expect(unsupportedPipelineReason(undefined)).toMatch(/needs the feature pipeline undefined/);
    expect(unsupportedReasons(v2()).length > 0).toBe(!V2_RUNS_HERE);
  });

  it("the calibration constants export.py writes are this build's own (Python and TypeScript agree)", () => {
    expect(calibrationMismatches(v2().calibration)).toEqual([]);
    expect(v2().calibration.algorithm).toBe(CALIBRATION_ALGORITHM);
  });

  it("a v2 model trained with another calibration algorithm or constants cannot run here, naming each", () => {
    const other = v2((m) => {
      m.calibration.algorithm = "gait-calibration/9";
      m.calibration.constants.MIN_PLANARITY = 0.8;
    });
    expect(calibrationMismatches(other.calibration)).toEqual([
      `calibration.algorithm: the model was trained with gait-calibration/9, this edge build calibrates with ${CALIBRATION_ALGORITHM}`,
      "calibration.constants.MIN_PLANARITY: the model was trained with 0.8, this edge build calibrates with 0.7",
    ]);
  });

  it("a v2 model of gait-calibration/1 (no joint sign rule, no MIN_JOINT_MARGIN) cannot run on this build", () => {
    const old = v2((m) => {
      m.calibration.algorithm = "gait-calibration/1";
      delete m.calibration.constants.MIN_JOINT_MARGIN;
    });
    expect(calibrationMismatches(old.calibration)).toEqual([
      `calibration.algorithm: the model was trained with gait-calibration/1, this edge build calibrates with ${CALIBRATION_ALGORITHM}`,
      "calibration.constants.MIN_JOINT_MARGIN: the model's manifest has none (an older calibration), this edge build calibrates with 0.3",
    ]);
  });
});

describe("rule 2: does it fit the running pipeline?", () => {
  const v1 = typed(shippedRaw());

  it("another feature pipeline never fits: features, frames and calibration step differ", () => {
    const d = contractDifferences(v1, v2());
    expect(d[0]).toBe('feature_pipeline: the running model has "gait-features/1", the offered one "gait-features/2"');
    expect(d.some((x) => x.startsWith("channels:"))).toBe(true);
    expect(d.some((x) => x.startsWith("calibration: the running model has null"))).toBe(true);
    expect(d.some((x) => x.startsWith("euler.reference:"))).toBe(true);
  });

  it("placements must be the same, in the same order", () => {
    const swapped = typed({ ...shippedRaw(), placements: ["calcn_r", "femur_r"] });
    expect(contractDifferences(v1, swapped)).toContainEqual(
      'placements: the running model has ["femur_r","calcn_r"], the offered one ["calcn_r","femur_r"]',
    );
    const raw = shippedRaw();
    raw.placements = ["femur_r", "tibia_r"];
    raw.euler.reference = { femur_r: raw.euler.reference.femur_r, tibia_r: [1, 0, 0, 0] };
    expect(contractDifferences(v1, typed(raw)).map((x) => x.split(":")[0])).toEqual(["placements", "euler.reference"]);
  });

  it("v2 to v2: the calibration settings are part of the features; its descriptive strings are not", () => {
    const running = v2();
    expect(contractDifferences(running, v2((m) => (m.calibration.seconds = 20)))).toEqual([
      expect.stringMatching(/^calibration: the running model has \["gait-calibration\/2",30,/),
    ]);
    expect(contractDifferences(running, v2((m) => (m.calibration.spec = "docs/calibration.md#v1")))).toEqual([]);
    expect(contractDifferences(running, v2((m) => (m.calibration.constants.STAND_S = 1.5)))).toHaveLength(1);
  });
});

describe("rule 3: stored calibrations made by another calibration algorithm", () => {
  it("are not used by a v2 model: those sensors calibrate again (the offer is accepted)", () => {
    const stored = [mounting("femur_r", "gait-calibration/0"), mounting("calcn_r", CALIBRATION_ALGORITHM)];
    expect(staleMountings(v2().calibration, stored)).toEqual(["default/femur_r"]);
    expect(staleMountings(v2().calibration, [mounting("femur_r", CALIBRATION_ALGORITHM)])).toEqual([]);
  });

  it("an entry that names no algorithm is from before the field: gait-calibration/1's, stale for a /2 model", () => {
    expect(staleMountings(v2((m) => (m.calibration.algorithm = "gait-calibration/1")).calibration, [mounting("femur_r")])).toEqual([]);
    expect(staleMountings(v2().calibration, [mounting("femur_r")])).toEqual(["default/femur_r"]);
    // Saved by a gait-calibration/1 edge (before the joint sign rule): stale too, calibrated again from walking.
    expect(staleMountings(v2().calibration, [mounting("femur_r", "gait-calibration/1")])).toEqual(["default/femur_r"]);
  });

  it("a v1 model uses no mounting, so none is stale for it", () => {
    expect(staleMountings(null, [mounting("femur_r", "gait-calibration/0")])).toEqual([]);
  });

  it("calibration.file keeps the algorithm of each mounting", () => {
    const text = formatCalibration([], [mounting("femur_r", "gait-calibration/0"), mounting("calcn_r")]);
    const back = parseCalibrationFile(text, "cal.json").mountings;
    expect(back.map((m) => m.algorithm)).toEqual(["gait-calibration/0", undefined]);
    expect(() => parseCalibrationFile(text.replace("gait-calibration/0", "kalman"), "cal.json")).toThrow(/cal\.json: sensors\.default\/femur_r\.mounting\.algorithm/);
  });
});

describe("the rules through evaluateOffer (signed offers)", () => {
  let keys: Keys;
  let ctx: OfferContext;

  beforeAll(async () => {
    keys = await makeKeys(path.join(await tempDir("rules"), "keys"));
    ctx = { keys: await loadPublicKeys([keys.publicKey]), maxBytes: 16 * 1024 * 1024, running: typed(JSON.parse(await readFile(MODEL, "utf8")) as RawManifest) };
  });

  function offerOf(raw: RawManifest): OtaOffer {
    raw.version = "1.0.1";
    const manifest = JSON.stringify(raw, null, 2);
    const key = privateKeyFromPem(keys.privatePem);
    return {
      format: OFFER_FORMAT, transferId: "0123456789abcdef0123456789abcdef", manifest,
      signature: signManifest(Buffer.from(manifest, "utf8"), key), keyId: keyIdOf(key), chunkSize: 65536,
      files: [{ name: raw.model.file, bytes: raw.model.bytes }, { name: "golden.json", bytes: 100 }],
    };
  }

  it("a v2 model offered to a device running v1 is refused as incompatible, saying what to do", () => {
    const verdict = evaluateOffer(offerOf(v2Raw()), "t", ctx);
    expect(verdict).toMatchObject({ ok: false, code: "incompatible" });
    const reason = (verdict as { reason: string }).reason;
    if (V2_RUNS_HERE) expect(reason).toMatch(/feature_pipeline: the running model has "gait-features\/1".*installed with a restart and a new config/);
    else expect(reason).toMatch(/needs the feature pipeline "gait-features\/2", this edge build runs gait-features\/1 only: update the edge software first/);
  });

  it("a newer pipeline this build cannot even parse is incompatible too, not an invalid manifest", () => {
    const raw = v2Raw();
    raw.feature_pipeline = "gait-features/9";
    raw.future_field = { anything: 1 };
    expect(evaluateOffer(offerOf(raw), "t", ctx)).toMatchObject({ ok: false, code: "incompatible", reason: expect.stringMatching(/update the edge software first/) });
  });

  it("other placements are incompatible, naming them", () => {
    expect(evaluateOffer(offerOf({ ...shippedRaw(), placements: ["calcn_r", "femur_r"] }), "t", ctx)).toMatchObject({
      ok: false, code: "incompatible", reason: expect.stringMatching(/placements: the running model has \["femur_r","calcn_r"\]/),
    });
  });

  it("a fitting v1 upgrade is accepted whatever the stored mountings (it uses none)", () => {
    const verdict = evaluateOffer(offerOf(shippedRaw()), "t", { ...ctx, storedMountings: [mounting("femur_r", "gait-calibration/0")] });
    expect(verdict).toMatchObject({ ok: true, offer: { recalibrate: [] } });
  });

  it.runIf(V2_RUNS_HERE)("a fitting v2 upgrade is accepted and names the stored mountings it must not use", () => {
    const v2ctx = { ...ctx, running: typed(v2Raw()), storedMountings: [mounting("femur_r", "gait-calibration/0"), mounting("calcn_r", CALIBRATION_ALGORITHM)] };
    expect(evaluateOffer(offerOf(v2Raw()), "t", v2ctx)).toMatchObject({ ok: true, offer: { recalibrate: ["default/femur_r"] } });
  });
});
