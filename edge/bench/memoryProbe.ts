/**
 * The child process behind `make bench`'s memory figures (edge/bench/memory.ts
 * builds it to plain JavaScript and runs it with the installed service's node
 * flags): one process that loads what the service loads, step by step, and
 * prints one JSON line with the memory after each step.
 *
 *   node <flags> memoryProbe.js runtime <manifest> <brokerUrl> <seconds> [calibration.json]
 *     node -> onnxruntime library -> runtime code -> runtime started (model
 *     session, MQTT, modules) -> one simulated wearer for <seconds> -> after a full GC
 *   node <flags> memoryProbe.js sessions <manifest>
 *     node -> onnxruntime library -> each model variant's session, kept open
 *
 * Imports are dynamic on purpose: each step's cost is the RSS it adds.
 */
import { readFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { rssKindsOf } from "./procStatus.js";
import { setTimeout as sleep } from "node:timers/promises";
import v8 from "node:v8";
import vm from "node:vm";

export interface MemoryStep {
  readonly step: string;
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
  /**
   * Linux (/proc/self/status): RSS split into private anonymous memory (heaps,
   * arenas, stacks: what the process alone holds) and file-backed pages (the
   * node binary, libonnxruntime and other libraries: clean, shared with other
   * processes, and dropped first under memory pressure). Absent elsewhere.
   */
  readonly rssAnonMb?: number;
  readonly rssFileMb?: number;
}

export interface ProbeReport {
  readonly steps: readonly MemoryStep[];
  /** V8 heap spaces at the end (MB): size reserved and used. */
  readonly heapSpaces: Readonly<Record<string, { sizeMb: number; usedMb: number }>>;
  /** What the runtime had loaded (runtime mode): model files with a session, npm packages imported, native libraries mapped. */
  readonly loaded?: { readonly modelFiles: readonly string[]; readonly packages: readonly string[]; readonly native: readonly string[] };
  /** Runtime mode: angles messages the wearer published (0: the model never ran, e.g. a v2 model without mountings). */
  readonly anglesPublished?: number;
  readonly nodeFlags: readonly string[];
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

function measure(step: string): MemoryStep {
  const m = process.memoryUsage();
  return { step, rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers), ...rssKinds() };
}

function rssKinds(): { rssAnonMb?: number; rssFileMb?: number } {
  try {
    return rssKindsOf(readFileSync("/proc/self/status", "utf8"));
  } catch {
    return {}; // not Linux
  }
}

function heapSpaces(): ProbeReport["heapSpaces"] {
  const out: Record<string, { sizeMb: number; usedMb: number }> = {};
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_size > 0) out[s.space_name] = { sizeMb: mb(s.space_size), usedMb: mb(s.space_used_size) };
  }
  return out;
}

/** A full GC without --expose-gc on the command line (which would change the flags measured). */
function fullGc(): void {
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}

/** Native libraries mapped into the process (onnxruntime's, any `.node` addon): which native parts were loaded. */
async function mappedLibraries(): Promise<string[]> {
  const { readFile } = await import("node:fs/promises");
  try {
    const maps = await readFile("/proc/self/maps", "utf8");
    const libs = new Set<string>();
    for (const line of maps.split("\n")) {
      const at = line.indexOf("/");
      if (at < 0) continue;
      const file = line.slice(at);
      if (/\.node$|onnxruntime/.test(file)) libs.add(file.replace(/^.*node_modules\//, ""));
    }
    return [...libs].sort();
  } catch {
    return []; // not Linux: no /proc
  }
}

/** npm packages imported from now on, recorded by a resolve hook (it only watches, it changes nothing). */
function watchPackages(): Set<string> {
  const seen = new Set<string>();
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const result = nextResolve(specifier, context);
      const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(result.url);
      if (m) seen.add(m[1]!);
      return result;
    },
  });
  return seen;
}

async function runtimeMode(manifest: string, brokerUrl: string, seconds: number, calibrationFile: string | undefined): Promise<ProbeReport> {
  const packages = watchPackages();
  const steps: MemoryStep[] = [measure("node")];
  await import("onnxruntime-node");
  steps.push(measure("onnxruntime library"));
  const [{ EdgeRuntime }, { parseConfig }, { createLogger }] = await Promise.all([
    import("../runtime/runtime.js"),
    import("../runtime/config.js"),
    import("../log.js"),
  ]);
  steps.push(measure("runtime code"));
  const config = parseConfig({
    model: manifest,
    sources: [{ kind: "simulator", wearers: 1, realtime: true, seed: 7 }],
    mqtt: { url: brokerUrl, deviceId: "bench-memory", protocolVersion: 5 },
    // The wearer's mountings (the bench's pre-pass): a v2 model's angles, and so its inference, wait for them.
    ...(calibrationFile ? { calibration: { file: calibrationFile } } : {}),
  });
  const runtime = new EdgeRuntime(config, { logger: createLogger("bench-memory", { level: "error" }) });
  await runtime.start();
  steps.push(measure("runtime started"));
  await sleep(seconds * 1000);
  steps.push(measure(`1 wearer, ${seconds} s`));
  const modelFiles = [runtime.contract.modelPath.replace(/^.*\//, "")];
  const anglesPublished = Object.values(runtime.stats().pipelines).reduce((n, p) => n + p.published, 0);
  const spaces = heapSpaces(); // before the GC: what the running process holds
  fullGc();
  steps.push(measure("after full GC"));
  const native = await mappedLibraries();
  await runtime.stop();
  return { steps, heapSpaces: spaces, loaded: { modelFiles, packages: [...packages].sort(), native }, anglesPublished, nodeFlags: process.execArgv };
}

async function sessionsMode(manifest: string): Promise<ProbeReport> {
  const steps: MemoryStep[] = [measure("node")];
  const [{ loadManifest }, { OnnxModel }] = await Promise.all([import("../contract/manifest.js"), import("../inference/onnxModel.js")]);
  steps.push(measure("onnxruntime library, manifest code"));
  const contract = await loadManifest(manifest);
  const p = contract.pipeline;
  const files: Record<string, string> = { int8: contract.modelPath, ...contract.variantPaths };
  for (const [variant, path] of Object.entries(files)) {
    const model = new OnnxModel({ path, inputName: p.inputName, outputName: p.outputName, window: p.window, features: contract.featureCount, joints: p.joints.length });
    await model.start(); // kept open: each step adds one session
    await model.run(new Float32Array(p.window * contract.featureCount), 1); // arenas reach their working size on the first run
    steps.push(measure(`${variant} session`));
  }
  return { steps, heapSpaces: heapSpaces(), nodeFlags: process.execArgv };
}

async function main(argv: readonly string[]): Promise<void> {
  const [mode, manifest, brokerUrl, seconds, calibrationFile] = argv;
  let report: ProbeReport;
  if (mode === "runtime" && manifest && brokerUrl) report = await runtimeMode(manifest, brokerUrl, Number(seconds ?? 10), calibrationFile);
  else if (mode === "sessions" && manifest) report = await sessionsMode(manifest);
  else throw new Error(`usage: memoryProbe runtime <manifest> <brokerUrl> <seconds> [calibration.json] | sessions <manifest> (got ${JSON.stringify(argv)})`);
  process.stdout.write(JSON.stringify(report) + "\n");
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`memoryProbe: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
