/**
 * Reader of the model contract (`gait-model-contract/1`, docs/contract.md):
 * the `manifest.json` written next to every exported model by
 * `training/gaitlstm/contract.py`, and its `golden.json` test vectors.
 *
 * Strict on every field the runtime acts on (feature layout, rates, AHRS,
 * tensors, files and their hashes): a model this runtime would feed the wrong
 * numbers must be refused at load time with a message naming the file and
 * field, not produce plausible-looking angles. Strict in shape everywhere: an
 * unknown field is refused with its name (a typo or a field from another
 * contract version must not pass silently); descriptive fields (`provenance`,
 * `architecture`) are typed too, `metrics` is the one free-form object.
 *
 * ONE schema for both halves: docs/schema/manifest.schema.json is generated
 * from `ManifestSchema` (`npm run schema`, edge/contract/manifestJsonSchema.ts)
 * and Python validates every manifest it writes or reads against that file
 * (training/gaitlstm/manifest_schema.py). Refinements (unit quaternions,
 * relative paths) and the checks across fields below are the edge's alone.
 *
 * (Over 400 lines on purpose: this is the contract's whole schema, one zod
 * object per manifest section plus the checks across sections; split up, the
 * contract would no longer read as one document.)
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

export const SUPPORTED_SCHEMA = "gait-model-contract/1";
export const SUPPORTED_FEATURE_PIPELINES = ["gait-features/1", "gait-features/2"] as const;

/** OpenSim body names a placement may use (docs/contract.md, "Words"). */
export const PLACEMENTS = [
  "pelvis",
  "torso",
  "femur_r",
  "femur_l",
  "tibia_r",
  "tibia_l",
  "calcn_r",
  "calcn_l",
] as const;
export type Placement = (typeof PLACEMENTS)[number];

/** The per-placement feature columns this runtime builds, in order (contract step 6). */
export const FEATURE_CHANNELS = [
  { name: "acc_x", unit: "m/s^2" },
  { name: "acc_y", unit: "m/s^2" },
  { name: "acc_z", unit: "m/s^2" },
  { name: "gyro_x", unit: "rad/s" },
  { name: "gyro_y", unit: "rad/s" },
  { name: "gyro_z", unit: "rad/s" },
  { name: "roll", unit: "rad" },
  { name: "pitch", unit: "rad" },
  { name: "yaw_rel", unit: "rad" },
] as const;
export const CHANNELS_PER_PLACEMENT = FEATURE_CHANNELS.length;

// ---------------------------------------------------------------------------
// Schema. Messages are phrased to read well after "<file>: <field>: ".

const POS_INT = "expected a positive integer";
const posInt = z.number({ error: POS_INT }).int({ error: POS_INT }).positive({ error: POS_INT });
const POS_NUM = "expected a positive number";
const posNum = z.number({ error: POS_NUM }).positive({ error: POS_NUM }).finite({ error: POS_NUM });
const finiteNum = z.number({ error: "expected a finite number" }).finite({ error: "expected a finite number" });
const FRACTION = "expected a number from 0 to 1";
const fraction = z.number({ error: FRACTION }).min(0, { error: FRACTION }).max(1, { error: FRACTION });
const nonEmpty = z.string({ error: "expected a non-empty string" }).min(1, { error: "expected a non-empty string" });
const sha256Hex = z
  .string({ error: "expected a sha256 hex digest" })
  .regex(/^[0-9a-f]{64}$/, { error: "expected 64 lowercase hex digits (sha256)" });
/** A file next to the manifest; never absolute or escaping the model folder. */
const relativeFile = nonEmpty.refine((f) => !path.isAbsolute(f) && !f.split(/[\\/]/).includes(".."), {
  error: "expected a file name relative to the manifest's folder (no absolute path, no '..')",
});
const semver = z
  .string({ error: "expected a semantic version string" })
  .regex(/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/, { error: "expected a semantic version like 1.2.0" });
