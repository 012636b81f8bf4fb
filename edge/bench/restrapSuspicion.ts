/**
 * The figures behind the re-strap suspicion's thresholds
 * (edge/calibration/restrapSuspicion.ts, docs/calibration.md "On the edge"),
 * on Camargo AB06's trials (`--data`: a folder of `*_imu.csv.gz`):
 *
 *   - false alarms: every trial's thigh and foot, calibrated on the trial
 *     itself (as the edge does from its first walk) AND on every other trial
 *     (a calibration loaded from an earlier session of the same strapping),
 *     watched from start to end: each firing is a false alarm;
 *   - detection delay: each trial's sensors re-strapped (turned by `angle`
 *     about a uniformly random axis, seeded) at 40 % of its moving samples;
 *     delay = the first firing after the re-strap - the re-strap, in seconds
 *     of the replay; `missed` when none comes by the trial's end.
 *   - the window statistics on normal walking (p99 / max of the vertical and
 *     flexion-axis angles over all judged windows), to choose the thresholds;
 *   - the same (no cross-calibration) on the edge's simulator
 *     (edge/sources/simulator): 8 people of its seeded cohort, thigh and foot
 *     of both legs, 180 s each, calibrated on their first 30 s;
 *   - with `--cohort DIR`, the same (no cross-calibration) on a virtual cohort of
 *     training/gaitlstm/simulate (mocap walks of other people, random mounts);
 *   - what the watch costs per grid sample and sensor (µs on this machine).
 *
 *   node_modules/.bin/tsx edge/bench/restrapSuspicion.ts --data ../shared/data/camargo_ab06/trials [--axes 10] [--sim-wearers 8] [--sim-seconds 180] [--cohort DIR] [--json out.json]
 *
 * 200 Hz recordings, taken at every other sample (the model's 100 Hz grid);
 * the thigh's accelerometer negated as the replay source does. The thigh is
 * left-handed (docs/simulator.md): calibrateConverting converts it, and the
 * watcher sees the same improper map the mounting module applies.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { calibrateConverting, withZFlipped, type Mat3, type Vec3 } from "../calibration/index.js";
import { hannWeights, judgeWindow, RestrapWatch, suspicionSettings, type SuspicionSettings } from "../calibration/restrapSuspicion.js";
import { matrixFromQuat } from "../modules/mounting.js";
import { prng } from "../reliability/fuzzFrames.js";
import { CAMARGO_THIGH_ACC_SIGNS, STANDARD_GRAVITY } from "../sources/replay/camargo.js";
import { GaitSimulator, SIM_PLACEMENTS } from "../sources/simulator/gaitSimulator.js";

const RATE = 100;
const ANGLES_DEG = [20, 45, 90, 180] as const;

interface Stream {
  trial: string;
  sensor: Sensor;
  acc: Vec3[];
  gyro: Vec3[];
}

function readTrial(file: string): Stream[] {
  const lines = gunzipSync(readFileSync(file)).toString("utf8").trim().split("\n");
  const names = lines[0]!.split(",");
  const rows = lines.slice(1).filter((_, i) => i % 2 === 0).map((l) => l.split(",").map(Number));
  const trial = path.basename(file).replace(/_imu\.csv\.gz$/, "");
  return (["thigh", "foot"] as const).map((sensor) => {
    const c = ["Accel_X", "Accel_Y", "Accel_Z", "Gyro_X", "Gyro_Y", "Gyro_Z"].map((a) => names.indexOf(`${sensor}_${a}`));
    if (c.some((i) => i < 0)) throw new Error(`${file}: no ${sensor}_{Accel,Gyro}_{X,Y,Z} columns`);
    const s = sensor === "thigh" ? CAMARGO_THIGH_ACC_SIGNS : ([1, 1, 1] as const);
    return {
      trial,
      sensor,
      acc: rows.map((f) => [f[c[0]!]! * STANDARD_GRAVITY * s[0], f[c[1]!]! * STANDARD_GRAVITY * s[1], f[c[2]!]! * STANDARD_GRAVITY * s[2]] as Vec3),
      gyro: rows.map((f) => [f[c[3]!]!, f[c[4]!]!, f[c[5]!]!] as Vec3),
    };
  });
}

/**
 * A trial of a virtual cohort (`python -m gaitlstm.simulate cohort --mounting random`:
 * `<dir>/<subject>/trials/<trial>_imu.csv.gz`, 100 Hz, acc in g, right-handed sensors
 * in random orientations, no channel quirks): thigh and foot of both legs.
 */
