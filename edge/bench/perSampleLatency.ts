/**
 * Where per-sample mode's latency goes (issue #11: p99 <= 5 ms, 1 wearer):
 *
 *   node_modules/.bin/tsx edge/bench/perSampleLatency.ts [--seconds 20] [--nagle]
 *
 * One simulated wearer in real time, per-sample mode every 1, through a real
 * mosquitto to a subscriber in this process (as `make bench`). Each sample's
 * latency is split in two at the moment the runtime hands the message to
 * MQTT: `infer` (sample in -> inference done, queueing included) and `deliver`
 * (publish -> subscriber, through the broker). Garbage collections and
 * event-loop stalls (a 1 ms timer that fired over 4 ms late) that overlap the
 * slowest samples are listed, so a tail can be told apart: a GC, a starved
 * process (the machine is loaded), or a delivery that waited on TCP.
 *
 * `--nagle` turns TCP_NODELAY off again on both legs (device -> broker and
 * broker -> subscriber), as before the fix, for an A/B under the same load:
 * with Nagle on, each small message written while one is unacknowledged waits
 * for the receiver's delayed ACK (up to 40 ms on Linux).
 *
 * Run with the service's node flags for service-like GC
 * (NODE_OPTIONS="--max-semi-space-size=4", see the Makefile's SERVICE_NODE_FLAGS).
 * Figures are reported, never asserted.
 */
import net from "node:net";
import { PerformanceObserver } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { connectAsync } from "mqtt";
import { createLogger } from "../log.js";
import type { SampleAnglesMessage } from "../mqtt/topics.js";
import { parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import { percentile } from "./bench.js";
import { startMosquitto } from "./mosquitto.js";

export interface PerSampleLatency {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly inferP99Ms: number;
  readonly deliverP99Ms: number;
  readonly gcCount: number;
  readonly gcMaxMs: number;
  /** Event-loop stalls over 4 ms during the run. */
  readonly stalls: number;
  /**
   * Samples over 5 ms with no GC and no stall overlapping them: a delay on
   * the path itself (TCP, the broker), not this process being starved. The
   * figure that tells the A/B apart on a loaded machine.
   */
  readonly slowUnexplained: number;
  readonly slowTotal: number;
  /** The slowest samples: total, split, and what overlapped them. */
  readonly slowest: readonly string[];
}

interface Span {
  readonly start: number;
  readonly ms: number;
}

export async function measurePerSampleLatency(opts: { seconds: number; nagle: boolean; model: string }): Promise<PerSampleLatency> {
  const gcs: Span[] = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration });
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  const stalls: Span[] = [];
  let last = performance.now();
  const stallTimer = setInterval(() => {
    const now = performance.now();
    if (now - last > 4) stalls.push({ start: last, ms: now - last });
    last = now;
  }, 1);
  const restoreNagle = opts.nagle ? nagleOn() : () => undefined;
  const broker = await startMosquitto(opts.nagle ? { extraConf: "set_tcp_nodelay false" } : {});
  const rows: Array<{ readyAt: number; infer: number; deliver: number }> = [];
  try {
    const deviceId = "per-sample-latency";
    const config = parseConfig({
      model: opts.model,
      sources: [{ kind: "simulator", wearers: 1, realtime: true, seed: 7 }],
      mqtt: { url: broker.url, deviceId, protocolVersion: 5 },
      pipeline: { staleAfterMs: 1000, perSample: { enabled: true, every: 1 } },
    });
    const handedOver = new Map<number, [number, number]>();
    const runtime = new EdgeRuntime(config, {
      logger: createLogger("per-sample-latency", { level: "error" }),
      onSampleAngles: (m, t) => handedOver.set(m.seq, [t.readyAtMs, performance.now()]),
    });
    const sub = await connectAsync(broker.url, { protocolVersion: 5, clientId: `${deviceId}-sub` });
    sub.on("message", (_topic, payload) => {
      const now = performance.now();
      const m = JSON.parse(payload.toString()) as SampleAnglesMessage;
      const t = handedOver.get(m.seq);
      if (!t) return;
      handedOver.delete(m.seq);
      rows.push({ readyAt: t[0], infer: t[1] - t[0], deliver: now - t[1] });
    });
    await sub.subscribeAsync(`gait/${deviceId}/angles/sample`, { qos: 0 });
    await runtime.start();
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    await runtime.stop();
    await sub.endAsync();
  } finally {
    clearInterval(stallTimer);
    gcObserver.disconnect();
    restoreNagle();
    await broker.stop();
  }
  const total = rows.map((r) => r.infer + r.deliver);
  const overlapping = (spans: readonly Span[], from: number, to: number, label: string): string[] =>
    spans.filter((s) => s.start + s.ms > from && s.start < to).map((s) => `${label} ${s.ms.toFixed(1)} ms at +${(s.start - from).toFixed(1)}`);
  const explained = (r: (typeof rows)[number]): boolean => {
    const end = r.readyAt + r.infer + r.deliver;
    return overlapping(gcs, r.readyAt, end, "gc").length + overlapping(stalls, r.readyAt, end, "stall").length > 0;
  };
  const slow = rows.filter((r) => r.infer + r.deliver > 5);
  const slowest = [...rows]
    .sort((a, b) => b.infer + b.deliver - (a.infer + a.deliver))
    .slice(0, 8)
    .map((r) => {
      const end = r.readyAt + r.infer + r.deliver;
      const seen = [...overlapping(gcs, r.readyAt, end, "gc"), ...overlapping(stalls, r.readyAt, end, "stall")];
      return `${(r.infer + r.deliver).toFixed(1)} ms (infer ${r.infer.toFixed(1)}, deliver ${r.deliver.toFixed(1)})${seen.length ? ": " + seen.join(", ") : ""}`;
    });
  return {
    samples: rows.length,
    p50Ms: percentile(total, 50),
    p99Ms: percentile(total, 99),
    maxMs: total.length ? Math.max(...total) : Number.NaN,
    inferP99Ms: percentile(rows.map((r) => r.infer), 99),
    deliverP99Ms: percentile(rows.map((r) => r.deliver), 99),
    gcCount: gcs.length,
    gcMaxMs: gcs.length ? Math.max(...gcs.map((g) => g.ms)) : 0,
    stalls: stalls.length,
    slowUnexplained: slow.filter((r) => !explained(r)).length,
    slowTotal: slow.length,
    slowest,
  };
}

