/**
 * `reliability outage`: a runtime on the simulator (real time) publishing to a
 * real mosquitto with the recorder on, through these broker failures:
 *
 *   1. crash   kill -9 the broker, leave it down N s, start it again on the same port
 *   2. freeze  SIGSTOP it for N s (a hung broker: TCP stays open, nothing answers), SIGCONT
 *   3. short freezes of 1, 2 and 4 s (quick: 1, 2): shorter than the keepalive's
 *      detection (1.5 x 3 s), so the connection is never replaced; what the
 *      runtime wrote into the frozen socket would be delivered at SIGCONT
 *
 * What it measures, per failure:
 *   reconnect_s      broker back -> the runtime's connection is up again
 *   fresh_angles_s   broker back -> the first angles message at a subscriber
 *   stale_angles     angles delivered after the broker came back whose newest
 *                    sample is older than STALE_MS (old data passed off as live)
 * and over the whole run:
 *   samples_lost     samples the source produced that are not in the recording
 *                    (the recorder writes to disk, whatever the broker does)
 */
import { readdir, readFile, rm, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { startMosquitto, type RunningMosquitto } from "../bench/mosquitto.js";
import type { Logger } from "../log.js";
import type { AnglesMessage } from "../mqtt/topics.js";
import { DEFAULT_MODEL, parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import { measureProbeLatency } from "./probeLatency.js";
import { checkResult, round, sleep, type CheckResult } from "./report.js";

/**
 * Stale: an angles message that reaches the subscriber after the broker came
 * back (restart or SIGCONT) whose newest sample is more than STALE_MS older
 * than its arrival (host clocks; the runtime and subscriber share one). Old
 * data passed off as live; a stride is 250 ms, so 1 s is four strides late.
 */
export const STALE_MS = 1000;
/** Short freezes (seconds), below the keepalive's detection; quick runs the first two. */
export const SHORT_FREEZES_S = [1, 2, 4] as const;
/** Target for reconnect_s and fresh_angles_s. */
export const RECONNECT_TARGET_S = 5;
/** The most any single wait in this check may take. */
const WAIT_LIMIT_MS = 30_000;

export interface OutageOptions {
  readonly quick?: boolean;
  /** Seconds each failure lasts; default 60 (quick: 3). */
  readonly seconds?: number;
  readonly model?: string;
  readonly logger: Logger;
}

interface Arrival {
  readonly atMs: number;
  readonly newestSampleMs: number;
}

async function waitUntil(what: string, probe: () => boolean, limitMs = WAIT_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`outage: timed out after ${limitMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Samples in the recording (kind "s") per sensor, and the seq gaps inside each sensor's run. */
async function readRecording(dir: string): Promise<{ samples: number; seqGaps: number }> {
  let samples = 0;
  let seqGaps = 0;
  const lastSeq = new Map<string, number>();
  for (const file of (await readdir(dir)).sort()) {
    const text = await readFile(path.join(dir, file), "utf8");
    for (const line of text.split("\n")) {
      if (!line.startsWith('{"k":"s"')) continue;
      const record = JSON.parse(line) as { id: string; seq?: number };
      samples++;
      const last = lastSeq.get(record.id);
      if (last !== undefined && record.seq !== undefined && record.seq !== last + 1) seqGaps++;
      if (record.seq !== undefined) lastSeq.set(record.id, record.seq);
    }
  }
  return { samples, seqGaps };
}

export async function runOutage(opts: OutageOptions): Promise<CheckResult> {
  const t0 = performance.now();
  const seconds = opts.seconds ?? (opts.quick ? 3 : 60);
  const deviceId = "reliability-outage";
  const dir = await mkdtemp(path.join(tmpdir(), "gait-outage-"));
  let broker: RunningMosquitto = await startMosquitto();
  const port = broker.port;
  let runtime: EdgeRuntime | undefined;
  let sub: MqttClient | undefined;
  const arrivals: Arrival[] = [];
  try {
    const config = parseConfig({
      model: opts.model ?? DEFAULT_MODEL,
      sources: [{ kind: "simulator", realtime: true, seed: 7 }],
      // The shipped reconnect and keepalive settings: the figures are the product's.
      mqtt: { url: broker.url, deviceId },
      recorder: { dir, deviceId, gzip: false },
    });
    runtime = new EdgeRuntime(config, { logger: opts.logger });
    // The subscriber retries fast, so its own reconnect does not count against the device.
    sub = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 100, connectTimeout: 2000, clientId: `${deviceId}-watch` });
    sub.on("message", (_topic, payload) => {
      const msg = JSON.parse(payload.toString()) as AnglesMessage;
      arrivals.push({ atMs: Date.now(), newestSampleMs: msg.t.at(-1) ?? 0 });
    });
    // Resubscribed on every reconnect (the broker has no persistence).
    sub.on("connect", () => void sub?.subscribeAsync(`gait/${deviceId}/angles`, { qos: 0 }).catch(() => undefined));
    await sub.subscribeAsync(`gait/${deviceId}/angles`, { qos: 0 });
    await runtime.start();
    const rt = runtime;
    await waitUntil("the first angles", () => arrivals.length >= 4);

    const connected = (): boolean => rt.stats().mqtt.connected;
    /** After the broker is back: how long until connected, and until fresh angles arrive. */
    const recovery = async (backAtMs: number): Promise<{ reconnectS: number; freshS: number; stale: number }> => {
      await waitUntil("the runtime to reconnect", connected);
      const reconnectS = (Date.now() - backAtMs) / 1000;
      const fresh = (a: Arrival): boolean => a.atMs >= backAtMs && a.atMs - a.newestSampleMs <= STALE_MS;
      await waitUntil("fresh angles at the subscriber", () => arrivals.some(fresh));
      const freshS = ((arrivals.find(fresh)?.atMs ?? Date.now()) - backAtMs) / 1000;
      // Two more strides, then count what came after the broker's return that was old.
      await sleep(1000);
      const stale = arrivals.filter((a) => a.atMs >= backAtMs && a.atMs - a.newestSampleMs > STALE_MS).length;
      return { reconnectS, freshS, stale };
    };

    // 1. crash: the broker dies with everything it held.
    await broker.kill();
    await sleep(seconds * 1000);
    broker = await startMosquitto({ port });
    const crash = await recovery(Date.now());

    // 2. freeze: the process stops answering; its sockets stay open.
    process.kill(broker.pid, "SIGSTOP");
    await sleep(seconds * 1000);
    process.kill(broker.pid, "SIGCONT");
    const freeze = await recovery(Date.now());

    // 3. short freezes: the connection survives them, so only the live probe keeps old angles off the wire.
    const short: Record<string, number> = {};
    for (const s of opts.quick ? SHORT_FREEZES_S.slice(0, 2) : SHORT_FREEZES_S) {
      process.kill(broker.pid, "SIGSTOP");
      await sleep(s * 1000);
      process.kill(broker.pid, "SIGCONT");
      const r = await recovery(Date.now());
      short[`freeze_${s}s_fresh_angles_s`] = round(r.freshS);
      short[`freeze_${s}s_stale_angles`] = r.stale;
    }

    await rt.stop();
    runtime = undefined;
    // What the probe costs a healthy broker (reported): publish -> subscriber, unprobed vs probed.
    const latency = await measureProbeLatency(broker.url, { messages: opts.quick ? 100 : 400, rounds: opts.quick ? 1 : 3, logger: opts.logger });
    // After stop: every sample the source produced has reached the recorder (or was dropped and counted).
    const finalStats = rt.stats();
    const produced = Object.values(finalStats.sources).reduce<number>((n, s) => n + ((s as { samples?: number }).samples ?? 0), 0);
    const recording = await readRecording(dir);
    const figures = {
      outage_s: seconds,
      samples_produced: produced,
      samples_recorded: recording.samples,
      samples_lost: produced - recording.samples,
      recording_seq_gaps: recording.seqGaps,
      recorder_dropped: finalStats.recorder?.dropped ?? 0,
      crash_reconnect_s: round(crash.reconnectS),
      crash_fresh_angles_s: round(crash.freshS),
      crash_stale_angles: crash.stale,
      freeze_reconnect_s: round(freeze.reconnectS),
      freeze_fresh_angles_s: round(freeze.freshS),
      freeze_stale_angles: freeze.stale,
      ...short,
      mqtt_reconnects: finalStats.mqtt.reconnects,
      angles_dropped_offline: finalStats.mqtt.dropped - finalStats.mqtt.droppedUnanswered,
      angles_dropped_unanswered: finalStats.mqtt.droppedUnanswered,
      broker_stalls_noticed: finalStats.mqtt.stalls,
      ...Object.fromEntries(Object.entries(latency).map(([k, v]) => [`latency_${k}`, v])),
    };
    const shortStale = Object.entries(short).filter(([k]) => k.endsWith("_stale_angles")).reduce((n, [, v]) => n + v, 0);
    const shortFresh = Object.entries(short).filter(([k]) => k.endsWith("_fresh_angles_s")).map(([, v]) => v);
    const counts =
      figures.samples_lost === 0 && figures.recording_seq_gaps === 0 && figures.crash_stale_angles === 0 && figures.freeze_stale_angles === 0 && shortStale === 0;
    const times =
      Math.max(figures.crash_reconnect_s, figures.crash_fresh_angles_s, figures.freeze_reconnect_s, figures.freeze_fresh_angles_s, ...shortFresh) < RECONNECT_TARGET_S;
    return checkResult("outage", t0, opts, {
      ok: counts && times,
      figures,
      targets: {
        samples_lost: "0",
        recording_seq_gaps: "0",
        crash_reconnect_s: `< ${RECONNECT_TARGET_S}`,
        crash_fresh_angles_s: `< ${RECONNECT_TARGET_S}`,
        crash_stale_angles: "0",
        freeze_reconnect_s: `< ${RECONNECT_TARGET_S}`,
        freeze_fresh_angles_s: `< ${RECONNECT_TARGET_S}`,
        freeze_stale_angles: "0",
        ...Object.fromEntries(Object.keys(short).map((k) => [k, k.endsWith("_stale_angles") ? "0" : `< ${RECONNECT_TARGET_S}`])),
        angles_dropped_offline: "reported (QoS 0 angles are live data: dropped while offline, never queued)",
        angles_dropped_unanswered: "reported (held for a probe the frozen broker did not answer within liveProbeTimeoutMs: dropped, never sent late)",
        latency_probed_median_ms: "reported (publish -> subscriber with the live probe; latency_unprobed_*: liveProbeTimeoutMs 0)",
      },
      notes: [
        `simulator in real time, shipped mqtt settings (keepalive ${config.mqtt.keepaliveS} s, reconnect ${config.mqtt.reconnectMinMs}-${config.mqtt.reconnectMaxMs} ms); stale = older than ${STALE_MS} ms on arrival`,
        `a frozen broker shorter than 1.5 x keepalive is not disconnected (reconnect_s 0); the live probe (liveProbeTimeoutMs ${config.mqtt.liveProbeTimeoutMs}) keeps what it could not read off the wire`,
      ],
    });
  } finally {
    await runtime?.stop().catch(() => undefined);
    await sub?.endAsync(true).catch(() => undefined);
    // A broker left frozen by a failed run would never exit on SIGTERM.
    try {
      process.kill(broker.pid, "SIGCONT");
    } catch {
      // already gone
    }
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
