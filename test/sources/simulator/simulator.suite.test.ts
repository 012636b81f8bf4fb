import { memoryLogger } from "../../../edge/log.js";
import { SimulatorSource, simulatorSourceSchema } from "../../../edge/sources/simulator/simulatorSource.js";
import { sourceSuite } from "../sourceSuite.js";

// 0.1 s at 100 Hz: grid samples 0..9 of the thigh and the foot, interleaved.
const expected = Array.from({ length: 10 }, (_, k) => [
  ["w1:femur_r", k * 10_000],
  ["w1:calcn_r", k * 10_000],
] as const).flat();

sourceSuite({
  name: "simulator (seed 7, fast)",
  expected,
  finite: true,
  // The simulator has no input to be bad, and cannot go silent.
  canBeSilent: false,
  create: async (_variant, { noDataTimeoutMs }) => ({
    source: new SimulatorSource(simulatorSourceSchema.parse({ realtime: false, durationS: 0.1, seed: 7, noDataTimeoutMs }), {
      logger: memoryLogger(),
    }),
    feed: async () => undefined,
    close: async () => undefined,
  }),
});
