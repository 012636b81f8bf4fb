/**
 * The one config file of the edge runtime. Type, defaults and validation all
 * come from this zod schema, assembled from each module's own schema; nothing
 * else reads settings.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { PLACEMENTS } from "../contract/manifest.js";
import { dashboardConfigSchema } from "../dashboard/config.js";
import { InferenceConfigSchema } from "../inference/onnxModel.js";
import { loadConfigSchema } from "../modules/loadWatch.js";
import { otaConfigSchema } from "../ota/config.js";
import { mqttConfigSchema } from "../mqtt/config.js";
import { isLoopbackHost } from "../mqtt/embeddedBroker.js";
import { recorderSchema } from "../recording/recorder.js";
import { sourceConfigSchema } from "../sources/index.js";
import { pipelineConfigSchema } from "./pipeline.js";
import { ConfigError } from "./configError.js";
import { findUnknownFields, formatUnknownField } from "./unknownFields.js";

export const DEFAULT_MODEL = "models/reduced-femur-calcn-lstm/manifest.json";

/** "femur_r" or "<wearer>:femur_r". */
const sensorTargetSchema = z
  .string()
  .regex(new RegExp(`^([A-Za-z0-9_.-]+:)?(${PLACEMENTS.join("|")})$`), {
    message: `expected a placement (${PLACEMENTS.join(", ")}) or "<wearer>:<placement>"`,
  });

export const runtimeConfigSchema = z.object({
  /** manifest.json of the model to run (or its folder). */
  model: z.string().default(DEFAULT_MODEL),
  sources: z.array(sourceConfigSchema).min(1, "at least one source is needed"),
  /**
   * Which sensor is which placement of which wearer, by the sensor id a source
   * reports. Ids that already are a placement ("femur_r") or "<wearer>:<placement>"
   * (the simulator's "w1:femur_r") need no entry.
   */
  sensors: z.record(z.string(), sensorTargetSchema).default({}),
  mqtt: mqttConfigSchema.prefault({}),
  /** Absent: no local recording. */
  recorder: recorderSchema.optional(),
  pipeline: pipelineConfigSchema.prefault({}),
  inference: InferenceConfigSchema.prefault({}),
  /** The live browser dashboard (docs/dashboard.md). Absent: off. */
  dashboard: dashboardConfigSchema.optional(),
  /** Over-the-air model updates (docs/ota.md). Absent: off, and the model is always `model`. */
  ota: otaConfigSchema.optional(),
  calibration: z
    .object({
      /** Seconds of standing still that a `calibrate` command averages. */
      durationS: z.number().positive().max(60).default(2),
      /** Gyro standard deviation (rad/s) above which the wearer was not still. */
      maxGyroStd: z.number().positive().default(0.05),
      /**
       * Where a successful calibration is saved (atomically) and loaded from at
       * start, so that a restart keeps the gyro bias. Absent: not kept.
       */
      file: z.string().min(1).optional(),
    })
    .prefault({}),
  /**
   * The automatic mounting (sensor -> segment) calibration from walking
   * (edge/modules/mounting.ts, docs/calibration.md "On the edge").
   */
  mounting: z
    .object({
      enabled: z.boolean().default(true),
      /** Seconds of walking per judgement: the first calibration, then every re-strap check. */
      walkS: z.number().min(10).max(120).default(20),
    })
    .prefault({}),
  /** The load watch (edge/modules/loadWatch.ts): skipped windows make the status `degraded`. */
  load: loadConfigSchema.prefault({}),
  /** Gait events and strides on `<base>/gait/{event,stride}` (needs the feet's mounting calibration). */
  gait: z.object({ enabled: z.boolean().default(true) }).prefault({}),
  log: z
    .object({
      level: z.enum(["debug", "info", "warn", "error"]).default("info"),
      format: z.enum(["json", "pretty"]).default("json"),
    })
    .prefault({}),
})
  .superRefine((c, ctx) => {
    // The dashboard bridges browsers into the embedded broker through its own port:
    // on the LAN that is the broker on the LAN, so it needs the broker's logins.
    const bridged = c.dashboard?.enabled && c.mqtt.url === undefined;
    if (bridged && !isLoopbackHost(c.dashboard!.host) && !c.mqtt.embedded.users?.length) {
      ctx.addIssue({
        code: "custom",
        path: ["dashboard", "host"],
        message:
          `the dashboard on ${c.dashboard!.host} would bridge the LAN into the embedded MQTT broker with no authentication; ` +
          `add mqtt.embedded.users (docs/deployment.md) or keep dashboard.host at 127.0.0.1`,
      });
    }
  });
export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;
export type RuntimeConfigInput = z.input<typeof runtimeConfigSchema>;

export { ConfigError } from "./configError.js";

/** Every problem, one per line, with its path: "sources.0.kind: ...". */
export function formatZodError(error: z.ZodError): string {
  return error.issues.map((i) => `  ${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`).join("\n");
}

/**
 * Unknown fields are errors too (a misspelled field would otherwise be
 * ignored and its default used): each is named by its full path with the
 * nearest known field as a did-you-mean (edge/runtime/unknownFields.ts).
 */
export function parseConfig(raw: unknown, origin = "config"): RuntimeConfig {
  const unknown = findUnknownFields(runtimeConfigSchema, raw).map(formatUnknownField);
  const r = runtimeConfigSchema.safeParse(raw);
  // A schema that is strict itself reports the same keys once more, without the hint.
  const issues = r.success ? [] : r.error.issues.filter((i) => i.code !== "unrecognized_keys");
  const lines = [...unknown, ...(issues.length ? [formatZodError(new z.ZodError(issues))] : [])];
  if (!r.success && lines.length === 0) lines.push(formatZodError(r.error));
  if (lines.length || !r.success) throw new ConfigError(`${origin} is invalid:\n${lines.join("\n")}`);
  return r.data;
}

export async function loadConfig(file: string): Promise<RuntimeConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the config file (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  return parseConfig(raw, file);
}