function readCohortTrial(file: string): Stream[] {
  const lines = gunzipSync(readFileSync(file)).toString("utf8").trim().split("\n");
  const names = lines[0]!.split(",");
  const rows = lines.slice(1).map((l) => l.split(",").map(Number));
  const trial = `${path.basename(path.dirname(path.dirname(file)))}/${path.basename(file).replace(/_imu\.csv\.gz$/, "")}`;
  return (["femur_r", "femur_l", "calcn_r", "calcn_l"] as const).flatMap((placement) => {
    const c = ["Accel_X", "Accel_Y", "Accel_Z", "Gyro_X", "Gyro_Y", "Gyro_Z"].map((a) => names.indexOf(`${placement}_${a}`));
    if (c.some((i) => i < 0)) return [];
    return [{
      trial: `${trial} ${placement}`,
      sensor: placement.startsWith("femur") ? ("thigh" as const) : ("foot" as const),
      acc: rows.map((f) => [f[c[0]!]! * STANDARD_GRAVITY, f[c[1]!]! * STANDARD_GRAVITY, f[c[2]!]! * STANDARD_GRAVITY] as Vec3),
      gyro: rows.map((f) => [f[c[3]!]!, f[c[4]!]!, f[c[5]!]!] as Vec3),
    }];
  });
}

function cohortStreams(dir: string): Stream[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .flatMap((subject) => {
      const trials = path.join(dir, subject, "trials");
      return readdirSync(trials).filter((f) => f.endsWith("_imu.csv.gz")).sort().flatMap((f) => readCohortTrial(path.join(trials, f)));
    });
}

/** The map the mounting module would apply (C, or C · diag(1, 1, -1) for a converted stream), or undefined if refused. */
function mapOf(s: Stream, firstS?: number): Mat3 | undefined {
  const n = firstS === undefined ? s.acc.length : Math.round(firstS * RATE);
  const { cal, handedness } = calibrateConverting(s.acc.slice(0, n), s.gyro.slice(0, n), { rateHz: RATE });
  if (!cal.ok || cal.C === null) return undefined;
  return handedness === "left" ? withZFlipped(cal.C) : cal.C;
}

/** Sample indices at which the watcher fires over the stream (optionally turned by Q from sample `from` on). */
function firings(M: Mat3, s: Stream, settings: SuspicionSettings, turn?: { Q: Mat3; from: number }): number[] {
  const w = new RestrapWatch(M, RATE, settings);
  const out: number[] = [];
  for (let k = 0; k < s.acc.length; k++) {
    const q = turn && k >= turn.from ? turn.Q : undefined;
    if (w.push(q ? rot(q, s.acc[k]!) : s.acc[k]!, q ? rot(q, s.gyro[k]!) : s.gyro[k]!)) out.push(k);
  }
  return out;
}

const rot = (Q: Mat3, v: Vec3): Vec3 => [
  Q[0][0] * v[0] + Q[0][1] * v[1] + Q[0][2] * v[2],
  Q[1][0] * v[0] + Q[1][1] * v[1] + Q[1][2] * v[2],
  Q[2][0] * v[0] + Q[2][1] * v[1] + Q[2][2] * v[2],
];

/** A uniform axis from the seeded generator; the rotation by `deg` about it. */
function axisRotation(next: () => number, deg: number): Mat3 {
  const z = 2 * next() - 1, phi = 2 * Math.PI * next(), r = Math.sqrt(1 - z * z);
  const h = (deg * Math.PI) / 360;
  return matrixFromQuat([Math.cos(h), Math.sin(h) * r * Math.cos(phi), Math.sin(h) * r * Math.sin(phi), Math.sin(h) * z]);
}

const quantile = (xs: readonly number[], q: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const pos = q * (s.length - 1), lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
};
const r2 = (x: number | null): number | null => (x === null ? null : Math.round(x * 100) / 100);

/** Window statistics over a stream, judged as the watcher judges (every SUSPECT_EVERY_S, full windows). */
function windowStats(M: Mat3, s: Stream, settings: SuspicionSettings): { vertical: number[]; axis: number[] } {
  const n = Math.round(settings.windowS * RATE), every = Math.round(settings.everyS * RATE);
  const taper = settings.taper ? { weights: hannWeights(n), oldest: 0 } : undefined;
  const vertical: number[] = [], axis: number[] = [];
  for (let end = n; end <= s.acc.length; end += every) {
    const j = judgeWindow(M, s.acc.slice(end - n, end), s.gyro.slice(end - n, end), settings, taper);
    if (!j.judged) continue;
    vertical.push(j.verticalDeg!);
    if (j.axisDeg !== null) axis.push(j.axisDeg);
  }
  return { vertical, axis };
}

type Sensor = "thigh" | "foot";

