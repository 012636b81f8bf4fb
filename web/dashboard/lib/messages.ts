/**
 * What the dashboard reads from and sends to one device, and the checks on it.
 * Pure: no DOM, no MQTT client. Everything that arrives from the broker is
 * validated with zod first, because anyone on the broker can publish anything
 * and a malformed message must show up as a counted problem, not a blank page.
 *
 * The device's side of these payloads: edge/publish/topics.ts (angles, status,
 * model), edge/ota/messages.ts (ota/state), edge/commands/types.ts (commands).
 */
// zod/mini, not "zod": the same checks at 12 KiB instead of 450 KiB in the page's bundle.
import * as z from "zod/mini";
import type { CommandReply as DeviceCommandReply } from "../../../edge/commands/types.js";
import type { StrideMessage } from "../../../edge/gait/types.js";
import type { OtaStateMessage, OtaStateName } from "../../../edge/ota/messages.js";

/** The five joints the plots show, in plot order. */
export const JOINTS = ["hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_flexion_r", "ankle_dorsiflexion_r"] as const;
export type Joint = (typeof JOINTS)[number];

/** Topic suffix of the per-stride gait metrics (edge/modules/gait.ts publishes them once a foot is calibrated). */
export const GAIT_METRICS_SUFFIX = "gait/stride";

export interface DashboardTopics {
  readonly angles: string;
  readonly status: string;
  readonly model: string;
  readonly otaState: string;
  readonly gaitMetrics: string;
  readonly command: string;
  readonly commandResponse: string;
}

export function dashboardTopics(prefix: string, deviceId: string): DashboardTopics {
  const base = `${prefix}/${deviceId}`;
  return {
    angles: `${base}/angles`,
    status: `${base}/status`,
    model: `${base}/model`,
    otaState: `${base}/ota/state`,
    gaitMetrics: `${base}/${GAIT_METRICS_SUFFIX}`,
    command: `${base}/command`,
    commandResponse: `${base}/command/response`,
  };
}

// Schemas accept extra fields (zod's default strips them): a newer device may
// add some, and the dashboard should keep working. z.number() refuses NaN and Infinity.

export const anglesSchema = z
  .object({
    seq: z.int(),
    model: z.object({ name: z.string(), version: z.string() }),
    joints: z.array(z.string()),
    units: z.literal("deg"),
    t: z.array(z.number()),
    /** Non-finite values cannot travel in JSON; null stands for a missing value. */
    angles: z.array(z.array(z.nullable(z.number()))),
    wearer: z.optional(z.string()),
  })
  .check(
    z.refine((m) => m.t.length === m.angles.length, { message: "t and angles differ in length", path: ["angles"] }),
    z.refine((m) => m.angles.every((row) => row.length === m.joints.length), { message: "a row of angles does not match joints", path: ["angles"] }),
  );
export type AnglesPayload = z.infer<typeof anglesSchema>;

export const DEVICE_STATES = ["online", "offline", "degraded"] as const;
export const statusSchema = z.object({
  state: z.enum(DEVICE_STATES),
  reason: z.optional(z.string()),
  since: z.number(),
});
export type StatusPayload = z.infer<typeof statusSchema>;

export const modelSchema = z.object({
  name: z.string(),
  version: z.string(),
  joints: z.array(z.string()),
  sampleRateHz: z.optional(z.number()),
  windowSamples: z.optional(z.int()),
  strideSamples: z.optional(z.int()),
  sha256: z.optional(z.string()),
});
export type ModelPayload = z.infer<typeof modelSchema>;

/** Listed here (not imported) because edge/ota/messages.ts pulls in node:crypto; the type below keeps the two in step. */
const OTA_STATES = ["idle", "available", "downloading", "verifying", "installing", "rolled_back", "failed"] as const satisfies readonly OtaStateName[];
// Fails to compile when the device gains a state this list lacks.
type MissingOtaState = Exclude<OtaStateName, (typeof OTA_STATES)[number]>;
const otaStatesComplete: [MissingOtaState] extends [never] ? true : false = true;
void otaStatesComplete;

