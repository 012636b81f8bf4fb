/**
 * What the mounting module alone costs per wearer-second, in steady state:
 * `npx tsx edge/bench/mountingCost.ts [--wearers 50] [--seconds 60]`.
 *
 * The simulated wearers' mountings come from the bench's calibration pre-pass
 * (edge/bench/calibrationPrepass.ts), loaded as from `calibration.file`; then
 * their grid (the simulator's samples, computed before the clock starts) is fed
 * to a MountingModule on a bare bus, so the figure is the module's own work:
 * gathering each sensor's stretch and, every `walkS` of walking, the re-strap
 * check (`stillFits`) and the pair check. `slow_sample_ms`: how long the
 * samples that ran a judgement held the event loop (a judgement is
 * synchronous). CPU time of this process, so it
 * holds on a busy machine better than the bench's profile shares do; the
 * printed rotations and fit angles let two builds be compared for identical
 * results. A development tool, not part of `make bench`.
 */
import { parseArgs } from "node:util";
import { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import { createLogger } from "../log.js";
import { MountingModule } from "../modules/mounting.js";
import { GaitSimulator } from "../sources/simulator/gaitSimulator.js";
import { calibrateSimulatedWearers, simulatedWearer } from "./calibrationPrepass.js";

const MODEL = "models/reduced-femur-calcn-lstm/manifest.json";
const PLACEMENTS = ["femur_r", "calcn_r"] as const;
const RATE_HZ = 100;
const SEED = 7;
const SLOW_SAMPLE_MS = 1;

function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { wearers: { type: "string", default: "50" }, seconds: { type: "string", default: "60" } } });
  const wearers = Number(values.wearers);
  const seconds = Number(values.seconds);
  if (!(wearers >= 1 && seconds >= 1)) throw new Error(`--wearers and --seconds must be at least 1 (got ${values.wearers}, ${values.seconds})`);
  const logger = createLogger("bench:mounting", { level: "warn" });
  const { mountings } = await calibrateSimulatedWearers({ model: MODEL, wearers, seed: SEED, logger });
  const bus = new EventBus<EdgeEvents>({ logger });
  const mounting = new MountingModule(
    { enabled: true, walkS: 20 },
    { logger, bus, placements: () => PLACEMENTS, segmentFrames: () => true, rateHz: () => RATE_HZ, store: { savedMountings: () => mountings, saveMounting: async () => undefined } },
  );
  await mounting.start();
  // The grid, computed first: the simulator's cost is not the module's.
  const simulator = new GaitSimulator({ wearers, placements: [...PLACEMENTS], rateHz: RATE_HZ, strideHz: 1, seed: SEED, accNoise: 0.05, gyroNoise: 0.005 });
  const n = seconds * RATE_HZ;
  const stride = PLACEMENTS.length * 6;
  const grid = new Float64Array(n * wearers * stride);
  const reading = new Float64Array(6);
  for (let k = 0; k < n; k++) {
    for (let s = 0; s < simulator.streams.length; s++) {
      simulator.sample(s, k, reading);
      grid.set(reading, (k * wearers + Math.floor(s / PLACEMENTS.length)) * stride + (s % PLACEMENTS.length) * 6);
    }
  }
  const names = Array.from({ length: wearers }, (_, w) => simulatedWearer(w));
  // Grid samples whose listener took over 1 ms: those that ran a judgement, which is
  // synchronous, so the event loop (and every wearer's next sample) waits that long.
  const slow: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let k = 0; k < n; k++) {
    for (let w = 0; w < wearers; w++) {
      const at = (k * wearers + w) * stride;
      const t0 = performance.now();
      bus.emit("grid", { wearer: names[w]!, placements: PLACEMENTS, segment: 0, index: k, tUs: Math.round((k * 1e6) / RATE_HZ), values: grid.subarray(at, at + stride) });
      const ms = performance.now() - t0;
      if (ms > SLOW_SAMPLE_MS) slow.push(ms);
    }
  }
  const cpu = process.cpuUsage(cpu0);
  await mounting.stop();
  const stats = Object.entries(mounting.stats());
  const first = stats.slice(0, 2).map(([key, s]) => ({ key, state: s.state, judgements: s.judgements, lastFitDeg: s.lastFitDeg, rotation: s.rotation }));
  process.stdout.write(
    JSON.stringify({
      wearers,
      seconds,
      cpu_ms_per_wearer_s: +((cpu.user + cpu.system) / 1000 / (wearers * seconds)).toFixed(4),
      judgements: stats.reduce((a, [, s]) => a + s.judgements, 0),
      slow_samples: slow.length,
      slow_sample_ms: { p50: +quantile(slow, 0.5).toFixed(2), p90: +quantile(slow, 0.9).toFixed(2), max: +quantile(slow, 1).toFixed(2) },
      not_calibrated: stats.filter(([, s]) => s.state !== "calibrated").map(([key]) => key),
      first,
    }) + "\n",
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`mountingCost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
