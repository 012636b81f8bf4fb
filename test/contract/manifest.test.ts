import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ContractError,
  loadGolden,
  loadManifest,
  manifestCalibration,
  ManifestSchema,
  parseManifest,
  SUPPORTED_FEATURE_PIPELINES,
  type ManifestCalibration,
} from "../../edge/contract/manifest.js";

const FIXTURE_MODEL = path.resolve("test/fixtures/inference/identity_like.onnx");
/** What export.py wrote for a tiny gait-features/2 run (test/fixtures/contract/README.md). */
const V2_MANIFEST = path.resolve("test/fixtures/contract/manifest.v2.json");
const sha = (buf: Buffer): string => createHash("sha256").update(buf).digest("hex");
/**
 * A manifest (or golden file) as parsed JSON, which these tests break on
 * purpose in every field: `any` is the honest type of "whatever shape JSON
 * has", and narrowing each edit would only hide what is being broken.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type RawJson = Record<string, any>;
const CHANNELS = [
  ["acc_x", "m/s^2"], ["acc_y", "m/s^2"], ["acc_z", "m/s^2"],
  ["gyro_x", "rad/s"], ["gyro_y", "rad/s"], ["gyro_z", "rad/s"],
  ["roll", "rad"], ["pitch", "rad"], ["yaw_rel", "rad"],
].map(([name, unit]) => ({ name, unit, frame: unit === "rad" ? "euler" : "sensor" }));

/** A manifest as training/gaitlstm/export.py writes it, for the fixture model. */
function validManifest(): Record<string, unknown> {
  const model = readFileSync(FIXTURE_MODEL);
  return {
    schema: "gait-model-contract/1",
    name: "test-model",
    version: "0.1.0",
    created: "2025-01-01T00:00:00+00:00",
    feature_pipeline: "gait-features/1",
    architecture: { type: "lstm", layers: 3, hidden: 128, dropout: 0.2 },
    placements: ["femur_r", "calcn_r"],
    channels: CHANNELS.map((c) => ({ ...c })),
    sample_rate_hz: 100.0,
    window: 50,
    stride: 25,
    resampling: { method: "linear", grid: "latest first timestamp over placements", prefilter: null },
    ahrs: { algorithm: "madgwick-imu", implementation: "ahrs@1.3.3", beta: 0.1, dt_s: 0.01, init: "accelerometer", first_sample: "init-only", zero_gradient: "gyro-only-step", nan_guard: "reinit-from-accelerometer" },
    euler: {
      sequence: "ZYX", order: ["roll", "pitch", "yaw"], unit: "rad", yaw: "relative-to-window-start",
      reference: { femur_r: [Math.SQRT1_2, 0, -Math.SQRT1_2, 0], calcn_r: [1, 0, 0, 0] },
    },
    normalization: { in_graph: true, mean: Array(18).fill(0), std: Array(18).fill(1), target_mean: [0], target_std: [1] },
    joints: ["hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r"].map((name) => ({ name, unit: "deg", positive: "flexion" })),
    publish: { first_window: "all", then: "last_stride" },
    tensors: {
      input: { name: "imu_features", shape: ["batch", 50, 18], dtype: "float32" },
      output: { name: "joint_angles", shape: ["batch", 50, 5], dtype: "float32" },
    },
    model: { file: "model.int8.onnx", sha256: sha(model), bytes: model.length, quantization: "dynamic-int8" },
    variants: { fp32: { file: "model.fp32.onnx", sha256: sha(model), bytes: model.length } },
    input_limits: { acc_abs_max: 156.9064, gyro_abs_max: 35 },
    provenance: {
      dataset: "data/ab06: trained on ab06, tested on ab06", subjects: { train: ["ab06"], val: ["ab06"], test: ["ab06"] },
      data_dir: "data/ab06", method: "ui", heldout: null,
      train_trials: ["ab06/t"], val_trials: ["ab06/t"], test_trials: ["ab06/t"],
      train_set: [{ subject: "ab06", trial: "t", start: 0, end: 0.64 }], val_set: [{ subject: "ab06", trial: "t", start: 0.64, end: 0.8 }],
      test_set: [{ subject: "ab06", trial: "t", start: 0.8, end: 1 }],
      train_args: { arch: "lstm", max_epochs: 1 }, code_commit: "abc", seed: 0, torch: "2.13.0+cpu", train_minutes: 0.1, train_device: "cpu",
    },
    metrics: { int8: { rmse: 5 } },
  };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A model folder with the fixture model and the (possibly edited) manifest. */
function modelDir(edit: (m: RawJson) => void = () => undefined, files = ["model.int8.onnx"]): string {
  const dir = mkdtempSync(path.join(tmpdir(), "gait-contract-"));
  dirs.push(dir);
  for (const f of files) copyFileSync(FIXTURE_MODEL, path.join(dir, f));
  const m = validManifest();
  edit(m);
  writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(m, null, 2));
  return dir;
}

