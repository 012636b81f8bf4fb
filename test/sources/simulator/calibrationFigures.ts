/**
 * The figures behind test/sources/simulator/gaitSimulator.calibration.test.ts,
 * printed rather than asserted: for each simulated placement, over seeds 1-5 ×
 * 4 wearers (25 s each, default noise; SEEDS and SECONDS change both), the edge calibration's handedness
 * score, planarity, sign margin and frame error against the mounting.
 *
 *   node_modules/.bin/tsx test/sources/simulator/calibrationFigures.ts [simulator module]
 *
 * The optional argument is another gaitSimulator.ts to measure (e.g. the one
 * before this change: `git show 7ee2d3b:edge/sources/simulator/gaitSimulator.ts > /tmp/old.ts`);
 * the mountings are always this tree's SIM_MOUNTINGS.
 */
import path from "node:path";
import { calibrate, dot, rotationAngleDeg, type Mat3 } from "../../../edge/calibration/index.js";
import { simulatedStream } from "./simulatedStream.js";
import { SIM_MOUNTINGS, SIM_PLACEMENTS, type GaitSimulator, type GaitSimulatorOptions } from "../../../edge/sources/simulator/gaitSimulator.js";

const RATE_HZ = 100;
/** SEEDS=n SECONDS=s in the environment widen the sweep (defaults 5 and 25). */
const SEEDS = Number(process.env.SEEDS ?? 5);
const SECONDS = Number(process.env.SECONDS ?? 25);

type SimulatorClass = new (options: GaitSimulatorOptions) => GaitSimulator;

async function main(): Promise<void> {
  const modulePath = process.argv[2];
  const mod = (await import(modulePath ? path.resolve(modulePath) : "../../../edge/sources/simulator/gaitSimulator.js")) as { GaitSimulator: SimulatorClass };
  const rows = new Map<string, { score: number[]; planarity: number[]; sign: number[]; zDeg: number[]; frameDeg: number[]; refused: string[] }>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const sim = new mod.GaitSimulator({ wearers: 4, placements: SIM_PLACEMENTS, rateHz: RATE_HZ, strideHz: 1, seed, accNoise: 0.05, gyroNoise: 0.005 });
    sim.streams.forEach((s, index) => {
      const { acc, gyro } = simulatedStream(sim, index, SECONDS, RATE_HZ);
      const cal = calibrate(acc, gyro, { rateHz: RATE_HZ });
      const r = rows.get(s.placement) ?? { score: [], planarity: [], sign: [], zDeg: [], frameDeg: [], refused: [] };
      rows.set(s.placement, r);
      r.score.push(cal.handedness?.score ?? Number.NaN);
      if (!cal.ok || cal.C === null) {
        r.refused.push(cal.reason);
        return;
      }
      const M = SIM_MOUNTINGS[s.placement] as Mat3;
      r.planarity.push(cal.planarity);
      r.sign.push(cal.signMargin);
      r.zDeg.push((Math.acos(Math.max(-1, Math.min(1, dot(cal.C[2], M[2])))) * 180) / Math.PI);
      r.frameDeg.push(rotationAngleDeg(cal.C, M));
    });
  }
  const span = (xs: number[]): string => {
    if (xs.length === 0) return "-";
    const s = [...xs].sort((a, b) => a - b);
    return `${s[0]!.toFixed(2)} / ${s[Math.floor(s.length / 2)]!.toFixed(2)} / ${s.at(-1)!.toFixed(2)}`;
  };
  console.log("placement | handedness score min/median/max | planarity | sign margin | flexion axis vs mounting, deg | frame vs mounting, deg | refused");
  for (const [placement, r] of rows) {
    console.log([placement, span(r.score), span(r.planarity), span(r.sign), span(r.zDeg), span(r.frameDeg), r.refused.join(",") || "none"].join(" | "));
  }
}

await main();
