/**
 * `make demo`: a real recorded trial replayed through the whole runtime with
 * the shipped int8 model and the embedded broker. A separate MQTT client
 * subscribes to the device's angles and prints them live; at the end the
 * angles it received are scored against the trial's mocap angles.
 */
import { connectAsync, type MqttClient } from "mqtt";
import type { Logger } from "../log.js";
import type { AnglesMessage } from "../mqtt/topics.js";
import { parseConfig } from "./config.js";
import { EdgeRuntime } from "./runtime.js";
import { readCamargoAngles, RmseMeter } from "./truth.js";

export interface DemoOptions {
  readonly trial: string;
  readonly model: string;
  /** 1 = real time; 0 = as fast as possible. */
  readonly speed: number;
  readonly logger: Logger;
  readonly out?: (line: string) => void;
}

export interface DemoResult {
  readonly rmse: { joints: Record<string, number>; mean: number };
  readonly messages: number;
  readonly samples: number;
  readonly seqGaps: number;
}

const SHORT: Record<string, string> = {
  hip_flexion_r: "hipFlex",
  hip_adduction_r: "hipAdd",
  hip_rotation_r: "hipRot",
  knee_flexion_r: "knee",
  ankle_dorsiflexion_r: "ankle",
};

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const out = opts.out ?? ((line: string) => process.stdout.write(line + "\n"));
  const ikFile = opts.trial.replace(/_imu(\.csv(\.gz)?)$/, "_ik$1");
  if (ikFile === opts.trial) throw new Error(`${opts.trial}: expected a Camargo *_imu.csv[.gz] trial (its *_ik file holds the reference angles)`);

  const config = parseConfig({
    model: opts.model,
    sources: [{ kind: "replay", file: opts.trial, format: "camargo", speed: opts.speed }],
    mqtt: { deviceId: "demo", embedded: { host: "127.0.0.1", port: 0 } },
  });
  let finish!: () => void;
  const ended = new Promise<void>((r) => (finish = r));
  let meter: RmseMeter | undefined;
  let client: MqttClient | undefined;
  let messages = 0;
  let lastSeq = 0;
  let seqGaps = 0;
  let t0 = Number.NaN;
  const runtime = new EdgeRuntime(config, {
    logger: opts.logger,
    onEnd: () => finish(),
    // Our own subscriber, connected before the replay starts: what a controller on the network sees.
    beforeSources: async (rt) => {
      const joints = rt.contract.pipeline.joints;
      meter = new RmseMeter(await readCamargoAngles(ikFile, joints), joints);
      client = await connectAsync(rt.brokerUrl, { protocolVersion: 4, clientId: "demo-subscriber" });
      client.on("message", (_topic, payload) => {
        const msg = JSON.parse(payload.toString()) as AnglesMessage;
        messages += 1;
        if (lastSeq && msg.seq !== lastSeq + 1) seqGaps += 1;
        lastSeq = msg.seq;
        msg.angles.forEach((a, i) => meter!.add(msg.sensorTimeUs![i]!, a));
        const ts = msg.sensorTimeUs![msg.sensorTimeUs!.length - 1]! / 1e6;
        if (Number.isNaN(t0)) t0 = msg.sensorTimeUs![0]! / 1e6;
        const last = msg.angles[msg.angles.length - 1]!;
        out(
          `#${String(msg.seq).padStart(3)}  t=${(ts - t0).toFixed(2).padStart(6)} s  ` +
            msg.joints.map((j, k) => `${SHORT[j] ?? j} ${last[k]!.toFixed(1).padStart(6)}`).join("  "),
        );
      });
      await client.subscribeAsync(rt.topics.angles, { qos: 0 });
      out(`replaying ${opts.trial} at ${opts.speed === 0 ? "full" : `${opts.speed}x real`} speed through ${rt.contract.manifest.name} ${rt.contract.manifest.version} (int8), broker ${rt.brokerUrl}`);
      out(`angles in degrees (last sample of each message; topic ${rt.topics.angles}):`);
    },
  });
  await runtime.start();

  await ended;
  // Let the last messages cross the broker.
  const published = (): number => Object.values(runtime.stats().pipelines).reduce((n, p) => n + p.published, 0);
  for (let i = 0; i < 50 && messages < published(); i++) await new Promise((r) => setTimeout(r, 20));
  await client?.endAsync();
  await runtime.stop();
  if (!meter) throw new Error("the runtime never became ready");
  const rmse = meter.result();
  out("");
  out(`RMSE against the trial's mocap angles (${meter.samples} samples, ${messages} messages):`);
  for (const [j, v] of Object.entries(rmse.joints)) out(`  ${j.padEnd(22)} ${v.toFixed(2)} deg`);
  out(`  ${"mean".padEnd(22)} ${rmse.mean.toFixed(2)} deg`);
  return { rmse, messages, samples: meter.samples, seqGaps };
}
