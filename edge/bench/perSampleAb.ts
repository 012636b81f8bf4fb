/**
 * A/B of per-sample mode (every grid sample, issue #11) with staggered and
 * aligned windows (`pipeline.windowPhase`): for each level, `runs` runs of
 * each phase in turn (a load spike on a shared machine hits both alike), and
 * how many of the due samples were skipped for a newer one. `make bench`
 * runs each per-sample level once and stops at the first skip; one run at a
 * level near the machine's limit says little, this says how often it skips.
 *
 *   node_modules/.bin/tsx edge/bench/perSampleAb.ts [--wearers 5,10] [--runs 3] [--seconds 8]
 *
 * A development tool, not part of `make bench`.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { createLogger } from "../log.js";
import { DEFAULT_MODEL } from "../runtime/config.js";
import { BenchCalibrationFiles, calibrateSimulatedWearers } from "./calibrationPrepass.js";
import { startMosquitto } from "./mosquitto.js";
import { streamRun } from "./streamRun.js";

/** Seed of the simulated wearers: the bench's, so the calibration pre-pass fits them. */
const SEED = 7;
const PHASES = ["staggered", "aligned"] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      wearers: { type: "string", default: "5,10" },
      runs: { type: "string", default: "3" },
      seconds: { type: "string", default: "8" },
      model: { type: "string", default: DEFAULT_MODEL },
    },
  });
  const wearers = values.wearers.split(",").map(Number);
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  for (const [name, v] of [["--wearers", wearers], ["--runs", [runs]], ["--seconds", [seconds]]] as const) {
    if (v.some((x) => !Number.isFinite(x) || x <= 0)) throw new Error(`${name}: positive numbers expected`);
  }
  const logger = createLogger("per-sample-ab", { level: "error" });
  const print = (s: string): boolean => process.stdout.write(s + "\n");
  const prepass = { model: values.model, seed: SEED, logger };
  const calibration = await BenchCalibrationFiles.create(await calibrateSimulatedWearers({ ...prepass, wearers: Math.max(...wearers) }), prepass);
  const broker = await startMosquitto();
  const totals = new Map<string, { published: number; skipped: number; strideSkipped: number; runs: number }>();
  const loads: number[] = [];
  try {
    for (const n of wearers) {
      for (let run = 0; run < runs; run++) {
        for (const windowPhase of PHASES) {
          const r = await streamRun({ broker, model: values.model, calibration, seed: SEED, wearers: n, seconds, logger, perSample: true, windowPhase });
          const key = `${n} wearers, ${windowPhase}`;
          const t = totals.get(key) ?? { published: 0, skipped: 0, strideSkipped: 0, runs: 0 };
          totals.set(key, { published: t.published + r.samplePublished, skipped: t.skipped + r.sampleSkipped, strideSkipped: t.strideSkipped + r.skipped, runs: t.runs + 1 });
          loads.push(loadavg()[0]!);
          print(`${key}, run ${run + 1}: ${r.samplePublished} samples, ${r.sampleSkipped} skipped, ${r.skipped} skipped strides, event-loop delay p99 ${r.loopDelayP99Ms.toFixed(1)} max ${r.loopDelayMaxMs.toFixed(1)} ms, load ${loadavg()[0]!.toFixed(2)}`);
        }
      }
    }
  } finally {
    await broker.stop();
  }
  print(`\n| wearers, window phase | runs | samples published | samples skipped | strides skipped |`);
  print(`|---|---|---|---|---|`);
  for (const [key, t] of totals) print(`| ${key} | ${t.runs} | ${t.published} | ${t.skipped} | ${t.strideSkipped} |`);
  const all = [...totals.values()];
  const published = all.reduce((a, t) => a + t.published, 0);
  const skipped = all.reduce((a, t) => a + t.skipped, 0);
  print(`all: ${skipped} of ${published + skipped} due samples skipped`);
  print(`load average (1 min) during the runs: ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
