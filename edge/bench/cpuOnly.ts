/**
 * `make bench`'s CPU per wearer-second alone (edge/bench/cpuCost.ts), for an
 * A/B of a node flag: the flags are this process's own, since the runtime
 * runs in it (docs/bench.md "Memory": the young generation's size).
 *
 *   node --import tsx --max-semi-space-size=1 edge/bench/cpuOnly.ts [--wearers 50] [--seconds 10]
 *
 * CPU time, not latency, so it holds on a busy machine; still, alternate the
 * two sides of an A/B and run each more than once.
 */
import { parseArgs } from "node:util";
import { createLogger } from "../log.js";
import { BenchCalibrationFiles, calibrateSimulatedWearers } from "./calibrationPrepass.js";
import { cpuCost } from "./cpuCost.js";
import { startMosquitto } from "./mosquitto.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: "string", default: "models/reduced-femur-calcn-lstm/manifest.json" },
      wearers: { type: "string", default: "50" },
      seconds: { type: "string", default: "10" },
    },
  });
  const wearers = Number(values.wearers);
  const simSeconds = Number(values.seconds);
  if (!Number.isInteger(wearers) || wearers < 1) throw new Error(`--wearers: expected a whole number >= 1, got "${values.wearers}"`);
  if (!Number.isFinite(simSeconds) || simSeconds <= 0) throw new Error(`--seconds: expected a number > 0, got "${values.seconds}"`);
  const logger = createLogger("bench-cpu", { level: "warn" });
  const prepass = { model: values.model, seed: 7, logger }; // cpuCost's simulator seed
  const calibration = await BenchCalibrationFiles.create(await calibrateSimulatedWearers({ ...prepass, wearers }), prepass);
  const broker = await startMosquitto();
  try {
    const c = await cpuCost({ broker, model: values.model, wearers, simSeconds, calibration, logger });
    const stages = Object.entries(c.main_thread_ms_per_wearer_s).map(([k, v]) => `${k} ${v.toFixed(2)}`);
    process.stdout.write(
      `node flags: ${process.execArgv.filter((a, i, all) => !a.includes("tsx") && !all[i + 1]?.includes("tsx")).join(" ") || "none"}\n` +
        `${wearers} wearers, ${simSeconds} s: ${c.cpu_ms_per_wearer_s.toFixed(2)} ms CPU per wearer-second (main thread ${c.main_thread_cpu_ms_per_wearer_s.toFixed(2)}: ${stages.join(", ")}); ${c.skipped} of ${c.windows} windows skipped\n`,
    );
  } finally {
    await broker.stop();
    await calibration.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cpuOnly: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
