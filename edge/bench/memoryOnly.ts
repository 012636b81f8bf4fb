/**
 * `make bench`'s memory figure alone, for an A/B of a change or a node flag
 * without the whole bench (docs/bench.md "Memory"): the calibration pre-pass
 * for one wearer, a mosquitto, then edge/bench/memory.ts's probe `--runs`
 * times, each a fresh process, printing the bench's memory lines per run.
 *
 *   npx tsx edge/bench/memoryOnly.ts [--runs 3] [--seconds 30] [--flags="--max-semi-space-size=1"]
 *
 * Without --flags the probe runs with the systemd unit's node flags, as
 * `make bench` does.
 */
import { parseArgs } from "node:util";
import { createLogger } from "../log.js";
import { BenchCalibrationFiles, calibrateSimulatedWearers } from "./calibrationPrepass.js";
import { measureMemory, memoryLines } from "./memory.js";
import { startMosquitto } from "./mosquitto.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: "string", default: "models/reduced-femur-calcn-lstm/manifest.json" },
      runs: { type: "string", default: "3" },
      seconds: { type: "string", default: "30" },
      flags: { type: "string" },
    },
  });
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: expected a whole number >= 1, got "${values.runs}"`);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds: expected a number > 0, got "${values.seconds}"`);
  const nodeFlags = values.flags?.split(/\s+/).filter((f) => f !== "");
  const logger = createLogger("bench-memory", { level: "warn" });
  const prepass = { model: values.model, seed: 7, logger }; // bench.ts's BENCH_SEED: the walking the runs replay
  const calibration = await BenchCalibrationFiles.create(await calibrateSimulatedWearers({ ...prepass, wearers: 1 }), prepass);
  const broker = await startMosquitto();
  try {
    const rss: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const m = await measureMemory({ model: values.model, brokerUrl: broker.url, seconds, calibrationFile: await calibration.fileFor(1), ...(nodeFlags ? { nodeFlags } : {}) });
      rss.push(m.rss_mb);
      process.stdout.write(`run ${run}:\n` + memoryLines(m).map((l) => `  ${l}\n`).join(""));
    }
    process.stdout.write(`one wearer, ${seconds} s, RSS (MB) per run: ${rss.join(", ")}\n`);
  } finally {
    await broker.stop();
    await calibration.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`memoryOnly: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