/**
 * One sensor kind's figures over `streams` (each with its own calibration `maps[i]`):
 * false alarms on its own calibration (and with `cross`, on every other stream's),
 * the window statistics, and the delays on re-straps of ANGLES_DEG about random axes.
 */
function evaluate(streams: readonly Stream[], maps: readonly (Mat3 | undefined)[], sensor: Sensor, settings: SuspicionSettings, axesPerAngle: number, cross: boolean): Record<string, unknown> {
  const calibrated = streams.map((s, i) => (s.sensor === sensor && maps[i] ? i : -1)).filter((i) => i >= 0);
  let selfAlarms = 0, crossAlarms = 0, crossRuns = 0, walkedS = 0;
  const alarmTrials: string[] = [];
  const selfStats = { vertical: [] as number[], axis: [] as number[] };
  const crossStats = { vertical: [] as number[], axis: [] as number[] };
  for (const i of calibrated) {
    const s = streams[i]!;
    const fired = firings(maps[i]!, s, settings);
    selfAlarms += fired.length;
    if (fired.length) alarmTrials.push(`${s.trial} (own calibration, at ${(fired[0]! / RATE).toFixed(1)} s)`);
    const st = windowStats(maps[i]!, s, settings);
    selfStats.vertical.push(...st.vertical);
    selfStats.axis.push(...st.axis);
    walkedS += st.vertical.length * settings.everyS;
    if (!cross) continue;
    for (const j of calibrated) {
      if (j === i) continue;
      crossRuns++;
      const f = firings(maps[j]!, s, settings);
      crossAlarms += f.length;
      if (f.length) alarmTrials.push(`${s.trial} (calibration of ${streams[j]!.trial}, at ${(f[0]! / RATE).toFixed(1)} s)`);
      const cs = windowStats(maps[j]!, s, settings);
      crossStats.vertical.push(...cs.vertical);
      crossStats.axis.push(...cs.axis);
    }
  }
  const summary = (xs: number[]): Record<string, number | null> => ({ p50: r2(quantile(xs, 0.5)), p99: r2(quantile(xs, 0.99)), max: r2(quantile(xs, 1)) });
  // Delays on synthetic re-straps, at 40 % of each stream's moving samples.
  const next = prng(sensor === "thigh" ? 9 : 10);
  const delays: Record<string, unknown> = {};
  for (const deg of ANGLES_DEG) {
    const d: number[] = [];
    let missed = 0, early = 0;
    for (const i of calibrated) {
      const s = streams[i]!;
      const movingAt = s.gyro.map((w, k) => (Math.hypot(...w) >= 0.2 ? k : -1)).filter((k) => k >= 0);
      const from = movingAt[Math.floor(0.4 * movingAt.length)] ?? 0;
      for (let a = 0; a < axesPerAngle; a++) {
        const fired = firings(maps[i]!, s, settings, { Q: axisRotation(next, deg), from });
        if (fired.some((k) => k < from)) early++;
        const after = fired.find((k) => k >= from);
        if (after === undefined) missed++;
        else d.push((after - from) / RATE);
      }
    }
    delays[`${deg}`] = { restraps: calibrated.length * axesPerAngle, missed, firedBefore: early, p50: r2(quantile(d, 0.5)), p90: r2(quantile(d, 0.9)), max: r2(quantile(d, 1)) };
  }
  return {
    settings,
    calibrated: calibrated.length,
    judgedWalkingS: Math.round(walkedS),
    falseAlarms: { own: selfAlarms, ownRuns: calibrated.length, ...(cross ? { cross: crossAlarms, crossRuns } : {}), where: alarmTrials.slice(0, 20) },
    windowOwn: { verticalDeg: summary(selfStats.vertical), axisDeg: summary(selfStats.axis) },
    ...(cross ? { windowCross: { verticalDeg: summary(crossStats.vertical), axisDeg: summary(crossStats.axis) } } : {}),
    delayS: delays,
  };
}

/** The simulator source's default white noise (edge/sources/simulator/simulatorSource.ts): acc m/s², gyro rad/s. */
const SIM_ACC_NOISE = 0.05;
const SIM_GYRO_NOISE = 0.005;

/** Seconds of each simulated walk the calibration is found on (the rest, and these, are watched). */
const SIM_CALIBRATE_S = 30;