export const otaStateSchema = z.object({
  state: z.enum(OTA_STATES),
  progress: z.number().check(z.minimum(0), z.maximum(1)),
  installed_version: z.string(),
  offered_version: z.nullable(z.string()),
  reason: z.nullable(z.string()),
  /** An OtaReasonCode; one this dashboard does not know yet is still shown, as text. */
  code: z.nullable(z.string()),
  transfer_id: z.nullable(z.string()),
  since: z.number(),
});
export type OtaStatePayload = z.infer<typeof otaStateSchema>;
// What the device publishes must pass as this payload (compile-time check).
const otaCompatible: (m: OtaStateMessage) => OtaStatePayload = (m) => m;
void otaCompatible;

/** One stride's metrics, as the device publishes them on `gait/stride` (edge/gait/types.ts StrideMessage). */
export const gaitMetricsSchema = z.object({
  wearer: z.string(),
  placement: z.string(),
  startUs: z.number(),
  endUs: z.number(),
  toeOffUs: z.optional(z.number()),
  strideTimeS: z.number(),
  cadenceSpm: z.number(),
  stancePct: z.optional(z.number()),
  romDeg: z.optional(z.record(z.string(), z.number())),
});
export type GaitMetricsPayload = z.infer<typeof gaitMetricsSchema>;
// What the device publishes must pass as this payload (compile-time check).
const strideCompatible: (m: StrideMessage) => GaitMetricsPayload = (m) => m;
void strideCompatible;

/**
 * edge/commands/types.ts's commandReplySchema, in zod/mini (that one is
 * classic zod, 450 KiB in a bundle). test/dashboard/messages.test.ts holds the
 * two to the same verdicts.
 */
const commandIdSchema = z.union([z.string().check(z.maxLength(128)), z.number()]);
export const commandReplySchema = z.strictObject({
  id: z.nullable(commandIdSchema),
  status: z.enum(["ok", "error"]),
  error: z.optional(z.string()),
  data: z.optional(z.unknown()),
});
export type CommandReply = z.infer<typeof commandReplySchema>;
// Same type as the device's (compile-time check, both ways).
const replyTo: (r: DeviceCommandReply) => CommandReply = (r) => r;
const replyFrom: (r: CommandReply) => DeviceCommandReply = (r) => r;
void replyTo;
void replyFrom;

export type DeviceMessage =
  | { kind: "angles"; payload: AnglesPayload }
  | { kind: "status"; payload: StatusPayload }
  | { kind: "model"; payload: ModelPayload }
  | { kind: "otaState"; payload: OtaStatePayload }
  | { kind: "gaitMetrics"; payload: GaitMetricsPayload }
  | { kind: "commandReply"; payload: CommandReply };

export type ParsedMessage =
  | { ok: true; message: DeviceMessage }
  /** `kind` is undefined for a topic the dashboard does not read. */
  | { ok: false; kind: DeviceMessage["kind"] | undefined; error: string };

/**
 * Topic + raw payload -> a typed message, or the reason it was refused.
 * Never throws. An empty payload on a retained topic is the broker clearing it.
 */
export function parseDeviceMessage(topics: DashboardTopics, topic: string, payload: string): ParsedMessage {
  const route: Record<string, [DeviceMessage["kind"], z.ZodMiniType]> = {
    [topics.angles]: ["angles", anglesSchema],
    [topics.status]: ["status", statusSchema],
    [topics.model]: ["model", modelSchema],
    [topics.otaState]: ["otaState", otaStateSchema],
    [topics.gaitMetrics]: ["gaitMetrics", gaitMetricsSchema],
    [topics.commandResponse]: ["commandReply", commandReplySchema],
  };
  const entry = route[topic];
  if (!entry) return { ok: false, kind: undefined, error: `not a dashboard topic: ${topic}` };
  const [kind, schema] = entry;
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch (err) {
    return { ok: false, kind, error: `${topic}: invalid JSON (${(err as Error).message})` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(payload)"}: ${i.message}`).join("; ");
    return { ok: false, kind, error: `${topic}: ${why}` };
  }
  return { ok: true, message: { kind, payload: parsed.data } as DeviceMessage };
}

/**
 * Column index of each plotted joint in a message's `joints` (undefined when a
 * model does not output it), so the plots follow a model that orders or names
 * its outputs differently.
 */
export function jointColumns(joints: readonly string[]): (number | undefined)[] {
  return JOINTS.map((j) => {
    const i = joints.indexOf(j);
    return i < 0 ? undefined : i;
  });
}
