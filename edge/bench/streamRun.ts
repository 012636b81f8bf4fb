/**
 * One bench run through a real broker: `wearers` simulated 100 Hz wearers in
 * real time through an EdgeRuntime, and a subscriber timing each angles
 * message from the moment the pipeline had it ready (`readyAtMs`, the sample
 * that completed it entering the pipeline) to its arrival. Used by `make
 * bench` (bench.ts) and the per-sample A/B (perSampleAb.ts).
 */
import { connectAsync, type MqttClient } from "mqtt";
import type { Logger } from "../log.js";
import { eventLoopDelayMonitor } from "../modules/loadWatch.js";
import type { AnglesMessage, SampleAnglesMessage } from "../mqtt/topics.js";
import { parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import type { BenchCalibrationFiles } from "./calibrationPrepass.js";
import type { RunningMosquitto } from "./mosquitto.js";

export interface StreamRunOptions {
  readonly broker: RunningMosquitto;
  readonly model: string;
  /** Every wearer starts calibrated from the pre-pass (calibrationPrepass.ts), which walked this `seed`. */
  readonly calibration: BenchCalibrationFiles;
  readonly seed: number;
  readonly wearers: number;
  readonly seconds: number;
  readonly logger: Logger;
  /** Per-sample mode on, every grid sample. */
  readonly perSample?: boolean;
  /** `pipeline.windowPhase`; the config's default (staggered) when absent. */
  readonly windowPhase?: "staggered" | "aligned";
}

export interface StreamRun {
  latencies: number[];
  skipped: number;
  published: number;
  rssMb: number;
  /** Per-sample mode only: latencies of `angles/sample` messages, requests skipped, published. */
  sampleLatencies: number[];
  sampleSkipped: number;
  samplePublished: number;
  /** How late the event loop ran a 1 ms timer, max and p99 over the run (ms): a turn this long holds every wearer's next sample. */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
}

export async function streamRun(o: StreamRunOptions): Promise<StreamRun> {
  const perSample = o.perSample ?? false;
  const deviceId = `bench-${perSample ? "ps-" : ""}${o.wearers}`;
  const config = parseConfig({
    model: o.model,
    sources: [{ kind: "simulator", wearers: o.wearers, realtime: true, seed: o.seed }],
    mqtt: { url: o.broker.url, deviceId, protocolVersion: 5 },
    pipeline: { staleAfterMs: 1000, perSample: { enabled: perSample, every: 1 }, ...(o.windowPhase ? { windowPhase: o.windowPhase } : {}) },
    calibration: { file: await o.calibration.fileFor(o.wearers) },
  });
  const readyAt = new Map<string, number>();
  const sampleReadyAt = new Map<string, number>();
  const runtime = new EdgeRuntime(config, {
    logger: o.logger,
    onAngles: (msg, timing) => readyAt.set(`${msg.wearer}#${msg.seq}`, timing.readyAtMs),
    onSampleAngles: (msg, timing) => sampleReadyAt.set(`${msg.wearer}#${msg.seq}`, timing.readyAtMs),
  });
  const latencies: number[] = [];
  const sampleLatencies: number[] = [];
  const anglesTopic = `gait/${deviceId}/angles`;
  const sampleTopic = `gait/${deviceId}/angles/sample`;
  const sub: MqttClient = await connectAsync(o.broker.url, { protocolVersion: 5, clientId: `${deviceId}-sub` });
  sub.on("message", (topic, payload) => {
    const now = performance.now();
    const sample = topic === sampleTopic;
    const msg = JSON.parse(payload.toString()) as AnglesMessage | SampleAnglesMessage;
    const key = `${msg.wearer}#${msg.seq}`;
    const pending = sample ? sampleReadyAt : readyAt;
    const t0 = pending.get(key);
    if (t0 !== undefined) {
      (sample ? sampleLatencies : latencies).push(now - t0);
      pending.delete(key);
    }
  });
  await sub.subscribeAsync(perSample ? [anglesTopic, sampleTopic] : [anglesTopic], { qos: 0 });
  await runtime.start();
  const loop = eventLoopDelayMonitor(); // the load watch's: the same figure as get_status load.last
  loop.enable();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const loopDelay = loop.take();
  loop.disable();
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  const stats = runtime.stats();
  await runtime.stop();
  await new Promise((r) => setTimeout(r, 100));
  await sub.endAsync();
  const pipelines = Object.values(stats.pipelines);
  return {
    latencies,
    skipped: pipelines.reduce((n, p) => n + p.skipped, 0),
    published: pipelines.reduce((n, p) => n + p.published, 0),
    rssMb,
    sampleLatencies,
    sampleSkipped: pipelines.reduce((n, p) => n + (p.perSample?.skipped ?? 0), 0),
    samplePublished: pipelines.reduce((n, p) => n + (p.perSample?.published ?? 0), 0),
    loopDelayMaxMs: loopDelay.maxMs,
    loopDelayP99Ms: loopDelay.p99Ms,
  };
}
