/**
 * `make bench`'s memory figures (issue #11: RSS for one wearer, and what
 * takes the memory). Measured in a fresh child process, not in the bench's
 * own: the bench runs under tsx (its loader and transpile cache alone are
 * ~30 MB), keeps a subscriber and every earlier run's garbage, so its RSS
 * says little about the service. The child runs edge/bench/memoryProbe.ts
 * built to plain JavaScript (esbuild, as the installed service runs tsc's
 * output) with the node flags of the shipped systemd unit, and loads what the
 * service loads, step by step; the deltas between steps are the breakdown.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { MemoryStep, ProbeReport } from "./memoryProbe.js";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const SERVICE_UNIT = path.join(ROOT, "deploy/systemd/gait-edge.service");

/** Pure: the node flags of a systemd unit's ExecStart (`.../node --flag=x ... script.js args`). */
export function serviceNodeFlags(unit: string): string[] {
  const line = unit.split("\n").find((l) => l.startsWith("ExecStart="));
  if (!line) throw new Error("no ExecStart= line in the systemd unit");
  const [binary, ...rest] = line.slice("ExecStart=".length).trim().split(/\s+/);
  if (!binary || !/(^|\/)node$/.test(binary)) throw new Error(`ExecStart does not run node: ${line}`);
  const flags: string[] = [];
  for (const token of rest) {
    if (!token.startsWith("--")) break; // the script: the rest are its arguments
    flags.push(token);
  }
  return flags;
}

export interface MemoryBreakdown {
  /** RSS with one wearer running: the figure held to the bar. */
  readonly rss_mb: number;
  /** Of rss_mb (Linux): private anonymous memory, and file-backed pages (binaries, libraries; shared, reclaimable). */
  readonly rss_anon_mb: number | null;
  readonly rss_file_mb: number | null;
  /** RSS each step added (MB): node itself, onnxruntime's library, the runtime's code, start (model session, MQTT, modules), running. */
  readonly steps: Readonly<Record<string, number>>;
  /** At the end of the one-wearer run (MB). */
  readonly heap_used_mb: number;
  readonly heap_total_mb: number;
  readonly heap_used_after_gc_mb: number;
  /** V8 heap spaces reserved (MB): new (the young generation), old, code... */
  readonly heap_spaces_mb: Readonly<Record<string, number>>;
  readonly external_mb: number;
  readonly array_buffers_mb: number;
  /** RSS outside the V8 heap and external memory: node, libraries, onnxruntime's arenas, malloc. */
  readonly native_mb: number;
  /** One onnxruntime session per variant, opened alone in a second process (MB each adds). */
  readonly session_mb: Readonly<Record<string, number>>;
  /** Angles messages the one wearer published during the run (0: the model never ran). */
  readonly angles_published: number | null;
  /** Model files the runtime opened a session for (one: the variant in use). */
  readonly model_files_loaded: readonly string[];
  readonly packages_loaded: readonly string[];
  readonly native_loaded: readonly string[];
  readonly node_flags: readonly string[];
}

