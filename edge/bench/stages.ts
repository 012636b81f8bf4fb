/**
 * Where the main thread's time goes, by stage of the hot path: V8's sampling
 * profiler (node:inspector, in this process) over a stretch of a bench run,
 * each sample charged to the stage of the nearest frame on its stack that
 * belongs to one (so the socket writes under mqtt.js count as mqtt, and a
 * JSON.stringify counts for the code that called it).
 *
 * onnxruntime-node 1.30 runs every inference synchronously on this thread
 * (inside a setImmediate), so `inference` here is the model's whole cost.
 */
import { Session } from "node:inspector/promises";

export const STAGES = ["inference", "pipeline", "ahrs_features", "sources", "mounting", "gait", "mqtt", "bench", "gc", "other", "idle"] as const;
export type Stage = (typeof STAGES)[number];
/** Fraction of wall time per stage (they sum to 1). */
export type StageShares = Record<Stage, number>;

/** The stage of one profile frame, or undefined when it belongs to none (look further up the stack). */
export function stageOf(url: string, functionName: string): Stage | undefined {
  if (functionName === "(garbage collector)") return "gc";
  if (functionName === "(idle)") return "idle";
  if (url.includes("/onnxruntime-node/")) return "inference";
  // The bench's own code, and the profiler handing its profile over at the end.
  if (url.includes("/edge/bench/") || url === "node:inspector") return "bench";
  if (/\/edge\/(fusion|features)\//.test(url) || url.includes("/node_modules/ahrs/")) return "ahrs_features";
  if (/\/edge\/(runtime\/pipeline|inference\/|ota\/swappableModel|modules\/pipelines)/.test(url)) return "pipeline";
  if (url.includes("/edge/sources/") || url.includes("/edge/modules/sources")) return "sources";
  if (url.includes("/edge/modules/mounting") || url.includes("/edge/calibration/")) return "mounting";
  if (url.includes("/edge/gait/") || url.includes("/edge/modules/gait")) return "gait";
  if (/\/edge\/(mqtt|modules\/anglePublisher)/.test(url) || /\/node_modules\/(mqtt|mqtt-packet)\//.test(url)) return "mqtt";
  return undefined;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Pure: a V8 CPU profile's time by stage, as fractions of its total. */
export function sharesOf(profile: Profile): StageShares {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageCache = new Map<number, Stage>();
  const stageOfNode = (id: number): Stage => {
    const cached = stageCache.get(id);
    if (cached) return cached;
    let at: number | undefined = id;
    let stage: Stage = "other";
    while (at !== undefined) {
      const f = byId.get(at)!.callFrame;
      const s = stageOf(f.url, f.functionName);
      if (s) {
        stage = s;
        break;
      }
      at = parent.get(at);
    }
    stageCache.set(id, stage);
    return stage;
  };
  const totals = Object.fromEntries(STAGES.map((s) => [s, 0])) as StageShares;
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    totals[stageOfNode(profile.samples[i]!)] += dt;
    all += dt;
  }
  for (const s of STAGES) totals[s] = all > 0 ? +(totals[s] / all).toFixed(4) : 0;
  return totals;
}

/** Runs `during` under the sampling profiler (1 ms) and returns the main thread's time by stage. */
export async function profileByStage(during: () => Promise<void>): Promise<StageShares> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 1000 });
    await session.post("Profiler.start");
    await during();
    const { profile } = await session.post("Profiler.stop");
    return sharesOf(profile as unknown as Profile);
  } finally {
    session.disconnect();
  }
}