async function loadError(dir: string): Promise<string> {
  try {
    await loadManifest(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(ContractError);
    return (err as Error).message;
  }
  throw new Error("expected loadManifest to fail");
}

describe("loadManifest", () => {
  it("loads a valid contract from its folder or its file, with absolute paths and pipeline constants", async () => {
    const dir = modelDir(() => undefined, ["model.int8.onnx", "model.fp32.onnx"]);
    for (const target of [dir, path.join(dir, "manifest.json")]) {
      const c = await loadManifest(target);
      expect(c.modelPath).toBe(path.join(dir, "model.int8.onnx"));
      expect(c.variantPaths).toEqual({ fp32: path.join(dir, "model.fp32.onnx") });
      expect(c.goldenPath).toBeNull();
      expect(c.featureCount).toBe(18);
      expect(c.pipeline).toMatchObject({ placements: ["femur_r", "calcn_r"], window: 50, stride: 25, sampleRateHz: 100, beta: 0.1, dtS: 0.01, inputName: "imu_features", outputName: "joint_angles" });
      expect(c.pipeline.references[0]).toEqual([Math.SQRT1_2, 0, -Math.SQRT1_2, 0]);
      expect(c.manifest.provenance?.subjects).toEqual({ train: ["ab06"], val: ["ab06"], test: ["ab06"] });
    }
  });

  it("skips a variant whose file is absent (devices ship only the deployed model)", async () => {
    const c = await loadManifest(modelDir());
    expect(c.variantPaths).toEqual({});
  });

  it.each([
    ["window", (m: RawJson) => (m.window = -3), "window: expected a positive integer, got -3"],
    ["window type", (m: RawJson) => (m.window = "50"), 'window: expected a positive integer, got "50"'],
    ["missing field", (m: RawJson) => delete m.sample_rate_hz, "sample_rate_hz: expected a positive number, got nothing (field missing)"],
    ["schema", (m: RawJson) => (m.schema = "gait-model-contract/2"), 'schema: expected "gait-model-contract/1"'],
    ["feature pipeline", (m: RawJson) => (m.feature_pipeline = "gait-features/9"), 'feature_pipeline: expected one of the known feature pipelines (gait-features/1, gait-features/2), got "gait-features/9"'],
    ["v1 with v2's segment frame", (m: RawJson) => (m.channels[0].frame = "segment"), 'channels[0].frame: Invalid option: expected one of "sensor"|"euler", got "segment"'],
    ["v1 with a calibration block", (m: RawJson) => (m.calibration = {}), "manifest.json: calibration: unknown field"],
    ["unknown top-level field", (m: RawJson) => (m.subject = "AB06"), "manifest.json: subject: unknown field (not part of gait-model-contract/1"],
    ["unknown nested field", (m: RawJson) => (m.ahrs.gain = 2), "manifest.json: ahrs.gain: unknown field"],
    ["unknown provenance field", (m: RawJson) => (m.provenance.subject = "AB06"), "manifest.json: provenance.subject: unknown field"],
    ["architecture", (m: RawJson) => (m.architecture = { type: "gru" }), 'architecture.type: Invalid discriminator value. Expected \'lstm\' | \'cnn\', got "gru"'],
    ["euler column frame", (m: RawJson) => (m.channels[6].frame = "sensor"), 'channels[6].frame: expected "euler" for gait-features/1, got "sensor"'],
    ["placement", (m: RawJson) => (m.placements = ["femur_r", "thigh"]), "placements[1]:"],
    ["version", (m: RawJson) => (m.version = "v1"), "version: expected a semantic version like 1.2.0"],
    ["input shape", (m: RawJson) => (m.tensors.input.shape = ["batch", 50, 17]), 'tensors.input.shape: expected ["batch", 50, 18], got ["batch",50,17]'],
    ["output shape", (m: RawJson) => (m.tensors.output.shape = ["batch", 40, 5]), 'tensors.output.shape: expected ["batch", 50, 5]'],
    ["stride", (m: RawJson) => (m.stride = 60), "stride: expected at most window (50), got 60"],
    ["dt", (m: RawJson) => (m.ahrs.dt_s = 0.005), "ahrs.dt_s: expected 1 / sample_rate_hz = 0.01, got 0.005"],
    ["ahrs implementation", (m: RawJson) => (m.ahrs.implementation = "ahrs@2.0.0"), "ahrs.implementation:"],
    ["channel order", (m: RawJson) => ([m.channels[0], m.channels[1]] = [m.channels[1], m.channels[0]]), "channels[0]: expected acc_x in m/s^2 (the runtime's column order), got acc_y"],
    ["euler reference", (m: RawJson) => delete m.euler.reference.calcn_r, 'euler.reference: expected a quaternion for placement "calcn_r"'],
    ["non-unit reference", (m: RawJson) => (m.euler.reference.calcn_r = [2, 0, 0, 0]), "euler.reference.calcn_r: expected a unit quaternion"],
    ["normalization length", (m: RawJson) => m.normalization.mean.pop(), "normalization.mean: expected 18 values, got 17"],
    ["normalization outside the graph", (m: RawJson) => (m.normalization.in_graph = false), "normalization.in_graph: expected true"],
    ["model path escape", (m: RawJson) => (m.model.file = "../other.onnx"), "model.file: expected a file name relative to the manifest's folder"],
    ["sha format", (m: RawJson) => (m.model.sha256 = "abc"), "model.sha256: expected 64 lowercase hex digits"],
  ])("refuses a bad %s with a message naming file and field", async (_name, edit, message) => {
    const dir = modelDir(edit);
    const msg = await loadError(dir);
    expect(msg).toContain(path.join(dir, "manifest.json"));
    expect(msg).toContain(message);
  });

  it("refuses a model whose sha256 does not match", async () => {
    const dir = modelDir((m) => (m.model.sha256 = "0".repeat(64)));
    expect(await loadError(dir)).toMatch(/model: sha256 mismatch for .*model\.int8\.onnx: manifest says 0{64}, file is [0-9a-f]{64}/);
  });

  it("refuses a model of the wrong size (truncated copy)", async () => {
    const dir = modelDir((m) => (m.model.bytes += 1));
    expect(await loadError(dir)).toMatch(/model: .* has \d+ bytes, the manifest says \d+/);
  });

  it("refuses a missing model file", async () => {
    const dir = modelDir(() => undefined, []);
    expect(await loadError(dir)).toMatch(/model: file .*model\.int8\.onnx is missing/);
  });

  it("refuses a present variant with a wrong hash", async () => {
    const dir = modelDir((m) => (m.variants.fp32.sha256 = "f".repeat(64)), ["model.int8.onnx", "model.fp32.onnx"]);
    expect(await loadError(dir)).toMatch(/variants\.fp32: sha256 mismatch/);
  });

  it("reports a missing manifest and invalid JSON clearly", async () => {
    const dir = modelDir();
    writeFileSync(path.join(dir, "manifest.json"), "{ not json");
    expect(await loadError(dir)).toMatch(/manifest\.json: not valid JSON/);
    expect(await loadError(path.join(dir, "nope"))).toMatch(/nope: cannot read the model manifest/);
  });

  it("parseManifest lists several problems at once", () => {
    const m = validManifest();
    m.window = 0;
    m.stride = -1;
    expect(() => parseManifest(m, "x.json")).toThrow(/x\.json: window: .*\n.*x\.json: stride:/s);
  });
});

describe("gait-features/2 manifests", () => {
  const v2 = (): RawJson => JSON.parse(readFileSync(V2_MANIFEST, "utf8")) as RawJson;

  it("parse with a typed calibration block (what export.py writes)", () => {
    const parsed = ManifestSchema.parse(v2());
    expect(parsed.feature_pipeline).toBe("gait-features/2");
    const cal: ManifestCalibration | null = manifestCalibration(parsed);
    expect(cal).toMatchObject({ algorithm: "gait-calibration/2", seconds: 30, vertical: "walking", check_handedness: true });
    expect(cal?.constants.MIN_WALK_S).toBe(8);
    expect(parsed.channels.slice(0, 6).every((c) => c.frame === "segment")).toBe(true);
    expect(manifestCalibration(parseManifest(validManifest()))).toBeNull();
  });

  it("runs where this build runs gait-features/2, else is refused naming the pipeline", () => {
    const run = (): unknown => parseManifest(v2(), "v2.json");
    if ((SUPPORTED_FEATURE_PIPELINES as readonly string[]).includes("gait-features/2")) expect(run).not.toThrow();
    else expect(run).toThrow(/v2\.json: feature_pipeline: this runtime supports gait-features\/1, got "gait-features\/2"/);
  });

  it.each([
    ["without its calibration block", (m: RawJson) => delete m.calibration, "calibration: "],
    ["with an unknown calibration field", (m: RawJson) => (m.calibration.mode = "stand"), "calibration.mode: unknown field"],
    ["with a calibration constant missing", (m: RawJson) => delete m.calibration.constants.MIN_PLANARITY, "calibration.constants.MIN_PLANARITY: expected a positive number"],
    ["with another calibration algorithm name", (m: RawJson) => (m.calibration.algorithm = "kalman"), "calibration.algorithm: expected a calibration algorithm like gait-calibration/1"],
    ["with the stand vertical", (m: RawJson) => (m.calibration.vertical = "stand"), "calibration.vertical:"],
    ["with raw sensor axes", (m: RawJson) => (m.channels[3].frame = "sensor"), "channels[3].frame:"],
    ["with a fitted Euler reference", (m: RawJson) => (m.euler.reference.femur_r = [1, 0, 0, 0]), "euler.reference.femur_r: expected gait-features/2's constant [0.7071067811865476, -0.7071067811865476, 0, 0]"],
  ])("are refused %s, naming the field", (_name, edit, message) => {
    const m = v2();
    edit(m);
    expect(() => parseManifest(m, "v2.json")).toThrow(message);
  });
});

describe("loadGolden", () => {
  function golden(): RawJson {
    const row = Array(18).fill(0.5);
    return {
      placements: ["femur_r", "calcn_r"], sample_rate_hz: 100, window: 50, stride: 25,
      raw: {
        femur_r: { t: [0, 0.005], acc: [[0, 0, 9.8], [0, 0, 9.8]], gyro: [[0, 0, 0], [0, 0, 0]] },
        calcn_r: { t: [0, 0.005], acc: [[0, 0, 9.8], [0, 0, 9.8]], gyro: [[0, 0, 0], [0, 0, 0]] },
      },
      grid_t: [0],
      features: [Array(50).fill(row)],
      outputs: { fp32: [Array(50).fill([1, 2, 3, 4, 5])] },
      tolerance: { features_abs: 1e-6, outputs_abs_deg: { fp32: 1e-3 } },
    };
  }
  function write(doc: unknown): string {
    const dir = mkdtempSync(path.join(tmpdir(), "gait-golden-"));
    dirs.push(dir);
    const file = path.join(dir, "golden.json");
    writeFileSync(file, JSON.stringify(doc));
    return file;
  }

  it("loads consistent golden vectors", async () => {
    const g = await loadGolden(write(golden()), parseManifest(validManifest()));
    expect(g.features[0]!.length).toBe(50);
    expect(g.tolerance.outputs_abs_deg.fp32).toBe(1e-3);
  });

  it("refuses inconsistent shapes and a manifest mismatch", async () => {
    const g = golden();
    g.features[0] = g.features[0].slice(1);
    await expect(loadGolden(write(g))).rejects.toThrow(/features\[0\]: expected 50 rows of 18 values/);
    const h = golden();
    h.raw.calcn_r.t.push(0.01);
    await expect(loadGolden(write(h))).rejects.toThrow(/raw\.calcn_r: t, acc and gyro lengths differ/);
    const m = validManifest();
    m.stride = 10;
    await expect(loadGolden(write(golden()), parseManifest(m))).rejects.toThrow(/differ from the manifest/);
  });
});