const unitQuat = z
  .tuple([finiteNum, finiteNum, finiteNum, finiteNum], { error: "expected a quaternion [w, x, y, z]" })
  .refine((q) => Math.abs(Math.hypot(...q) - 1) < 1e-6, { error: "expected a unit quaternion [w, x, y, z]" });
const fileRef = z.strictObject({ file: relativeFile, sha256: sha256Hex, bytes: posInt });
const tensorSpec = z.strictObject({
  name: nonEmpty,
  shape: z.array(z.union([posInt, nonEmpty]), { error: "expected a shape array" }),
  dtype: z.literal("float32"),
});

/** `feature_pipeline` values a manifest may name (docs/contract.md); which of them this runtime RUNS is SUPPORTED_FEATURE_PIPELINES. */
export const FEATURE_PIPELINE_V1 = "gait-features/1";
export const FEATURE_PIPELINE_V2 = "gait-features/2";
export const KNOWN_FEATURE_PIPELINES = [FEATURE_PIPELINE_V1, FEATURE_PIPELINE_V2] as const;
export type FeaturePipeline = (typeof KNOWN_FEATURE_PIPELINES)[number];

/**
 * v2's Euler reference, the same for every placement: the shortest arc from +z
 * to the segment's +y, (w, x, y, z) = (√½, −√½, 0, 0) (docs/contract.md, v2 step 4).
 */
export const V2_EULER_REFERENCE = [Math.SQRT1_2, -Math.SQRT1_2, 0, 0] as const;

/**
 * The calibration constants a v2 manifest records (Python's `gaitlstm.mounting.calibrate`
 * names, docs/calibration.md). For reference: the edge calibrates with its own copies
 * (edge/calibration/calibrate.ts), held to the calibration golden vectors.
 */
const CalibrationConstantsSchema = z.strictObject({
  STILL_GYRO: posNum,
  STILL_ACC: posNum,
  STAND_S: posNum,
  NO_MOTION_GYRO: posNum,
  MIN_WALK_S: posNum,
  MIN_STRIDES: posInt,
  STRIDE_MIN_S: posNum,
  STRIDE_MAX_S: posNum,
  MIN_PERIODICITY: posNum,
  MIN_PLANARITY: posNum,
  SIGN_LAG_S: posNum,
  MIN_SIGN_MARGIN: posNum,
  /** Since gait-calibration/2 (the joint thigh+foot sign rule); absent in /1 manifests. */
  MIN_JOINT_MARGIN: posNum.optional(),
});
export type CalibrationConstants = z.infer<typeof CalibrationConstantsSchema>;

/** v2's `calibration` block: the sensor-to-segment calibration run before the AHRS (step 2b). */
export const ManifestCalibrationSchema = z.strictObject({
  /** The calibration algorithm and its version, e.g. "gait-calibration/2" (docs/calibration.md). */
  algorithm: z
    .string({ error: "expected a calibration algorithm like gait-calibration/1" })
    .regex(/^gait-calibration\/\d+$/, { error: "expected a calibration algorithm like gait-calibration/1" }),
  spec: nonEmpty,
  /** Calibrate on grid samples [0, round(seconds · rate)) of a segment. */
  seconds: posNum,
  source: nonEmpty,
  vertical: z.literal("walking"),
  check_handedness: z.literal(true),
  apply: nonEmpty,
  on_refusal: nonEmpty,
  constants: CalibrationConstantsSchema,
});
export type ManifestCalibration = z.infer<typeof ManifestCalibrationSchema>;

/** What the network is (Python's `gaitlstm.models.architecture`): descriptive, but typed. */
const ArchitectureSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("lstm"), layers: posInt, hidden: posInt, dropout: fraction }),
  z.strictObject({ type: z.literal("cnn"), conv_channels: z.array(posInt).min(1), kernel: posInt }),
]);

/** One recording of a split: a trial, or the fraction [start, end) of it (Python's `dataset.Part`). */
const PartSchema = z.strictObject({ subject: nonEmpty, trial: nonEmpty, start: fraction, end: fraction });
const subjectList = z.array(nonEmpty);

