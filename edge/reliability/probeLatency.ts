/**
 * What the live probe costs (part of `reliability outage`): the same QoS 0
 * messages through an `MqttConnection` with `liveProbeTimeoutMs` 0 (written at
 * once) and with the shipped budget (written after the broker answers a
 * ping), publish -> subscriber latency on one host. Rounds alternate the two
 * so that machine load hits both alike; medians and 95th percentiles are
 * reported, never asserted.
 */
import { connectAsync } from "mqtt";
import type { Logger } from "../log.js";
import { MqttConnection } from "../mqtt/connection.js";
import { mqttConfigSchema } from "../mqtt/config.js";
import { round, sleep } from "./report.js";

export interface ProbeLatency {
  readonly unprobed_median_ms: number;
  readonly unprobed_p95_ms: number;
  readonly probed_median_ms: number;
  readonly probed_p95_ms: number;
}

export async function measureProbeLatency(brokerUrl: string, opts: { messages: number; rounds: number; logger: Logger }): Promise<ProbeLatency> {
  const deviceId = "reliability-probe-latency";
  const topic = `gait/${deviceId}/angles`;
  const sub = await connectAsync(brokerUrl, { protocolVersion: 4, clientId: `${deviceId}-watch` });
  const latencies: Record<"0" | "probe", number[]> = { "0": [], probe: [] };
  let current: number[] = [];
  sub.on("message", (_t, payload) => current.push(performance.now() - Number(payload.toString())));
  try {
    await sub.subscribeAsync(topic, { qos: 0 });
    const probeBudget = mqttConfigSchema.parse({}).liveProbeTimeoutMs;
    for (let r = 0; r < opts.rounds; r++) {
      for (const mode of ["0", "probe"] as const) {
        const connection = new MqttConnection(mqttConfigSchema.parse({ url: brokerUrl, deviceId, liveProbeTimeoutMs: mode === "0" ? 0 : probeBudget }), {
          logger: opts.logger,
        });
        await connection.start();
        current = latencies[mode];
        // One message every 5 ms: faster than a wearer's strides, so batches form too.
        for (let i = 0; i < opts.messages; i++) {
          connection.publishLive(topic, String(performance.now()), 0, 1);
          await sleep(5);
        }
        await sleep(200);
        await connection.stop();
      }
    }
  } finally {
    await sub.endAsync(true);
  }
  const stat = (xs: number[], q: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return round(s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? Number.NaN, 2);
  };
  return {
    unprobed_median_ms: stat(latencies["0"], 0.5),
    unprobed_p95_ms: stat(latencies["0"], 0.95),
    probed_median_ms: stat(latencies.probe, 0.5),
    probed_p95_ms: stat(latencies.probe, 0.95),
  };
}