/** Pure: the breakdown from the probe's two reports. */
export function summarizeMemory(runtime: ProbeReport, sessions: ProbeReport): MemoryBreakdown {
  const byStep = (r: ProbeReport): Map<string, MemoryStep> => new Map(r.steps.map((s) => [s.step, s]));
  const deltas = (r: ProbeReport): Record<string, number> => {
    const out: Record<string, number> = {};
    r.steps.forEach((s, i) => {
      out[s.step] = round1(i === 0 ? s.rssMb : s.rssMb - r.steps[i - 1]!.rssMb);
    });
    return out;
  };
  const running = runtime.steps.find((s) => s.step.startsWith("1 wearer"));
  const gc = byStep(runtime).get("after full GC");
  if (!running || !gc) throw new Error(`memory probe: steps missing (${runtime.steps.map((s) => s.step).join(", ")})`);
  const sessionSteps = deltas(sessions);
  return {
    rss_mb: running.rssMb,
    rss_anon_mb: running.rssAnonMb ?? null,
    rss_file_mb: running.rssFileMb ?? null,
    steps: Object.fromEntries(Object.entries(deltas(runtime)).filter(([k]) => k !== "after full GC")),
    heap_used_mb: running.heapUsedMb,
    heap_total_mb: running.heapTotalMb,
    heap_used_after_gc_mb: gc.heapUsedMb,
    heap_spaces_mb: Object.fromEntries(Object.entries(runtime.heapSpaces).map(([k, v]) => [k.replace(/_space$/, ""), v.sizeMb])),
    external_mb: running.externalMb,
    array_buffers_mb: running.arrayBuffersMb,
    native_mb: round1(running.rssMb - running.heapTotalMb - running.externalMb),
    session_mb: Object.fromEntries(Object.entries(sessionSteps).filter(([k]) => k.endsWith(" session")).map(([k, v]) => [k.replace(/ session$/, ""), v])),
    angles_published: runtime.anglesPublished ?? null,
    model_files_loaded: runtime.loaded?.modelFiles ?? [],
    packages_loaded: runtime.loaded?.packages ?? [],
    native_loaded: runtime.loaded?.native ?? [],
    node_flags: runtime.nodeFlags,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Builds the probe to out/bench-memory (ignored by git) and returns the entry's path. */
async function buildProbe(): Promise<string> {
  const esbuild = await import("esbuild"); // a dev dependency: the bench is a development tool
  const outdir = path.join(ROOT, "out", "bench-memory");
  await esbuild.build({
    entryPoints: [path.join(ROOT, "edge/bench/memoryProbe.ts")],
    bundle: true,
    splitting: true, // the probe's dynamic imports stay separate chunks, so each step loads only its own code
    format: "esm",
    platform: "node",
    target: "node24",
    packages: "external", // resolved from the repo's node_modules, like the service's
    outdir,
    logLevel: "warning",
  });
  return path.join(outdir, "memoryProbe.js");
}

async function runProbe(entry: string, flags: readonly string[], args: readonly string[]): Promise<ProbeReport> {
  const child = spawn(process.execPath, [...flags, entry, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  });
  const line = out.trim().split("\n").at(-1);
  if (code !== 0 || !line) throw new Error(`memory probe (${args[0]}) exited ${code}: ${err.trim() || "no output"}`);
  return JSON.parse(line) as ProbeReport;
}

export interface MemoryOptions {
  readonly model: string;
  readonly brokerUrl: string;
  /** How long the one wearer runs before the figure is taken. */
  readonly seconds: number;
  /** The wearer's saved mountings (edge/bench/calibrationPrepass.ts): without, a v2 model runs no inference. */
  readonly calibrationFile?: string;
  /** Node flags of the probe (A/B of a flag); default: the shipped systemd unit's. */
  readonly nodeFlags?: readonly string[];
}

export async function measureMemory(opts: MemoryOptions): Promise<MemoryBreakdown> {
  const flags = opts.nodeFlags ?? serviceNodeFlags(await readFile(SERVICE_UNIT, "utf8"));
  const entry = await buildProbe();
  const model = path.resolve(opts.model);
  const runtime = await runProbe(entry, flags, ["runtime", model, opts.brokerUrl, String(opts.seconds), ...(opts.calibrationFile ? [path.resolve(opts.calibrationFile)] : [])]);
  const sessions = await runProbe(entry, flags, ["sessions", model]);
  return summarizeMemory(runtime, sessions);
}

/** Pure: the breakdown as table lines for the bench's output. */
export function memoryLines(m: MemoryBreakdown): string[] {
  const kv = (o: Readonly<Record<string, number>>): string => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ");
  return [
    `memory: one wearer ${m.rss_mb} MB RSS (node flags: ${m.node_flags.join(" ") || "none"})` +
      (m.rss_anon_mb !== null ? `: ${m.rss_anon_mb} MB private (heaps, arenas), ${m.rss_file_mb} MB file-backed (node, libonnxruntime: shared, reclaimable)` : ""),
    `memory: RSS added per step (MB): ${kv(m.steps)}`,
    `memory: V8 heap used ${m.heap_used_mb} of ${m.heap_total_mb} MB (${m.heap_used_after_gc_mb} after a full GC); spaces (MB): ${kv(m.heap_spaces_mb)}`,
    `memory: external ${m.external_mb} MB (array buffers ${m.array_buffers_mb}); native (node, libraries, onnxruntime arenas, malloc) ${m.native_mb} MB`,
    `memory: one onnxruntime session per variant, alone (MB): ${kv(m.session_mb)}; the runtime opened: ${m.model_files_loaded.join(", ")} (${m.angles_published ?? "?"} angles messages published)`,
    `memory: npm packages loaded: ${m.packages_loaded.join(", ")}`,
  ];
}