/**
 * Where the model comes from (export.py `provenance`, from the checkpoint and the data
 * export read, never constants). Descriptive: the runtime does not act on it. Fields
 * a newer export adds are optional so that older models still load.
 */
const ProvenanceSchema = z.strictObject({
  dataset: nonEmpty,
  subjects: z.strictObject({ train: subjectList, val: subjectList.optional(), test: subjectList }).optional(),
  data_dir: nonEmpty,
  method: z.enum(["ui", "ug", "ua"]),
  heldout: z.string().nullable(),
  train_trials: z.array(nonEmpty),
  val_trials: z.array(nonEmpty).optional(),
  test_trials: z.array(nonEmpty),
  train_set: z.array(PartSchema),
  val_set: z.array(PartSchema).optional(),
  test_set: z.array(PartSchema),
  /** The `train` flags of the checkpoint (Python's TrainConfig), as they were. */
  train_args: z.record(z.string(), z.unknown()).optional(),
  code_commit: nonEmpty,
  seed: z.number().int(),
  torch: z.string(),
  train_minutes: z.number().nullable(),
  train_device: z.string(),
});

/** The fields every feature pipeline's manifest has. */
const commonFields = {
  schema: z.literal(SUPPORTED_SCHEMA),
  name: nonEmpty,
  version: semver,
  created: z.string().optional(),
  architecture: ArchitectureSchema.optional(),
  placements: z
    .array(z.enum(PLACEMENTS), { error: "expected an array of placements" })
    .min(1, { error: "expected at least one placement" })
    .refine((p) => new Set(p).size === p.length, { error: "expected each placement once" }),
  sample_rate_hz: posNum,
  window: posInt,
  stride: posInt,
  resampling: z.strictObject({
    method: z.literal("linear"),
    grid: nonEmpty.optional(),
    prefilter: z.null().optional(),
    max_gap_s: posNum.optional(),
  }),
  ahrs: z.strictObject({
    algorithm: z.literal("madgwick-imu"),
    implementation: z.literal("ahrs@1.3.3"),
    beta: posNum,
    dt_s: posNum,
    init: z.literal("accelerometer"),
    // What this runtime's AhrsFilter does (docs/contract.md step 3); a model trained
    // with other choices would see different features.
    first_sample: z.literal("init-only"),
    zero_gradient: z.literal("gyro-only-step"),
    nan_guard: z.literal("reinit-from-accelerometer"),
  }),
  euler: z.strictObject({
    sequence: z.literal("ZYX"),
    order: z.tuple([z.literal("roll"), z.literal("pitch"), z.literal("yaw")]),
    unit: z.literal("rad"),
    yaw: z.literal("relative-to-window-start"),
    reference: z.record(z.string(), unitQuat),
  }),
  normalization: z.strictObject({
    // The runtime feeds un-normalized features; a graph without the z-score would get wrong inputs.
    in_graph: z.literal(true, { error: "expected true (this runtime does not normalize features itself)" }),
    mean: z.array(finiteNum),
    std: z.array(posNum),
    // The targets' z-score, undone inside the graph too (for reference).
    target_mean: z.array(finiteNum).optional(),
    target_std: z.array(posNum).optional(),
  }),
  joints: z
    .array(z.strictObject({ name: nonEmpty, unit: z.literal("deg"), positive: nonEmpty }))
    .min(1, { error: "expected at least one joint" }),
  publish: z.strictObject({ first_window: z.literal("all"), then: z.literal("last_stride") }),
  tensors: z.strictObject({ input: tensorSpec, output: tensorSpec }),
  model: fileRef.extend({ quantization: nonEmpty }),
  variants: z.record(z.string(), fileRef).default({}),
  golden: z.strictObject({ file: relativeFile, sha256: sha256Hex }).optional(),
  input_limits: z.strictObject({ acc_abs_max: posNum, gyro_abs_max: posNum }),
  provenance: ProvenanceSchema.optional(),
  // Scores of the exported files (export.py `metrics`): free-form on purpose, the one
  // open field. Which scores an export reports changes with the study; nothing reads them.
  metrics: z.record(z.string(), z.unknown()).optional(),
  // Added by `gait-edge bundle --allow-downgrade` before signing (docs/ota.md).
  ota: z.strictObject({ allowDowngrade: z.boolean().optional() }).optional(),
};

