/**
 * The edge feature path driven by golden vectors' raw samples, and the
 * diagnostics that say where it departs from the training side. Shared by
 * golden.test.ts; not a test file itself.
 */
import { calibrate, type Calibration, type Mat3, type Vec3 } from "../../edge/calibration/index.js";
import type { Golden, PipelineParams } from "../../edge/contract/manifest.js";
import { FeatureBuilder } from "../../edge/features/featureBuilder.js";
import { GRID_CHANNELS, GridResampler, type ResamplerIssue } from "../../edge/features/resampler.js";
import { SegmentFrames } from "../../edge/features/segmentFrames.js";

export interface EdgeFeatures {
  gridT: number[];
  /** [window][row][column], float64 */
  windows: Float64Array[];
  issues: ResamplerIssue[];
  ahrsResets: number;
  /** gait-features/2: the calibration of each placement (manifest order) on the first `calibrationSeconds` of the grid. */
  calibrations?: Calibration[];
}

/**
 * gait-features/2 as docs/contract.md step 2b states it: calibrate each
 * placement on grid samples [0, round(seconds · rate)) with the edge's
 * calibration (walking vertical, handedness checked), then rotate every grid
 * sample by it before the AHRS. (The runtime learns the rotation while it
 * runs instead: edge/modules/mounting.ts; the arithmetic is this.)
 */
export interface SegmentFrameOptions {
  readonly calibrationSeconds: number;
}

type GoldenRaw = Golden["raw"];

/** Feed raw samples (merged in time order, as a live stream would deliver them) through resampler and feature builder. */
export function edgeFeaturesFromRaw(
  raw: GoldenRaw,
  params: Pick<PipelineParams, "placements" | "sampleRateHz" | "window" | "stride" | "beta" | "dtS" | "references"> &
    Partial<Pick<PipelineParams, "inputLimits">>,
  segmentFrames?: SegmentFrameOptions,
): EdgeFeatures {
  const fb = new FeatureBuilder(params);
  const width = fb.width * params.window;
  const out: EdgeFeatures = { gridT: [], windows: [], issues: [], ahrsResets: 0 };
  // v2 needs the first seconds of the grid before the first feature: keep the grid, build afterwards.
  const grid: Float64Array[] = [];
  const build = (values: ArrayLike<number>): void => {
    if (fb.push(values)) {
      const w = new Float64Array(width);
      fb.buildWindow(w);
      out.windows.push(w);
    }
  };
  const resampler = new GridResampler(
    {
      placements: params.placements,
      sampleRateHz: params.sampleRateHz,
      config: { maxGapS: 0.1, queueCapacity: 4096 },
      ...(params.inputLimits ? { inputLimits: params.inputLimits } : {}),
    },
    {
      onGridSample: (g) => {
        out.gridT.push(g.tUs / 1e6);
        if (segmentFrames) grid.push(Float64Array.from(g.values));
        else build(g.values);
      },
      onIssue: (i) => out.issues.push(i),
    },
  );
  const events: { p: number; i: number; t: number }[] = [];
  params.placements.forEach((placement, p) => {
    const r = raw[placement];
    if (!r) throw new Error(`golden raw has no placement ${placement}`);
    r.t.forEach((t, i) => events.push({ p, i, t }));
  });
  events.sort((a, b) => a.t - b.t || a.p - b.p);
  for (const e of events) {
    const r = raw[params.placements[e.p]!]!;
    resampler.push(e.p, r.t[e.i]! * 1e6, r.acc[e.i]!, r.gyro[e.i]!);
  }
  resampler.finish();
  if (segmentFrames) {
    const n = Math.min(grid.length, Math.round(segmentFrames.calibrationSeconds * params.sampleRateHz));
    const cals = params.placements.map((_p, i) => {
      const o = i * GRID_CHANNELS;
      const acc: Vec3[] = grid.slice(0, n).map((v) => [v[o]!, v[o + 1]!, v[o + 2]!]);
      const gyro: Vec3[] = grid.slice(0, n).map((v) => [v[o + 3]!, v[o + 4]!, v[o + 5]!]);
      return calibrate(acc, gyro, { rateHz: params.sampleRateHz, vertical: "walking", checkHandedness: true });
    });
    out.calibrations = cals;
    const rotations: (Mat3 | undefined)[] = cals.map((c) => (c.ok && c.C ? c.C : undefined));
    const frames = new SegmentFrames(params.placements.length);
    for (const values of grid) {
      // A refused placement has no features (contract step 2b): no windows at all.
      if (frames.apply(values, (i) => rotations[i]).kind === "withheld") break;
      build(frames.out);
    }
  }
  out.ahrsResets = fb.ahrsResets;
  return out;
}

const CHANNEL_NAMES = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "roll", "pitch", "yaw_rel"];
const STAGE = ["resampler", "resampler", "resampler", "resampler", "resampler", "resampler", "AHRS/euler", "AHRS/euler", "AHRS/euler or relative yaw"];

export interface FeatureComparison {
  maxAbs: number;
  /** Human-readable description of the first value beyond tolerance, or null. */
  firstDifference: string | null;
}

/** Compare edge windows with golden features; name the first differing window, row, column and the stage it belongs to. */
export function compareFeatures(
  edge: Float64Array[],
  golden: number[][][],
  placements: readonly string[],
  tol: number,
): FeatureComparison {
  let maxAbs = 0;
  let first: string | null = null;
  const n = Math.min(edge.length, golden.length);
  for (let w = 0; w < n; w++) {
    const gw = golden[w]!;
    const width = gw[0]!.length;
    for (let j = 0; j < gw.length; j++) {
      for (let c = 0; c < width; c++) {
        const a = edge[w]![j * width + c]!;
        const b = gw[j]![c]!;
        const d = Math.abs(a - b);
        if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
        if (first === null && !(d <= tol)) {
          const p = placements[Math.floor(c / 9)] ?? `block ${Math.floor(c / 9)}`;
          const ch = CHANNEL_NAMES[c % 9]!;
          first =
            `window ${w}, row ${j}, column ${c} (${p}.${ch}, stage: ${STAGE[c % 9]}): ` +
            `edge ${a} vs golden ${b} (|diff| ${d.toExponential(3)} > ${tol})`;
        }
      }
    }
  }
  if (edge.length !== golden.length && first === null) {
    first = `edge built ${edge.length} windows, golden has ${golden.length} (grid length differs: stage resampler)`;
  }
  return { maxAbs, firstDifference: first };
}