/** TCP_NODELAY calls made no-ops in this process (the A/B's "before"); returns the undo. */
function nagleOn(): () => void {
  const original = Object.getOwnPropertyDescriptor(net.Socket.prototype, "setNoDelay")!;
  Object.defineProperty(net.Socket.prototype, "setNoDelay", { ...original, value: function (this: net.Socket) { return this; } });
  return () => Object.defineProperty(net.Socket.prototype, "setNoDelay", original);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "20" },
      nagle: { type: "boolean", default: false },
      model: { type: "string", default: "models/reduced-femur-calcn-lstm/manifest.json" },
    },
  });
  const r = await measurePerSampleLatency({ seconds: Number(values.seconds), nagle: values.nagle, model: values.model });
  const f = (x: number): string => x.toFixed(2);
  process.stdout.write(
    [
      `per-sample (every 1), 1 wearer, ${values.seconds} s, TCP_NODELAY ${values.nagle ? "off (--nagle)" : "on"}, node flags: ${process.env.NODE_OPTIONS ?? "none"}`,
      `  ${r.samples} samples: p50 ${f(r.p50Ms)} ms, p99 ${f(r.p99Ms)} ms, max ${f(r.maxMs)} ms; p99 of infer ${f(r.inferP99Ms)}, of deliver ${f(r.deliverP99Ms)}`,
      `  ${r.gcCount} GCs (longest ${f(r.gcMaxMs)} ms), ${r.stalls} event-loop stalls over 4 ms`,
      `  ${r.slowTotal} samples over 5 ms, ${r.slowUnexplained} of them with no GC or stall overlapping (a delay on the path)`,
      "  slowest:",
      ...r.slowest.map((s) => `    ${s}`),
    ].join("\n") + "\n",
  );
}

if (process.argv[1]?.endsWith("edge/bench/perSampleLatency.ts")) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