/** A feature column; which frames a pipeline may use is its own (channels cross-checked below). */
const channel = <F extends readonly [string, ...string[]]>(frames: F) =>
  z.strictObject({ name: nonEmpty, unit: nonEmpty, frame: z.enum(frames) });

export const ManifestV1Schema = z.strictObject({
  ...commonFields,
  feature_pipeline: z.literal(FEATURE_PIPELINE_V1),
  // gait-features/1: the raw sensor axes.
  channels: z.array(channel(["sensor", "euler"] as const)),
});

export const ManifestV2Schema = z.strictObject({
  ...commonFields,
  feature_pipeline: z.literal(FEATURE_PIPELINE_V2),
  // gait-features/2: acc and gyro in the segment frame, after the calibration.
  channels: z.array(channel(["segment", "euler"] as const)),
  calibration: ManifestCalibrationSchema,
});

/**
 * The manifest, both feature pipelines (`feature_pipeline` picks the branch). Strict:
 * an unknown field anywhere is refused with its name. docs/schema/manifest.schema.json
 * is generated from this (`npm run schema`), and Python checks every manifest it
 * writes or reads against that file.
 */
export const ManifestSchema = z.discriminatedUnion("feature_pipeline", [ManifestV1Schema, ManifestV2Schema], {
  error: (issue) =>
    issue.code === "invalid_union" ? `expected one of the known feature pipelines (${KNOWN_FEATURE_PIPELINES.join(", ")})` : undefined,
});
export type ManifestV1 = z.infer<typeof ManifestV1Schema>;
export type ManifestV2 = z.infer<typeof ManifestV2Schema>;
export type Manifest = ManifestV1 | ManifestV2;

/** True when the model's features are in segment frames: the runtime must rotate every placement by its mounting before the AHRS. */
export function usesSegmentFrames(m: Pick<Manifest, "feature_pipeline">): boolean {
  return m.feature_pipeline === FEATURE_PIPELINE_V2;
}

/** v2's calibration settings, or null for a pipeline without a calibration step. */
export function manifestCalibration(m: Manifest): ManifestCalibration | null {
  return m.feature_pipeline === FEATURE_PIPELINE_V2 ? m.calibration : null;
}

/** A manifest that passed every check, with absolute paths of its verified files. */
export interface LoadedContract {
  readonly manifest: Manifest;
  readonly manifestPath: string;
  readonly dir: string;
  /** The deployed model (`manifest.model.file`), hash verified. */
  readonly modelPath: string;
  /** Variants whose file is present and hash verified (e.g. `fp32`); absent files are left out. */
  readonly variantPaths: Readonly<Record<string, string>>;
  /** Golden vectors when present and hash verified, else null. */
  readonly goldenPath: string | null;
  /** Feature columns per grid sample: 9 × placements. */
  readonly featureCount: number;
  /** Feature-pipeline constants in the shape the runtime modules take. */
  readonly pipeline: PipelineParams;
}

export interface PipelineParams {
  readonly placements: readonly Placement[];
  readonly sampleRateHz: number;
  readonly window: number;
  readonly stride: number;
  readonly beta: number;
  readonly dtS: number;
  /** q_ref per placement, manifest order, [w, x, y, z]. */
  readonly references: readonly (readonly [number, number, number, number])[];
  readonly joints: readonly string[];
  /** manifest.input_limits: readings beyond these are corrupt (see GridResampler). */
  readonly inputLimits: { readonly accAbsMax: number; readonly gyroAbsMax: number };
  readonly inputName: string;
  readonly outputName: string;
  /**
   * gait-features/2: acc and gyro are rotated into each placement's segment
   * frame (its mounting calibration) before the AHRS, and no features are
   * built for a placement without one (docs/contract.md step 2b).
   */
  readonly segmentFrames: boolean;
}

export class ContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContractError";
  }
}

