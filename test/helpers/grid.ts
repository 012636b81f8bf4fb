/**
 * Routed samples onto the bus the way the runtime delivers them to the
 * mounting module: each `sample`, and the wearer's model grid (`grid`) from
 * the pipeline's own resampler (edge/features/resampler.ts), as
 * edge/modules/pipelines.ts publishes it. For module tests on a bare bus.
 */
import type { Placement } from "../../edge/contract/manifest.js";
import type { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents, RoutedSample } from "../../edge/core/events.js";
import { GridResampler } from "../../edge/features/resampler.js";

export function gridFeeder(
  bus: EventBus<EdgeEvents>,
  placements: readonly Placement[],
): { push: (s: RoutedSample) => void; finish: () => void } {
  const grids = new Map<string, GridResampler>();
  const gridOf = (wearer: string): GridResampler => {
    let r = grids.get(wearer);
    if (!r) {
      r = new GridResampler(
        { placements, sampleRateHz: 100, config: { maxGapS: 0.1, queueCapacity: 512 } },
        {
          onGridSample: (g) => bus.emit("grid", { wearer, placements, segment: g.segment, index: g.index, tUs: g.tUs, values: g.values }),
          onIssue: () => undefined,
        },
      );
      grids.set(wearer, r);
    }
    return r;
  };
  return {
    push: (s) => {
      bus.emit("sample", s);
      const i = placements.indexOf(s.placement);
      if (i >= 0) gridOf(s.wearer).push(i, s.sample.tUs, s.sample.acc, s.sample.gyro);
    },
    finish: () => {
      for (const r of grids.values()) r.finish();
    },
  };
}
