/**
 * `make demo`: a real recorded trial replayed through the whole runtime with
 * the shipped int8 model and the embedded broker. A separate MQTT client
 * subscribes to the device's angles and status and prints them live; at the
 * end the angles it received are scored against the trial's mocap angles.
 *
 * A gait-features/2 model needs each sensor's mounting calibration before
 * it publishes anything. The demo trial walks only 17 s, about what the
 * automatic calibration needs, so the demo loads a calibration file: the
 * `calibration` option, else `calibration.json` next to the trial
 * (data/ab06/calibration.json: made by the edge from another AB06 trial of
 * the same session, data/ab06/README.md). It works on a temporary copy, so
 * the runtime's re-checks never write into data/. Without one it waits for
 * the automatic calibration and says so. A v1 model needs none.
 */
import { copyFile, mkdtemp, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { loadManifest } from "../contract/manifest.js";
import type { Logger } from "../log.js";
import type { AnglesMessage, StatusMessage } from "../mqtt/topics.js";
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
  /**
   * A calibration.file to start from (mountings, gyro bias). Default, for a
   * gait-features/2 model only: `calibration.json` next to the trial, when there is one.
   */
  readonly calibration?: string;
}

export interface DemoResult {
  readonly rmse: { joints: Record<string, number>; mean: number };
  readonly messages: number;
  readonly samples: number;
  readonly seqGaps: number;
  /** The calibration file the demo started from (null: none, a v2 model calibrated from the walking). */
  readonly calibration: string | null;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
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

  const segmentFrames = (await loadManifest(opts.model)).pipeline.segmentFrames;
  const beside = path.join(path.dirname(opts.trial), "calibration.json");
  const calibration = opts.calibration ?? (segmentFrames && (await exists(beside)) ? beside : undefined);
  let calibrationFile: string | undefined;
  if (calibration !== undefined) {
    // A copy: re-checks and recalibrations during the demo are saved, but never into the shipped file.
    calibrationFile = path.join(await mkdtemp(path.join(tmpdir(), "gait-demo-")), "calibration.json");
    await copyFile(calibration, calibrationFile);
  }
  const config = parseConfig({
    model: opts.model,
    sources: [{ kind: "replay", file: opts.trial, format: "camargo", speed: opts.speed }],
    mqtt: { deviceId: "demo", embedded: { host: "127.0.0.1", port: 0 } },
    ...(calibrationFile ? { calibration: { file: calibrationFile } } : {}),
  });
  let finish!: () => void;
  const ended = new Promise<void>((r) => (finish = r));
  let meter: RmseMeter | undefined;
  let client: MqttClient | undefined;
  let messages = 0;
  let lastSeq = 0;
  let seqGaps = 0;
  let t0 = Number.NaN;
  let statusLine = "status: none received";
  const runtime = new EdgeRuntime(config, {
    logger: opts.logger,
    onEnd: () => finish(),
    // Our own subscriber, connected before the replay starts: what a controller on the network sees.
    beforeSources: async (rt) => {
      const joints = rt.contract.pipeline.joints;
      meter = new RmseMeter(await readCamargoAngles(ikFile, joints), joints);
      client = await connectAsync(rt.brokerUrl, { protocolVersion: 4, clientId: "demo-subscriber" });
      let lastStatus = "";
      client.on("message", (topic, payload) => {
        if (topic === rt.topics.status) {
          // Printed when it changes (calibrating, a refusal, back online); not for every 10 % of progress.
          const st = JSON.parse(payload.toString()) as StatusMessage;
          const line = `status: ${st.state}${st.reason ? ` (${st.reason})` : ""}`;
          const gist = line.replace(/\d+%/g, "");
          if (gist !== lastStatus) out(line);
          lastStatus = gist;
          statusLine = line;
          return;
        }
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
      await client.subscribeAsync([rt.topics.angles, rt.topics.status], { qos: 0 });
      out(`replaying ${opts.trial} at ${opts.speed === 0 ? "full" : `${opts.speed}x real`} speed through ${rt.contract.manifest.name} ${rt.contract.manifest.version} (int8), broker ${rt.brokerUrl}`);
      if (calibration !== undefined) out(`mounting calibration from ${calibration} (re-checked while walking)`);
      else if (segmentFrames) out("no calibration file: the sensors calibrate themselves from the first 20-30 s of walking; the angles start then");
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
  if (meter.samples === 0) {
    // Not a score of NaN: say why nothing came.
    const hint = segmentFrames
      ? "; a gait-features/2 model needs each sensor's mounting calibration: pass --calibration <file>, or replay a trial with 20-30 s of walking"
      : "";
    throw new Error(`the demo received no angles (last ${statusLine})${hint}`);
  }
  const rmse = meter.result();
  out("");
  out(`RMSE against the trial's mocap angles (${meter.samples} samples, ${messages} messages):`);
  for (const [j, v] of Object.entries(rmse.joints)) out(`  ${j.padEnd(22)} ${v.toFixed(2)} deg`);
  out(`  ${"mean".padEnd(22)} ${rmse.mean.toFixed(2)} deg`);
  return { rmse, messages, samples: meter.samples, seqGaps, calibration: calibration ?? null };
}