// ---------------------------------------------------------------------------
// Formatting of validation failures

function formatPath(p: readonly PropertyKey[]): string {
  let out = "";
  for (const key of p) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || "(top level)";
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing (field missing)";
  const text = JSON.stringify(value);
  // JSON.stringify gives undefined for functions and symbols: name the kind.
  if (text === undefined) return `a ${typeof value}`;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function formatIssues(file: string, issues: readonly z.core.$ZodIssue[]): string {
  // An unknown field is named itself (not its parent object, whose text would be the "got").
  const named = issues.flatMap((issue): string[] =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => `${file}: ${formatPath([...issue.path, key])}: unknown field (not part of ${SUPPORTED_SCHEMA}; a typo, or a newer contract?)`)
      : [],
  );
  const lines = issues.filter((issue) => issue.code !== "unrecognized_keys").map((issue) => {
    const message = issue.message.replace(/^Invalid input: /, "");
    let input = (issue as { input?: unknown }).input;
    // A discriminated union (feature_pipeline, architecture.type) reports the whole object: show the key's value.
    const key = issue.path.at(-1);
    if (typeof key === "string" && typeof input === "object" && input !== null && key in input) input = (input as Record<string, unknown>)[key];
    // "got" makes sense for a bad value; for a bad container or a failed refinement the value can be big
    return `${file}: ${formatPath(issue.path)}: ${message}, got ${describe(input)}`;
  });
  const all = [...named, ...lines];
  const shown = all.slice(0, 8);
  if (all.length > 8) shown.push(`${file}: ... and ${all.length - 8} more problems`);
  return shown.join("\n");
}

// ---------------------------------------------------------------------------
// Checks across fields (shapes, references, constants the runtime hard-codes)

function crossChecks(m: Manifest): string[] {
  const problems: string[] = [];
  const nFeatures = CHANNELS_PER_PLACEMENT * m.placements.length;

  if (!(SUPPORTED_FEATURE_PIPELINES as readonly string[]).includes(m.feature_pipeline)) {
    problems.push(
      `feature_pipeline: this runtime supports ${SUPPORTED_FEATURE_PIPELINES.join(", ")}, got "${m.feature_pipeline}"`,
    );
  }
  if (m.stride > m.window) problems.push(`stride: expected at most window (${m.window}), got ${m.stride}`);
  if (Math.abs(m.ahrs.dt_s * m.sample_rate_hz - 1) > 1e-9) {
    problems.push(`ahrs.dt_s: expected 1 / sample_rate_hz = ${1 / m.sample_rate_hz}, got ${m.ahrs.dt_s}`);
  }
  if (m.channels.length !== CHANNELS_PER_PLACEMENT) {
    problems.push(`channels: expected ${CHANNELS_PER_PLACEMENT} channels per placement, got ${m.channels.length}`);
  } else {
    m.channels.forEach((c, i) => {
      const want = FEATURE_CHANNELS[i]!;
      if (c.name !== want.name || c.unit !== want.unit) {
        problems.push(
          `channels[${i}]: expected ${want.name} in ${want.unit} (the runtime's column order), got ${c.name} in ${c.unit}`,
        );
      }
    });
  }
  // acc and gyro columns are in the sensor frame (v1) or the segment frame (v2); the Euler ones in "euler".
  const vectorFrame = m.feature_pipeline === FEATURE_PIPELINE_V2 ? "segment" : "sensor";
  m.channels.forEach((c, i) => {
    const want = FEATURE_CHANNELS[i]?.unit === "rad" ? "euler" : vectorFrame;
    if (i < CHANNELS_PER_PLACEMENT && c.frame !== want) {
      problems.push(`channels[${i}].frame: expected "${want}" for ${m.feature_pipeline}, got "${c.frame}"`);
    }
  });
  for (const p of m.placements) {
    const q = m.euler.reference[p];
    if (!q) problems.push(`euler.reference: expected a quaternion for placement "${p}", got none`);
    else if (m.feature_pipeline === FEATURE_PIPELINE_V2 && q.some((v, k) => Math.abs(v - V2_EULER_REFERENCE[k]!) > 1e-9)) {
      problems.push(`euler.reference.${p}: expected ${m.feature_pipeline}'s constant [${V2_EULER_REFERENCE.join(", ")}], got ${JSON.stringify(q)}`);
    }
  }
  if (m.normalization.mean.length !== nFeatures) {
    problems.push(`normalization.mean: expected ${nFeatures} values, got ${m.normalization.mean.length}`);
  }
  if (m.normalization.std.length !== nFeatures) {
    problems.push(`normalization.std: expected ${nFeatures} values, got ${m.normalization.std.length}`);
  }
  const checkShape = (field: string, shape: readonly (number | string)[], want: [number, number]): void => {
    const ok =
      shape.length === 3 &&
      (typeof shape[0] === "string" || shape[0] === 1) &&
      shape[1] === want[0] &&
      shape[2] === want[1];
    if (!ok) {
      problems.push(`${field}: expected ["batch", ${want[0]}, ${want[1]}], got ${JSON.stringify(shape)}`);
    }
  };
  checkShape("tensors.input.shape", m.tensors.input.shape, [m.window, nFeatures]);
  checkShape("tensors.output.shape", m.tensors.output.shape, [m.window, m.joints.length]);
  return problems;
}

