/**
 * The MQTT surface of one edge device, in one place: every topic suffix and the
 * payload that travels on it. Payloads we publish are plain TS types (we build
 * them, the compiler checks them); payloads that come IN from the network are
 * zod schemas, because anyone on the broker can send anything.
 *
 *   <prefix>/<deviceId>/angles            AnglesMessage      (QoS 0 by default, not retained)
 *   <prefix>/<deviceId>/angles/sample     SampleAnglesMessage (per-sample mode only; QoS 0 like angles)
 *   <prefix>/<deviceId>/status            StatusMessage      (retained; also the last will)
 *   <prefix>/<deviceId>/model             ModelInfoMessage   (retained)
 *   <prefix>/<deviceId>/gait/event        GaitEventMessage   (QoS 0, not retained; edge/gait/types.ts)
 *   <prefix>/<deviceId>/gait/stride       StrideMessage      (QoS 0, not retained)
 *   <prefix>/<deviceId>/command           CommandRequest     (incoming; edge/commands/types.ts)
 *   <prefix>/<deviceId>/command/response  CommandReply       (zigbee2mqtt style reply)
 */
import { z } from "zod";
import type { CommandReply, CommandRequest } from "../commands/types.js";
import type { GaitEventMessage, StrideMessage } from "../gait/types.js";

/** One window's worth of joint angles, as the model produced them. */
export interface AnglesMessage {
  /** Increments by one per published message; a gap means messages were lost. */
  seq: number;
  model: { name: string; version: string };
  /** Joint names, in the column order of `angles`. */
  joints: string[];
  units: "deg";
  /** Unix time in ms, one per sample. */
  t: number[];
  /** [sample][joint], degrees. */
  angles: number[][];
  /** Device clock per sample, µs, when the source has one (for cross-checking `t`). */
  sensorTimeUs?: number[];
  /** Which wearer, when one runtime serves several (load tests, multi-wearer rigs). */
  wearer?: string;
  stale?: false;
}

/**
 * Per-sample mode (`pipeline.perSample`): the causal estimate of ONE grid
 * sample, published as soon as it is computed. Compact on purpose: at 100 Hz
 * per wearer the joint names and model go once, in the retained `model`
 * topic (`joints` there gives the order of `a`), not in every message.
 */
export interface SampleAnglesMessage {
  /** Per wearer, +1 per published sample (restarts with the process); a gap means a dropped or lost sample. */
  seq: number;
  /** Unix time in ms of the sample (device clock mapped to the wall clock, as `AnglesMessage.t`). */
  t: number;
  /** The grid sample's device-clock time, µs (as `AnglesMessage.sensorTimeUs`). */
  tUs: number;
  /** Degrees, one per joint in the model's joint order. */
  a: number[];
  /** Which wearer, when one runtime serves several. */
  wearer?: string;
}

export const DEVICE_STATES = ["online", "offline", "degraded"] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

export interface StatusMessage {
  state: DeviceState;
  reason?: string;
  /**
   * Unix ms when this state began. In the last will the broker cannot stamp the
   * time, so it carries the time the lost connection was established.
   */
  since: number;
}

/** What the device is running, from the model manifest. */
export interface ModelInfoMessage {
  name: string;
  version: string;
  joints: string[];
  units: "deg";
  sampleRateHz?: number;
  windowSamples?: number;
  strideSamples?: number;
  /** Hash of the ONNX file, so a dashboard can tell two builds of one version apart. */
  sha256?: string;
}

/** Topic suffix -> payload type: the single typed map of the device's MQTT surface. */
export interface TopicPayloads {
  angles: AnglesMessage;
  status: StatusMessage;
  model: ModelInfoMessage;
  command: CommandRequest;
  "command/response": CommandReply;
  "gait/event": GaitEventMessage;
  "gait/stride": StrideMessage;
  "angles/sample": SampleAnglesMessage;
}
/** Published as live data: dropped while offline at QoS 0 (DevicePublisher.publish). */
export type LiveSuffix =
  | "angles"
  | "angles/sample"
  | "gait/event"
  | "gait/stride";
/** Published retained, kept and re-published on every reconnect (DevicePublisher.publishRetained). */
export type RetainedSuffix = "status" | "model";
export type TopicSuffix = keyof TopicPayloads;
export const TOPIC_SUFFIXES: readonly TopicSuffix[] = [
  "angles",
  "status",
  "model",
  "command",
  "command/response",
  "gait/event",
  "gait/stride",
  "angles/sample",
];

export type DeviceTopics = { readonly [K in TopicSuffix]: string };

/** A prefix may have levels ("lab/gait") but no wildcards and no empty levels. */
export const topicPrefixSchema = z
  .string()
  .regex(/^[^/+#\u0000]+(\/[^/+#\u0000]+)*$/, "must be topic levels like 'gait' or 'lab/gait': no '+', '#', empty or leading/trailing '/'");
/** The device id is exactly one topic level. */
export const deviceIdSchema = z
  .string()
  .regex(/^[^/+#\u0000]+$/, "must be one topic level: no '/', '+' or '#'");

export function topicsFor(prefix: string, deviceId: string): DeviceTopics {
  const p = topicPrefixSchema.safeParse(prefix);
  if (!p.success) throw new Error(`invalid MQTT topic prefix ${JSON.stringify(prefix)}: ${describeZodError(p.error)}`);
  const d = deviceIdSchema.safeParse(deviceId);
  if (!d.success) throw new Error(`invalid MQTT device id ${JSON.stringify(deviceId)}: ${describeZodError(d.error)}`);
  const base = `${prefix}/${deviceId}`;
  return {
    angles: `${base}/angles`,
    status: `${base}/status`,
    model: `${base}/model`,
    command: `${base}/command`,
    "command/response": `${base}/command/response`,
    "gait/event": `${base}/gait/event`,
    "gait/stride": `${base}/gait/stride`,
    "angles/sample": `${base}/angles/sample`,
  };
}

/** "command: Invalid option: expected one of ...; id: ..." — one line, field names first. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.map(String).join(".") : "(payload)"}: ${issue.message}`)
    .join("; ");
}

/** MQTT topic filter matching ('+' one level, '#' the rest); used for `MqttConnection.subscribe`. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
