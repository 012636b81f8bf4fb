/**
 * Export, checked by reading the files back with the project's own readers:
 * the `.mot` and `.sto` through training/gaitlstm/io/opensim.py (the Python
 * reader the training side uses), so the sign conversion and the header are
 * proven by the consumer, not by our own writer.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { loadManifest } from "../../edge/contract/manifest.js";
import { exportRecording } from "../../edge/export/export.js";
import { orientationTables } from "../../edge/export/orientations.js";
import { parseRecording } from "../../edge/export/recording.js";
import { angleTables, motText, openSimCoordinate, stoText } from "../../edge/export/tables.js";
import { routeSensor } from "../../edge/modules/sources.js";
import { encodeSample } from "../../edge/recording/format.js";
import { cli } from "../helpers/cli.js";
import { readRecording, walkingRuntime } from "../helpers/walkingRuntime.js";
import { waitFor } from "../helpers/waitFor.js";

// A gait-features/1 model (angles from the first window, no mounting calibration): this tests the runtime, not the shipped model.
const MODEL = "test/fixtures/models/tiny-v1/manifest.json";
const PYTHON = path.resolve(".venv/bin/python");
const havePython = existsSync(PYTHON);

interface PyTables {
  mot: { name: string; time: number[]; inDegrees: string; columns: string[]; knee_angle_r?: number[]; project: Record<string, number[]> };
  sto?: { columns: string[]; time: number[]; quats: Record<string, number[][]> };
}

/** Reads a .mot (and .sto) with gaitlstm.io.opensim and returns what it saw. */
async function readWithPython(mot: string, sto?: string): Promise<PyTables> {
  const script = `
import json, sys
from gaitlstm.io.opensim import read_opensim_table, opensim_angles_to_project
m = read_opensim_table(sys.argv[1])
out = {"mot": {"name": m.name, "time": m.time.tolist(), "inDegrees": m.header.get("inDegrees"), "columns": m.columns,
               "knee_angle_r": m.data["knee_angle_r"].tolist() if "knee_angle_r" in m.data else None,
               "project": {k: v.tolist() for k, v in opensim_angles_to_project(m, "r").items()}}}
if len(sys.argv) > 2:
    s = read_opensim_table(sys.argv[2])
    out["sto"] = {"columns": s.columns, "time": s.time.tolist(), "quats": {c: s.data[c].tolist() for c in s.columns}}
print(json.dumps(out))
`;
  const { stdout } = await promisify(execFile)(PYTHON, ["-c", script, path.resolve(mot), ...(sto ? [path.resolve(sto)] : [])], { cwd: "training", maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as PyTables;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** 3 s of a thigh and a foot sensor at 100 Hz from t = 1 s, and angles every 10 samples, as the recorder writes them. */
function syntheticRecording(): string {
  const lines = [JSON.stringify({ format: "gait-recording", version: 1, created: "2026-01-01T00:00:00.000Z", deviceId: "synth", part: 1 })];
  const t0 = 1_000_000;
  for (let k = 0; k < 300; k++) {
    const tUs = t0 + k * 10_000;
    const s = Math.sin(k / 15);
    lines.push(encodeSample({ sensorId: "femur_r", tUs, acc: [-9.7, 0.3 * s, 0.5], gyro: [0.1 * s, -0.05, 0.4 * s] }));
    lines.push(encodeSample({ sensorId: "calcn_r", tUs, acc: [0.2 * s, 0.1, 9.8], gyro: [-0.2 * s, 0.02, 0.01] }));
  }
  for (let m = 0; m < 25; m++) {
    const ks = Array.from({ length: 10 }, (_, i) => 50 + m * 10 + i);
    const angles = ks.map((k) => [r3(20 * Math.sin(k / 16)), r3(30 - 30 * Math.cos(k / 16)), r3(10 * Math.sin(k / 9))]);
    lines.push(
      JSON.stringify({ k: "a", w: 1e12 + m, seq: m, model: { name: "m", version: "1" }, joints: ["hip_flexion_r", "knee_flexion_r", "ankle_dorsiflexion_r"], units: "deg",
        t: ks.map((k) => 1e12 + k * 10), angles, sensorTimeUs: ks.map((k) => t0 + k * 10_000), wearer: "default" }),
    );
  }
  return lines.join("\n") + '\n{"k":"s","id":"femur_r","t":4';
}

describe("export: pure tables", () => {
  it("maps the project's joints to OpenSim coordinates, knee negated", () => {
    expect(openSimCoordinate("knee_flexion_l")).toEqual({ name: "knee_angle_l", sign: -1 });
    expect(openSimCoordinate("ankle_dorsiflexion_r")).toEqual({ name: "ankle_angle_r", sign: 1 });
    expect(openSimCoordinate("hip_adduction_r")).toEqual({ name: "hip_adduction_r", sign: 1 });
  });

  it("skips a cut-off last line, keeps increasing times only, starts at the first sample", () => {
    const rec = parseRecording("synth.jsonl", syntheticRecording());
    expect(rec.problems).toEqual(["synth.jsonl:627: not a JSON record (cut off?)"]);
    const [table] = angleTables([...rec.angles, rec.angles[3]!], rec.samples[0]!.tUs);
    expect(table!.skipped).toBe(10); // the repeated message
    expect(table!.timeUs[0]).toBe(500_000);
    expect(motText(table!).split("\n").slice(0, 7)).toEqual([
      "Coordinates", "version=1", "nRows=250", "nColumns=4", "inDegrees=yes", "endheader", "time\thip_flexion_r\tknee_angle_r\tankle_angle_r",
    ]);
  });
});

describe("export: rotated recordings", () => {
  it("parts named in any order export as the one recording they were", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "export-parts-"));
    const [header, ...records] = syntheticRecording().split("\n").slice(0, -1);
    const whole = path.join(dir, "whole.jsonl");
    await writeFile(whole, [header, ...records].join("\n") + "\n");
    const half = Math.floor(records.length / 2);
    const partHeader = (part: number): string => JSON.stringify({ ...(JSON.parse(header!) as object), part });
    const p1 = path.join(dir, "p1.jsonl");
    const p2 = path.join(dir, "p2.jsonl");
    await writeFile(p1, [partHeader(1), ...records.slice(0, half)].join("\n") + "\n");
    await writeFile(p2, [partHeader(2), ...records.slice(half)].join("\n") + "\n");
    await exportRecording({ files: [whole], formats: ["mot"], model: MODEL, outDir: path.join(dir, "a") });
    await exportRecording({ files: [p2, p1], formats: ["mot"], model: MODEL, outDir: path.join(dir, "b") });
    expect(await readFile(path.join(dir, "b", "p1.mot"), "utf8")).toBe(await readFile(path.join(dir, "a", "whole.mot"), "utf8"));
  });
});