// ---------------------------------------------------------------------------
// Files

export async function sha256OfFile(file: string): Promise<string> {
  return createHash("sha256").update(await readFile(file)).digest("hex");
}

async function verifyFile(
  manifestPath: string,
  field: string,
  file: string,
  expected: { sha256: string; bytes?: number },
): Promise<void> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error("not a regular file");
    size = st.size;
  } catch (err) {
    throw new ContractError(`${manifestPath}: ${field}: file ${file} is missing or unreadable (${(err as Error).message})`);
  }
  if (expected.bytes !== undefined && size !== expected.bytes) {
    throw new ContractError(`${manifestPath}: ${field}: ${file} has ${size} bytes, the manifest says ${expected.bytes}`);
  }
  const actual = await sha256OfFile(file);
  if (actual !== expected.sha256) {
    throw new ContractError(
      `${manifestPath}: ${field}: sha256 mismatch for ${file}: manifest says ${expected.sha256}, file is ${actual} (corrupt or half-copied model?)`,
    );
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ContractError(`${file}: cannot read ${what} (${(err as Error).message})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ContractError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

/** Validate a parsed manifest object; throws ContractError listing every problem. */
export function parseManifest(raw: unknown, manifestPath = "manifest.json"): Manifest {
  const parsed = ManifestSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw new ContractError(formatIssues(manifestPath, parsed.error.issues));
  const problems = crossChecks(parsed.data);
  if (problems.length) throw new ContractError(problems.map((p) => `${manifestPath}: ${p}`).join("\n"));
  return parsed.data;
}

/**
 * Load and verify a model contract. `target` is a manifest file or the model
 * folder holding `manifest.json`. Checks the schema, the cross-field
 * constraints and the model file's size and sha256; variants and golden
 * vectors are verified when present.
 */
export async function loadManifest(target: string): Promise<LoadedContract> {
  let manifestPath = path.resolve(target);
  if (await exists(manifestPath)) {
    if ((await stat(manifestPath)).isDirectory()) manifestPath = path.join(manifestPath, "manifest.json");
  }
  const dir = path.dirname(manifestPath);
  const manifest = parseManifest(await readJson(manifestPath, "the model manifest"), manifestPath);

  const modelPath = path.join(dir, manifest.model.file);
  await verifyFile(manifestPath, "model", modelPath, manifest.model);

  const variantPaths: Record<string, string> = {};
  for (const [name, ref] of Object.entries(manifest.variants)) {
    const file = path.join(dir, ref.file);
    // Variants are optional on a device (only the deployed model is needed), but never wrong.
    if (!(await exists(file))) continue;
    await verifyFile(manifestPath, `variants.${name}`, file, ref);
    variantPaths[name] = file;
  }

  let goldenPath: string | null = null;
  if (manifest.golden) {
    const file = path.join(dir, manifest.golden.file);
    if (await exists(file)) {
      await verifyFile(manifestPath, "golden", file, manifest.golden);
      goldenPath = file;
    }
  }

  const placements = manifest.placements;
  return {
    manifest,
    manifestPath,
    dir,
    modelPath,
    variantPaths,
    goldenPath,
    featureCount: CHANNELS_PER_PLACEMENT * placements.length,
    pipeline: {
      placements,
      sampleRateHz: manifest.sample_rate_hz,
      window: manifest.window,
      stride: manifest.stride,
      beta: manifest.ahrs.beta,
      dtS: manifest.ahrs.dt_s,
      references: placements.map((p) => manifest.euler.reference[p]!),
      // gait-features/1 as docs/contract.md states it today (step 3, "Start")
      joints: manifest.joints.map((j) => j.name),
      inputLimits: { accAbsMax: manifest.input_limits.acc_abs_max, gyroAbsMax: manifest.input_limits.gyro_abs_max },
      inputName: manifest.tensors.input.name,
      outputName: manifest.tensors.output.name,
      segmentFrames: usesSegmentFrames(manifest),
    },
  };
}

// ---------------------------------------------------------------------------
// Golden vectors

const vec3 = z.tuple([finiteNum, finiteNum, finiteNum]);
const numberGrid3 = z.array(z.array(z.array(finiteNum)));

export const GoldenSchema = z.looseObject({
  placements: z.array(z.enum(PLACEMENTS)).min(1),
  sample_rate_hz: posNum,
  window: posInt,
  stride: posInt,
  raw: z.record(z.string(), z.looseObject({ t: z.array(finiteNum), acc: z.array(vec3), gyro: z.array(vec3) })),
  grid_t: z.array(finiteNum),
  features: numberGrid3,
  outputs: z.record(z.string(), numberGrid3),
  tolerance: z.looseObject({
    features_abs: posNum,
    outputs_abs_deg: z.record(z.string(), posNum),
  }),
});
export type Golden = z.infer<typeof GoldenSchema>;

/** Load golden vectors and check their internal shapes (and against a manifest, when given). */
export async function loadGolden(file: string, manifest?: Manifest): Promise<Golden> {
  const absolute = path.resolve(file);
  const parsed = GoldenSchema.safeParse(await readJson(absolute, "golden vectors"), { reportInput: true });
  if (!parsed.success) throw new ContractError(formatIssues(absolute, parsed.error.issues));
  const g = parsed.data;
  const problems: string[] = [];
  const nFeatures = CHANNELS_PER_PLACEMENT * g.placements.length;
  for (const p of g.placements) {
    const r = g.raw[p];
    if (!r) problems.push(`raw: no samples for placement "${p}"`);
    else if (r.t.length !== r.acc.length || r.t.length !== r.gyro.length) {
      problems.push(`raw.${p}: t, acc and gyro lengths differ (${r.t.length}, ${r.acc.length}, ${r.gyro.length})`);
    }
  }
  g.features.forEach((w, i) => {
    if (w.length !== g.window || w.some((row) => row.length !== nFeatures)) {
      problems.push(`features[${i}]: expected ${g.window} rows of ${nFeatures} values`);
    }
  });
  for (const [variant, out] of Object.entries(g.outputs)) {
    if (out.length !== g.features.length) {
      problems.push(`outputs.${variant}: expected ${g.features.length} windows, got ${out.length}`);
    }
  }
  if (manifest) {
    if (JSON.stringify(g.placements) !== JSON.stringify(manifest.placements)) {
      problems.push(`placements: ${JSON.stringify(g.placements)} differ from the manifest's ${JSON.stringify(manifest.placements)}`);
    }
    if (g.window !== manifest.window || g.stride !== manifest.stride || g.sample_rate_hz !== manifest.sample_rate_hz) {
      problems.push("window, stride or sample_rate_hz differ from the manifest");
    }
  }
  if (problems.length) throw new ContractError(problems.map((p) => `${absolute}: ${p}`).join("\n"));
  return g;
}
