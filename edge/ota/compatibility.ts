/**
 * May an offered model replace the running one without restarting the
 * pipeline (docs/ota.md, "Compatibility rules")? Three questions, in order:
 *
 * 1. Can this edge BUILD run the offered contract at all (`unsupportedReasons`):
 *    its feature pipeline, and for `gait-features/2` the calibration algorithm and
 *    constants, must be this build's own. Otherwise the software must be updated
 *    first.
 * 2. Does it fit the RUNNING pipeline (`contractDifferences`): the pipeline builds
 *    features with the running contract's constants (feature pipeline,
 *    placements, rate, window, AHRS, Euler references, calibration...), so every
 *    one of them must be identical; only the network inside may change.
 *    Normalization may differ: it lives inside the graph (`in_graph: true`).
 *    Another contract needs a restart with a new config, never a hot swap.
 * 3. Which stored sensor calibrations (`calibration.file`) it may use
 *    (`staleMountings`): a mounting made by another calibration algorithm than
 *    the model's is never applied; that sensor is calibrated again from walking
 *    (status `calibrating`). The offer is accepted: refusing would block every
 *    update on a device whose file is old, and the recalibration is automatic.
 */
import {
  CALIBRATION_ALGORITHM, MIN_JOINT_MARGIN, MIN_PERIODICITY, MIN_PLANARITY, MIN_SIGN_MARGIN, MIN_STRIDES, MIN_WALK_S, NO_MOTION_GYRO,
  SIGN_LAG_S, STAND_S, STILL_ACC, STILL_GYRO, STRIDE_MAX_S, STRIDE_MIN_S,
} from "../calibration/calibrate.js";
import {
  manifestCalibration, SUPPORTED_FEATURE_PIPELINES, type CalibrationConstants, type Manifest, type ManifestCalibration,
} from "../contract/manifest.js";
import { LEGACY_MOUNTING_ALGORITHM, type SavedMounting } from "../runtime/calibrationFile.js";

/** The calibration constants this build calibrates with (edge/calibration/calibrate.ts), by the manifest's names. */
export const EDGE_CALIBRATION_CONSTANTS: CalibrationConstants = {
  STILL_GYRO, STILL_ACC, STAND_S, NO_MOTION_GYRO, MIN_WALK_S, MIN_STRIDES, STRIDE_MIN_S, STRIDE_MAX_S,
  MIN_PERIODICITY, MIN_PLANARITY, SIGN_LAG_S, MIN_SIGN_MARGIN, MIN_JOINT_MARGIN,
};

/**
 * Why this edge build cannot run a contract at all (empty: it can). Takes the
 * raw `feature_pipeline` so that a pipeline this build does not even know
 * (a newer one) gets the same answer as one it knows but does not run.
 */
export function unsupportedPipelineReason(featurePipeline: unknown): string | null {
  if ((SUPPORTED_FEATURE_PIPELINES as readonly unknown[]).includes(featurePipeline)) return null;
  return (
    `the model needs the feature pipeline ${JSON.stringify(featurePipeline)}, this edge build runs ${SUPPORTED_FEATURE_PIPELINES.join(", ")} ` +
    "only: update the edge software first"
  );
}

/** What a v2 model's calibration needs that this build's calibration is not (empty: the same algorithm and constants). */
export function calibrationMismatches(calibration: ManifestCalibration): string[] {
  const out: string[] = [];
  if (calibration.algorithm !== CALIBRATION_ALGORITHM) {
    out.push(`calibration.algorithm: the model was trained with ${calibration.algorithm}, this edge build calibrates with ${CALIBRATION_ALGORITHM}`);
  }
  for (const [name, edge] of Object.entries(EDGE_CALIBRATION_CONSTANTS) as [keyof CalibrationConstants, number][]) {
    const trained = calibration.constants[name];
    // Exact: the thresholds decide which samples calibrate, hence the rotation the model was trained on.
    if (trained === undefined) out.push(`calibration.constants.${name}: the model's manifest has none (an older calibration), this edge build calibrates with ${edge}`);
    else if (trained !== edge) out.push(`calibration.constants.${name}: the model was trained with ${trained}, this edge build calibrates with ${edge}`);
  }
  return out;
}

