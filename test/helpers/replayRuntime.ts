/**
 * The runtime end to end on a replay: a real EdgeRuntime on its embedded
 * broker replaying a trial file at full speed, with an MQTT subscriber
 * (connected before the sources start, so nothing published is missed) that
 * keeps every message by topic; and the shipped AB06 trial written back to
 * back as one replay file, optionally with sensors turned (remounted, or
 * re-strapped from some moment on). For the runtime e2e tests
 * (test/runtime/*E2e.test.ts).
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { connectAsync, type MqttClient } from "mqtt";
import type { Mat3 } from "../../edge/calibration/index.js";
import { memoryLogger } from "../../edge/log.js";
import type { AnglesMessage, StatusMessage } from "../../edge/mqtt/topics.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { sendCommand } from "../../edge/runtime/remote.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { AB06_TRIAL } from "./ab06.js";
import { waitFor } from "./waitFor.js";

export interface ReplayDeployment {
  readonly runtime: EdgeRuntime;
  /** Every message the subscriber got, by topic, parsed as JSON, in arrival order. */
  readonly messages: Map<string, unknown[]>;
  /** Resolves when the replay has delivered everything and every wearer's last window is out (`onEnd`). */
  readonly done: Promise<void>;
  /** The messages of one topic (none yet: empty). */
  of<T>(topic: string): T[];
  /** Published angles by sensor time (µs): the angles row of each sample. */
  anglesBySensorTime(): Map<number, number[]>;
  close(): Promise<void>;
}

export interface ReplayOptions {
  readonly model: string;
  /** A Camargo-format IMU file (`*_imu.csv`, or .gz). */
  readonly file: string;
  readonly deviceId: string;
  readonly calibrationFile: string;
  readonly mounting?: { readonly walkS: number };
}

/** A runtime replaying `options.file` with a subscriber to `gait/<deviceId>/#`; call `runtime.start()`, await `done`, then `close()`. */
export function deployReplay(options: ReplayOptions): ReplayDeployment {
  const config = parseConfig({
    model: options.model,
    sources: [{ kind: "replay", file: options.file, speed: 0 }],
    mqtt: { deviceId: options.deviceId, embedded: { host: "127.0.0.1", port: 0 } },
    calibration: { file: options.calibrationFile },
    ...(options.mounting ? { mounting: options.mounting } : {}),
  });
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  const messages = new Map<string, unknown[]>();
  let client: MqttClient | undefined;
  const runtime = new EdgeRuntime(config, {
    logger: memoryLogger(),
    onEnd: () => ended(),
    beforeSources: async (rt) => {
      client = await connectAsync(rt.brokerUrl);
      client.on("message", (topic, payload) => {
        const list = messages.get(topic) ?? [];
        list.push(JSON.parse(payload.toString()));
        messages.set(topic, list);
      });
      await client.subscribeAsync(`gait/${options.deviceId}/#`, { qos: 1 });
    },
  });
  const of = <T>(topic: string): T[] => (messages.get(topic) ?? []) as T[];
  return {
    runtime,
    messages,
    done,
    of,
    anglesBySensorTime: () => {
      const out = new Map<number, number[]>();
      for (const a of of<AnglesMessage>(runtime.topics.angles)) a.sensorTimeUs!.forEach((t, i) => out.set(t, a.angles[i]!));
      return out;
    },
    close: async () => {
      await client?.endAsync();
      await runtime.stop();
    },
  };
}

export interface ReplayedAngles {
  /** Published angles by sensor time (µs). */
  readonly angles: Map<number, number[]>;
  readonly statuses: StatusMessage[];
  /** `get_status`'s answer at the end. */
  readonly status: unknown;
}

/**
 * The whole replay through `deployReplay`: started, run to its end, every angles message
 * waited for on MQTT (each carries at least a stride, 25, of new samples), `get_status`
 * asked, closed.
 */
export async function replayAngles(options: ReplayOptions): Promise<ReplayedAngles> {
  const { runtime, done, of, anglesBySensorTime, close } = deployReplay(options);
  try {
    await runtime.start();
    await done;
    const published = () => Object.values(runtime.stats().pipelines).reduce((n, p) => n + p.published, 0);
    await waitFor("every angles message on MQTT", () => anglesBySensorTime().size >= published() * 25, 30_000);
    const status = await sendCommand(runtime.brokerUrl, "gait", options.deviceId, { command: "get_status" });
    return { angles: anglesBySensorTime(), statuses: of<StatusMessage>(runtime.topics.status), status: status.data };
  } finally {
    await close();
  }
}

/** The shipped AB06 trial's first sample time (s): sensor times in the replays start here. */
export const AB06_T0_S = 8.255;

/**
 * The shipped AB06 trial `copies` times back to back as one CSV (the clock
 * running on, 5 ms a row), each sensor's acc and gyro turned by
 * `mount(sensor, tS)` where it returns a rotation (v_new = Q v_old: the same
 * motion read by a sensor strapped on another way; tS = the row's time in the
 * file). Full precision: two replays differ by the rotations only.
 */
export async function ab06TrialFile(
  dir: string,
  name: string,
  copies: number,
  mount: (sensor: "thigh" | "foot", tS: number) => Mat3 | undefined = () => undefined,
): Promise<string> {
  const lines = gunzipSync(await readFile(AB06_TRIAL)).toString("utf8").trim().split("\n");
  const header = lines[0]!.split(",");
  const cols = (sensor: string, kind: string): number[] => ["X", "Y", "Z"].map((a) => header.indexOf(`${sensor}_${kind}_${a}`));
  const sensors = (["thigh", "foot"] as const).map((sensor) => ({ sensor, acc: cols(sensor, "Accel"), gyro: cols(sensor, "Gyro") }));
  const rows = lines.slice(1).map((l) => l.split(",").map(Number));
  const span = rows.at(-1)![0]! - rows[0]![0]! + 0.005;
  const out = [lines[0]!];
  for (let c = 0; c < copies; c++) {
    for (const r of rows) {
      const f = [...r];
      f[0] = Math.round((r[0]! + c * span) * 1000) / 1000;
      for (const { sensor, acc, gyro } of sensors) {
        const Q = mount(sensor, f[0]);
        if (!Q) continue;
        for (const idx of [acc, gyro]) {
          const v = idx.map((i) => r[i]!);
          idx.forEach((i, k) => (f[i] = Q[k]![0] * v[0]! + Q[k]![1] * v[1]! + Q[k]![2] * v[2]!));
        }
      }
      out.push(f.map(String).join(","));
    }
  }
  const file = path.join(dir, `${name}_imu.csv`);
  await writeFile(file, out.join("\n") + "\n");
  return file;
}
