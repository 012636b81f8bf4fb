/**
 * May an offered model replace the running one without restarting the
 * pipeline? The pipeline builds features with the running contract's
 * constants (placements, rate, window, AHRS, Euler references...), so every
 * one of them must be identical; only the network inside may change.
 * Normalization may differ: it lives inside the graph (`in_graph: true`).
 */
import type { Manifest } from "../contract/manifest.js";

/** Fields the feature pipeline, the scheduler or the angle consumers depend on. */
function pipelineView(m: Manifest): Record<string, unknown> {
  return {
    feature_pipeline: m.feature_pipeline,
    placements: m.placements,
    channels: m.channels.map((c) => [c.name, c.unit]),
    sample_rate_hz: m.sample_rate_hz,
    window: m.window,
    stride: m.stride,
    "resampling.method": m.resampling.method,
    ahrs: [m.ahrs.algorithm, m.ahrs.implementation, m.ahrs.beta, m.ahrs.dt_s, m.ahrs.init, m.ahrs.nan_guard],
    "euler.sequence": [m.euler.sequence, m.euler.order, m.euler.unit, m.euler.yaw],
    "euler.reference": m.placements.map((p) => m.euler.reference[p]),
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