/** Why this build cannot run a parsed contract (feature pipeline, then calibration); empty: it can. */
export function unsupportedReasons(m: Manifest): string[] {
  const pipeline = unsupportedPipelineReason(m.feature_pipeline);
  if (pipeline) return [pipeline];
  const calibration = manifestCalibration(m);
  return calibration ? calibrationMismatches(calibration) : [];
}

/**
 * The stored mountings (`<wearer>/<placement>`) a model with this calibration
 * must NOT use: made by another calibration algorithm, their rotation is not the
 * one the model was trained on. Entries from before mountings named their
 * algorithm are `LEGACY_MOUNTING_ALGORITHM`'s (the only one there was). A v1
 * model (no calibration step) uses none, so none is stale for it.
 */
export function staleMountings(calibration: ManifestCalibration | null, stored: readonly SavedMounting[]): string[] {
  return staleMountingEntries(calibration, stored).map((m) => `${m.wearer}/${m.placement}`);
}

/** The stale mountings themselves (see staleMountings): what the install drops. */
export function staleMountingEntries(calibration: ManifestCalibration | null, stored: readonly SavedMounting[]): SavedMounting[] {
  if (!calibration) return [];
  return stored.filter((m) => (m.algorithm ?? LEGACY_MOUNTING_ALGORITHM) !== calibration.algorithm);
}

/** Fields the feature pipeline, the scheduler or the angle consumers depend on. */
function pipelineView(m: Manifest): Record<string, unknown> {
  const calibration = manifestCalibration(m);
  return {
    feature_pipeline: m.feature_pipeline,
    placements: m.placements,
    channels: m.channels.map((c) => [c.name, c.unit, c.frame]),
    sample_rate_hz: m.sample_rate_hz,
    window: m.window,
    stride: m.stride,
    "resampling.method": m.resampling.method,
    ahrs: [m.ahrs.algorithm, m.ahrs.implementation, m.ahrs.beta, m.ahrs.dt_s, m.ahrs.init, m.ahrs.nan_guard],
    "euler.sequence": [m.euler.sequence, m.euler.order, m.euler.unit, m.euler.yaw],
    "euler.reference": m.placements.map((p) => m.euler.reference[p]),
    // v2: the calibration step builds the features too (its descriptive strings aside).
    calibration: calibration && [calibration.algorithm, calibration.seconds, calibration.vertical, calibration.check_handedness, calibration.constants],
    input_limits: [m.input_limits.acc_abs_max, m.input_limits.gyro_abs_max],
    joints: m.joints.map((j) => [j.name, j.unit]),
    "tensors.input": [m.tensors.input.name, m.tensors.input.shape, m.tensors.input.dtype],
    "tensors.output": [m.tensors.output.name, m.tensors.output.shape, m.tensors.output.dtype],
    publish: [m.publish.first_window, m.publish.then],
  };
}

/** Every field where the offered contract differs from the running one; empty: compatible. */
export function contractDifferences(running: Manifest, offered: Manifest): string[] {
  const a = pipelineView(running);
  const b = pipelineView(offered);
  const out: string[] = [];
  for (const key of Object.keys(a)) {
    const ra = JSON.stringify(a[key]);
    const rb = JSON.stringify(b[key]);
    if (ra !== rb) out.push(`${key}: the running model has ${short(ra)}, the offered one ${short(rb)}`);
  }
  return out;
}

function short(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** Semantic-version order: <0, 0, >0. Build metadata is ignored; a pre-release sorts before its release. */
export function compareSemver(a: string, b: string): number {
  const pa = SEMVER.exec(a);
  const pb = SEMVER.exec(b);
  if (!pa || !pb) throw new Error(`not a semantic version: ${!pa ? a : b}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  const ra = pa[4];
  const rb = pb[4];
  if (ra === rb) return 0;
  if (ra === undefined) return 1;
  if (rb === undefined) return -1;
  const xa = ra.split(".");
  const xb = rb.split(".");
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const x = xa[i];
    const y = xb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny && Number(x) !== Number(y)) return Math.sign(Number(x) - Number(y));
    if (nx !== ny) return nx ? -1 : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
