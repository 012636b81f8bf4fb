/**
 * Recorded raw samples -> per-sensor orientations, computed as the edge
 * computes them (edge/runtime/pipeline.ts): the model's grid resampler
 * (rate, gap rule, input limits from the contract), then one Madgwick filter
 * per placement (AhrsFilter with the contract's beta and dt), restarted at
 * every re-anchor exactly as the pipeline restarts its feature builder. Pure.
 *
 * Not applied: a calibration's gyro bias (the recording has raw samples, the
 * bias lives in calibration.file), so a calibrated device's live AHRS differs
 * by that bias.
 */
import { PLACEMENTS, type PipelineParams } from "../contract/manifest.js";
import { GRID_CHANNELS, GridResampler, ResamplerConfigSchema } from "../features/resampler.js";
import { AhrsFilter } from "../fusion/ahrsFilter.js";
import type { ImuSample } from "../sources/types.js";
import type { OrientationTable } from "./tables.js";

export interface OrientationOptions {
  readonly pipeline: PipelineParams;
  /** The contract's `resampling.max_gap_s`, as the pipeline uses it. */
  readonly maxGapS?: number;
  /** Sensor id -> wearer and placement (the runtime's routeSensor with the config's `sensors`). */
  readonly route: (sensorId: string) => { wearer: string; placement: string } | undefined;
}

export interface OrientationResult {
  readonly tables: OrientationTable[];
  /** Sensor ids no placement could be found for. */
  readonly unrouted: string[];
}

type Quat = readonly [number, number, number, number];

export function orientationTables(samples: readonly ImuSample[], options: OrientationOptions): OrientationResult {
  // Which placements each wearer has, in the contract's placement order.
  const byWearer = new Map<string, Array<{ placement: string; sample: ImuSample }>>();
  const unrouted = new Set<string>();
  for (const sample of samples) {
    const route = options.route(sample.sensorId);
    if (!route) {
      unrouted.add(sample.sensorId);
      continue;
    }
    const list = byWearer.get(route.wearer) ?? [];
    list.push({ placement: route.placement, sample });
    byWearer.set(route.wearer, list);
  }
  const tables = [...byWearer].map(([wearer, list]) => {
    const present = new Set(list.map((x) => x.placement));
    const placements = (PLACEMENTS as readonly string[]).filter((p) => present.has(p));
    return wearerOrientations(wearer, placements, list, options);
  });
  return { tables, unrouted: [...unrouted] };
}

function wearerOrientations(
  wearer: string,
  placements: readonly string[],
  list: ReadonlyArray<{ placement: string; sample: ImuSample }>,
  options: OrientationOptions,
): OrientationTable {
  const p = options.pipeline;
  const filters = placements.map(() => new AhrsFilter({ beta: p.beta, dtS: p.dtS }));
  const timeUs: number[] = [];
  const quats: Quat[][] = [];
  const resampler = new GridResampler(
    {
      placements,
      sampleRateHz: p.sampleRateHz,
      config: ResamplerConfigSchema.parse(options.maxGapS !== undefined ? { maxGapS: options.maxGapS } : {}),
      inputLimits: p.inputLimits,
    },
    {
      onGridSample: (g) => {
        const row = filters.map((f, i) => {
          const o = i * GRID_CHANNELS;
          const v = g.values;
          f.update(v[o]!, v[o + 1]!, v[o + 2]!, v[o + 3]!, v[o + 4]!, v[o + 5]!);
          return [f.q[0]!, f.q[1]!, f.q[2]!, f.q[3]!] as const;
        });
        timeUs.push(g.tUs);
        quats.push(row);
      },
      // Dropped samples are the resampler's business; the export counts rows, not issues.
      onIssue: () => undefined,
      // A new segment starts like a training trial: attitude from gravity again.
      onReanchor: () => filters.forEach((f) => f.reset()),
    },
  );
  for (const { placement, sample } of list) resampler.push(placements.indexOf(placement), sample.tUs, sample.acc, sample.gyro);
  resampler.finish();
  return { wearer, placements, timeUs, quats };
}
