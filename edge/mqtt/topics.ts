/**
 * The MQTT surface of one edge device, in one place: every topic suffix and the
 * payload that travels on it. Payloads we publish are plain TS types (we build
 * them, the compiler checks them); payloads that come IN from the network are
 * zod schemas, because anyone on the broker can send anything.
 *
 *   <prefix>/<deviceId>/angles            AnglesMessage      (QoS 0 by default, not retained)
 *   <prefix>/<deviceId>/status            StatusMessage      (retained; also the last will)
 *   <prefix>/<deviceId>/model             ModelInfoMessage   (retained)
 *   <prefix>/<deviceId>/command           CommandRequest     (incoming)
 *   <prefix>/<deviceId>/command/response  CommandResponse    (zigbee2mqtt style reply)
 */
import { z } from "zod";

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

/** Commands the device understands. Add new ones here; the handler sees the union. */
export const COMMANDS = ["calibrate", "heading_reset", "get_status", "get_model"] as const;
export type CommandName = (typeof COMMANDS)[number];

export const commandIdSchema = z.union([z.string().max(128), z.number()]);

export const commandRequestSchema = z.object({
  /** Echoed in the response so the caller can match replies to requests. */
  id: commandIdSchema.optional(),
  command: z.enum(COMMANDS),
  /** Command-specific arguments (for example a calibration duration). */
  args: z.record(z.string(), z.unknown()).optional(),
});
export type CommandRequest = z.infer<typeof commandRequestSchema>;

export interface CommandResponse {
  /** The request's id; null when the request was too broken to have one. */
  id: string | number | null;
  status: "ok" | "error";
  error?: string;
  data?: unknown;
}

/** Topic suffix -> payload type: the single typed map of the device's MQTT surface. */
export interface TopicPayloads {
  angles: AnglesMessage;
  status: StatusMessage;
  model: ModelInfoMessage;
  command: CommandRequest;
  "command/response": CommandResponse;
}
export type TopicSuffix = keyof TopicPayloads;
export const TOPIC_SUFFIXES: readonly TopicSuffix[] = ["angles", "status", "model", "command", "command/response"];

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
  };
}

export type ParsedCommand =
  | { ok: true; command: CommandRequest }
  | { ok: false; id: string | number | null; error: string };

/**
 * Parse a raw command payload. Never throws: a bad payload becomes an error
 * message naming the problem, plus the request id when one could be read so the
 * caller still gets a matching reply.
 */
export function parseCommand(payload: Buffer | string): ParsedCommand {
  const text = typeof payload === "string" ? payload : payload.toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, id: null, error: `invalid JSON: ${(err as Error).message}` };
  }
  const parsed = commandRequestSchema.safeParse(json);
  if (parsed.success) return { ok: true, command: parsed.data };
  const rawId = typeof json === "object" && json !== null ? (json as { id?: unknown }).id : undefined;
  const id = commandIdSchema.safeParse(rawId);
  return { ok: false, id: id.success ? id.data : null, error: `invalid command: ${describeZodError(parsed.error)}` };
}

/** "command: Invalid option: expected one of ...; id: ..." — one line, field names first. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.map(String).join(".") : "(payload)"}: ${issue.message}`)
    .join("; ");
}

/** MQTT topic filter matching ('+' one level, '#' the rest); used for `MqttPublisher.subscribe`. */
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