describe("export read back by gaitlstm.io.opensim", { timeout: 120_000 }, () => {
  it.skipIf(!havePython)("gives back the same angles (within 0.01 deg) and the edge's AHRS quaternions", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "export-"));
    const file = path.join(dir, "synth.jsonl");
    await writeFile(file, syntheticRecording());
    const result = await exportRecording({ files: [file], formats: ["mot", "sto", "csv"], model: MODEL });
    expect(result.written).toEqual(["mot", "csv", "sto"].map((e) => path.join(dir, `synth.${e}`)));
    expect(result.warnings).toEqual([`${file}:627: not a JSON record (cut off?)`]);

    const py = await readWithPython(path.join(dir, "synth.mot"), path.join(dir, "synth.sto"));
    const rec = parseRecording(file, await readFile(file, "utf8"));
    const rows = rec.angles.flatMap((a) => a.angles);
    expect(py.mot.inDegrees).toBe("yes");
    expect(py.mot.columns).toEqual(["hip_flexion_r", "knee_angle_r", "ankle_angle_r"]);
    expect(py.mot.time[0]).toBeCloseTo(0.5, 9);
    // gait2392's convention in the file (negative in flexion), the project's after the reader.
    expect(Math.max(...py.mot.knee_angle_r!)).toBeLessThanOrEqual(0);
    ["hip_flexion_r", "knee_flexion_r", "ankle_dorsiflexion_r"].forEach((joint, j) => {
      const back = py.mot.project[joint]!;
      expect(back).toHaveLength(rows.length);
      back.forEach((v, i) => expect(Math.abs(v - rows[i]![j]!)).toBeLessThan(0.01));
    });

    // The .sto: OpenSense's layout, the quaternions the edge's resampler + AHRS give, on the .mot's clock.
    const contract = await loadManifest(MODEL);
    const [expected] = orientationTables(rec.samples, { pipeline: contract.pipeline, route: (id) => routeSensor(id, {}) }).tables;
    expect(py.sto!.columns).toEqual(["femur_r_imu", "calcn_r_imu"]);
    expect(py.sto!.time).toHaveLength(expected!.timeUs.length);
    expect(py.sto!.time[0]).toBe(0);
    for (const [p, placement] of expected!.placements.entries()) {
      const back = py.sto!.quats[`${placement}_imu`]!;
      // Bit-exact (the file carries the shortest round-trip text; only -0 is written as 0).
      back.forEach((q, i) => q.forEach((c, k) => expect(c + 0).toBe(expected!.quats[i]![p]![k]! + 0)));
    }
    expect(py.mot.time.every((t) => py.sto!.time.includes(t))).toBe(true);
    expect(stoText(expected!).startsWith("DataType=Quaternion\nversion=3\nOpenSimVersion=4.1\nendheader\ntime\tfemur_r_imu\tcalcn_r_imu\n")).toBe(true);

    const csv = (await readFile(path.join(dir, "synth.csv"), "utf8")).split("\n");
    expect(csv[0]).toBe("time_s,unix_ms,hip_flexion_r,knee_flexion_r,ankle_dorsiflexion_r");
    expect(csv[1]!.split(",").slice(2).map(Number)).toEqual(rows[0]);
  });

  it.skipIf(!havePython)("exports what the runtime recorded through the CLI (record_start ... record_stop, then gait-edge export)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "export-rt-"));
    const { runtime, angles } = await walkingRuntime(dir, "exp");
    const { sendCommand } = await import("../../edge/runtime/remote.js");
    let files: string[];
    try {
      await sendCommand(runtime.brokerUrl, "gait", "exp", { command: "record_start", args: { session: "walk" } });
      const before = angles();
      await waitFor("three angles messages", () => angles() >= before + 3, 20_000);
      files = ((await sendCommand(runtime.brokerUrl, "gait", "exp", { command: "record_stop" })).data as { files: string[] }).files;
    } finally {
      await runtime.stop();
    }
    const out = path.join(dir, "out");
    const r = await cli("export", ...files, "--out", out, "--formats", "mot,sto");
    expect(r.code, r.stderr).toBe(0);
    const base = path.join(out, path.basename(files[0]!).replace(/\.jsonl\.gz$/, ""));
    // The simulator's sensors are "w1:femur_r", "w1:calcn_r": wearer w1.
    expect(r.stdout.trim().split("\n")).toEqual([`${base}.w1.mot`, `${base}.w1.sto`]);
    const recorded = (await readRecording(files[0]!)).filter((x) => x.k === "a") as unknown as Array<{ joints: string[]; angles: number[][] }>;
    const py = await readWithPython(`${base}.w1.mot`, `${base}.w1.sto`);
    const joints = recorded[0]!.joints;
    const rows = recorded.flatMap((a) => a.angles);
    for (const [j, joint] of joints.entries()) {
      const back = py.mot.project[joint]!;
      expect(back, joint).toHaveLength(rows.length);
      back.forEach((v, i) => expect(Math.abs(v - rows[i]![j]!)).toBeLessThan(0.01));
    }
    expect(py.sto!.columns).toEqual(["femur_r_imu", "calcn_r_imu"]);
    // Angles of windows that began before record_start come first: no time is negative.
    expect(py.mot.time[0]).toBeGreaterThanOrEqual(0);
    expect(py.sto!.time.length).toBeGreaterThan(0);
  });

  it("an unknown format is a usage error (64), a file that is not a recording a config error (78)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "export-bad-"));
    const notRecording = path.join(dir, "x.jsonl");
    await writeFile(notRecording, '{"hello":1}\n');
    const usage = await cli("export", notRecording, "--formats", "mot,trc");
    expect(usage.code).toBe(64);
    expect(usage.stderr).toMatch(/--formats <list>' argument 'mot,trc' is invalid/);
    const config = await cli("export", notRecording);
    expect(config.code).toBe(78);
    expect(config.stderr).toContain(`${notRecording}:1: not a gait-recording header (format:`);
  });
});
