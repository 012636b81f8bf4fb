/**
 * The bench's memory breakdown (edge/bench/memory.ts): the node flags come
 * from the shipped systemd unit, and the breakdown is the RSS each step adds.
 * One test runs the probe for real (a fresh node process, a few seconds).
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { measureMemory, memoryLines, serviceNodeFlags, SERVICE_UNIT, summarizeMemory } from "../../edge/bench/memory.js";
import type { ProbeReport } from "../../edge/bench/memoryProbe.js";
import { rssKindsOf } from "../../edge/bench/procStatus.js";
import { BenchCalibrationFiles, calibrateSimulatedWearers } from "../../edge/bench/calibrationPrepass.js";
import { memoryLogger } from "../../edge/log.js";
import { startMosquitto } from "../helpers/mosquitto.js";

const step = (name: string, rss: number, heapUsed = 10, heapTotal = 20) => ({ step: name, rssMb: rss, heapUsedMb: heapUsed, heapTotalMb: heapTotal, externalMb: 4, arrayBuffersMb: 1 });

describe("bench memory breakdown", () => {
  it("reads the node flags of the unit's ExecStart, and only those", async () => {
    expect(serviceNodeFlags("[Service]\nExecStart=/opt/gait-node/bin/node --max-semi-space-size=4 --no-warnings /opt/x/cli.js run --config c.json\n")).toEqual([
      "--max-semi-space-size=4",
      "--no-warnings",
    ]);
    expect(serviceNodeFlags("ExecStart=/usr/bin/node /opt/x/cli.js --not-a-node-flag\n")).toEqual([]);
    expect(() => serviceNodeFlags("ExecStart=/usr/bin/python3 x.py\n")).toThrow("ExecStart does not run node");
    expect(() => serviceNodeFlags("[Service]\n")).toThrow("no ExecStart");
    // The shipped unit caps the young generation: the bench measures with it.
    expect(serviceNodeFlags(await readFile(SERVICE_UNIT, "utf8"))).toContain("--max-semi-space-size=4");
  });

  it("turns the probe's steps into what each step added, and names what was loaded", () => {
    const runtime: ProbeReport = {
      steps: [step("node", 46), step("onnxruntime library", 54), step("runtime code", 84), step("runtime started", 118), step("1 wearer, 30 s", 128, 26, 30), step("after full GC", 128, 24, 28)],
      heapSpaces: { new_space: { sizeMb: 2, usedMb: 1 }, old_space: { sizeMb: 21, usedMb: 20 } },
      loaded: { modelFiles: ["model.int8.onnx"], packages: ["mqtt", "zod"], native: ["onnxruntime-node/bin/x.so"] },
      nodeFlags: ["--max-semi-space-size=4"],
    };
    const sessions: ProbeReport = { steps: [step("node", 46), step("onnxruntime library, manifest code", 60), step("int8 session", 92), step("fp32 session", 95)], heapSpaces: {}, nodeFlags: [] };
    const m = summarizeMemory(runtime, sessions);
    expect(m.rss_mb).toBe(128);
    expect(m.steps).toEqual({ node: 46, "onnxruntime library": 8, "runtime code": 30, "runtime started": 34, "1 wearer, 30 s": 10 });
    expect(m.session_mb).toEqual({ int8: 32, fp32: 3 });
    expect(m).toMatchObject({ heap_used_mb: 26, heap_total_mb: 30, heap_used_after_gc_mb: 24, native_mb: 94, heap_spaces_mb: { new: 2, old: 21 }, model_files_loaded: ["model.int8.onnx"] });
    expect(memoryLines(m).join("\n")).toContain("the runtime opened: model.int8.onnx");
    expect(() => summarizeMemory({ ...runtime, steps: runtime.steps.slice(0, 3) }, sessions)).toThrow("steps missing");
  });

  it("splits RSS into private and file-backed pages (Linux /proc/<pid>/status)", () => {
    const status = "Name:\tnode\nVmRSS:\t  133120 kB\nRssAnon:\t   71680 kB\nRssFile:\t   60416 kB\nRssShmem:\t    1024 kB\n";
    expect(rssKindsOf(status)).toEqual({ rssAnonMb: 70, rssFileMb: 60 });
    expect(rssKindsOf("Name:\tnode\n")).toEqual({});
  });

  it("measures a real runtime in a fresh process: one session, the int8 model, no embedded broker, angles published", async () => {
    const broker = await startMosquitto();
    const model = "models/reduced-femur-calcn-lstm/manifest.json";
    // The shipped model reads segment frames: without its mountings (the bench's pre-pass) it would never run.
    const calibration = await BenchCalibrationFiles.create(await calibrateSimulatedWearers({ model, wearers: 1, seed: 7, logger: memoryLogger() }));
    try {
      const m = await measureMemory({ model, brokerUrl: broker.url, seconds: 2, calibrationFile: await calibration.fileFor(1) });
      expect(m.angles_published).toBeGreaterThan(0);
      if (m.rss_anon_mb !== null) expect(m.rss_anon_mb + m.rss_file_mb!).toBeCloseTo(m.rss_mb, -1);
      expect(m.model_files_loaded).toEqual(["model.int8.onnx"]);
      expect(m.node_flags).toContain("--max-semi-space-size=4");
      expect(m.packages_loaded).toContain("onnxruntime-node");
      // External broker, no dashboard: neither aedes nor its dependencies are loaded.
      expect(m.packages_loaded).not.toContain("aedes");
      expect(m.rss_mb).toBeGreaterThan(m.steps.node!);
      expect(Object.keys(m.session_mb)).toEqual(["int8", "fp32"]);
    } finally {
      await broker.stop();
      await calibration.remove();
    }
  }, 60_000);
});