/** The edge's simulator (edge/sources/simulator): `wearers` people of its seeded cohort, all four placements, `seconds` each, with its default noise. */
function simulatedStreams(wearers: number, seconds: number): Stream[] {
  const sim = new GaitSimulator({ wearers, placements: SIM_PLACEMENTS, rateHz: RATE, strideHz: 1, seed: 7, accNoise: SIM_ACC_NOISE, gyroNoise: SIM_GYRO_NOISE });
  const buf = new Float64Array(6);
  return sim.streams.map((st, index) => {
    const acc: Vec3[] = [], gyro: Vec3[] = [];
    for (let k = 0; k < seconds * RATE; k++) {
      sim.sample(index, k, buf);
      acc.push([buf[0]!, buf[1]!, buf[2]!]);
      gyro.push([buf[3]!, buf[4]!, buf[5]!]);
    }
    return { trial: `simulated wearer ${st.wearer} ${st.placement}`, sensor: st.placement.startsWith("femur") ? "thigh" : "foot", acc, gyro };
  });
}

/** What the watch costs per grid sample and sensor (µs, this machine, JIT warm): every AB06 stream watched 5 times over. */
function watchCost(streams: readonly Stream[], maps: readonly (Mat3 | undefined)[], settingsOf: (s: Sensor) => SuspicionSettings): Record<Sensor, number> {
  const out = { thigh: 0, foot: 0 };
  for (const sensor of ["thigh", "foot"] as const) {
    let samples = 0, ms = 0;
    for (let rep = 0; rep < 6; rep++) {
      streams.forEach((s, i) => {
        const M = maps[i];
        if (s.sensor !== sensor || !M) return;
        const w = new RestrapWatch(M, RATE, settingsOf(sensor));
        const t0 = performance.now();
        for (let k = 0; k < s.acc.length; k++) w.push(s.acc[k]!, s.gyro[k]!);
        if (rep > 0) {
          ms += performance.now() - t0; // the first pass warms the JIT
          samples += s.acc.length;
        }
      });
    }
    out[sensor] = r2((ms * 1000) / samples)!;
  }
  return out;
}

function main(argv: readonly string[]): void {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const data = arg("--data");
  if (!data) throw new Error("usage: restrapSuspicion.ts --data <folder of *_imu.csv.gz> [--axes N] [--json out.json]");
  const axesPerAngle = Number(arg("--axes") ?? 10);
  const files = readdirSync(data).filter((f) => f.endsWith("_imu.csv.gz")).sort();
  if (files.length === 0) throw new Error(`${data}: no *_imu.csv.gz trials`);
  const streams = files.flatMap((f) => readTrial(path.join(data, f)));
  // Overrides for exploring (--window 3 --vertical 12 ...); the defaults are the edge's.
  const num = (name: string): number | undefined => (arg(name) === undefined ? undefined : Number(arg(name)));
  const settingsOf = (sensor: Sensor): SuspicionSettings => ({
    ...suspicionSettings(sensor === "thigh" ? "femur_r" : "calcn_r"),
    ...(num("--window") !== undefined ? { windowS: num("--window")! } : {}),
    ...(num("--vertical") !== undefined ? { verticalDeg: num("--vertical")! } : {}),
    ...(num("--axis") !== undefined ? { axisDeg: num("--axis")! } : {}),
    ...(num("--consecutive") !== undefined ? { consecutive: num("--consecutive")! } : {}),
    ...(arg("--taper") !== undefined ? { taper: arg("--taper") === "1" } : {}),
  });
  const maps = streams.map((s) => mapOf(s));
  const simulated = simulatedStreams(Number(arg("--sim-wearers") ?? 8), Number(arg("--sim-seconds") ?? 180));
  const simMaps = simulated.map((s) => mapOf(s, SIM_CALIBRATE_S));
  const cohortDir = arg("--cohort");
  const cohort = cohortDir ? cohortStreams(cohortDir) : [];
  const cohortMaps = cohort.map((s) => mapOf(s));
  const out: Record<string, unknown> = { trials: files.length, ab06: {}, simulated: {}, ...(cohortDir ? { cohort: { dir: cohortDir, streams: cohort.length } } : {}) };
  for (const sensor of ["thigh", "foot"] as const) {
    (out.ab06 as Record<string, unknown>)[sensor] = evaluate(streams, maps, sensor, settingsOf(sensor), axesPerAngle, true);
    (out.simulated as Record<string, unknown>)[sensor] = evaluate(simulated, simMaps, sensor, settingsOf(sensor), axesPerAngle, false);
    if (cohortDir) (out.cohort as Record<string, unknown>)[sensor] = evaluate(cohort, cohortMaps, sensor, settingsOf(sensor), axesPerAngle, false);
  }
  out.costUsPerSample = watchCost(streams, maps, settingsOf);
  const text = JSON.stringify(out, null, 2);
  console.log(text);
  const json = arg("--json");
  if (json) writeFileSync(json, text + "\n");
}

main(process.argv.slice(2));
