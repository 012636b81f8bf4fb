/** The `mqtt` section of the runtime config: the broker, the device's topics, and how angles travel. */
import { z } from "zod";
import { embeddedBrokerConfigSchema, openBrokerProblem } from "./embeddedBroker.js";
import { deviceIdSchema, topicPrefixSchema } from "./topics.js";

export const mqttConfigSchema = z
  .object({
    /** mqtt://, mqtts://, ws://...; absent => start the embedded broker and use it. */
    url: z.string().url().optional(),
    prefix: topicPrefixSchema.default("gait"),
    deviceId: deviceIdSchema.default("gait-edge"),
    /**
     * Defaults to `<prefix>-<deviceId>` with '/' replaced, so broker logs name the device.
     * Not a secret and not an identity: the shipped mosquitto config replaces it with the
     * username (use_username_as_clientid), so nobody can claim another device's id.
     */
    clientId: z.string().min(1).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    caFile: z.string().optional(),
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    /** 4 (MQTT 3.1.1) works with every broker, aedes included; 5 for brokers that speak it. */
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
    anglesQos: z.union([z.literal(0), z.literal(1)]).default(0),
    /** With anglesQos 1: how many unacknowledged angles messages to hold before dropping new ones. */
    anglesQueueLimit: z.number().int().positive().default(2000),
    /**
     * Reconnect backoff: doubles from min to max, each wait drawn from [half, all]
     * of it (jitter, so a fleet does not reconnect in lockstep after a broker
     * restart). Max is a few seconds: live angles come back at most that long
     * after the broker does (issue #13: 30 s cost 28 s of angles).
     */
    reconnectMinMs: z.number().int().positive().default(500),
    reconnectMaxMs: z.number().int().positive().default(3000),
    /**
     * MQTT keepalive. The client pings after this long without hearing from the
     * broker and drops the link 1.5 x this after the last packet it received,
     * so 3 s notices a dead link within 4.5 s (the broker notices us within the
     * same). 0 disables it: a stalled link then goes unnoticed until TCP gives up.
     */
    keepaliveS: z.number().int().min(0).default(3),
    connectTimeoutMs: z.number().int().positive().default(10_000),
    /**
     * QoS 0 live messages (the angles) are written only once the broker has
     * answered a probe (a PINGREQ, one round trip): a frozen broker's socket
     * would otherwise swallow them and deliver them seconds late (issue #13).
     * A message the broker has not answered for within this budget is dropped
     * and counted (liveGate.ts). 0 writes at once, unprobed.
     */
    liveProbeTimeoutMs: z.number().int().min(0).default(500),
    /** Used only when `url` is absent: 127.0.0.1 unless `users` are configured (embeddedBroker.ts). */
    embedded: embeddedBrokerConfigSchema.prefault({}),
  })
  .superRefine((c, ctx) => {
    // An open broker on the LAN is how issue #13's anonymous peer installed an OTA bundle.
    const problem = c.url === undefined ? openBrokerProblem(c.embedded) : undefined;
    if (problem) ctx.addIssue({ code: "custom", message: problem, path: ["embedded", "host"] });
    const credentials = credentialsProblem(c);
    if (credentials) ctx.addIssue({ code: "custom", message: credentials.message, path: [credentials.field] });
  })
  .refine((c) => c.reconnectMaxMs >= c.reconnectMinMs, {
    message: "reconnectMaxMs must be >= reconnectMinMs",
    path: ["reconnectMaxMs"],
  })
  .refine((c) => (c.certFile === undefined) === (c.keyFile === undefined), {
    message: "certFile and keyFile go together (client certificate authentication)",
    path: ["keyFile"],
  });
export type MqttConfig = z.infer<typeof mqttConfigSchema>;


/**
 * A username with an empty password is almost always a template whose secret
 * did not come through (`"mqtt://pi-01:${GAIT_MQTT_PASSWORD}@..."` with the
 * variable unset): the broker would refuse every attempt, forever, while the
 * service looks up. Better to stop at start and say so. A client certificate
 * authenticates without a password. Never puts a password in the message.
 */
function credentialsProblem(c: {
  url?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  certFile?: string | undefined;
}): { field: "url" | "password"; message: string } | undefined {
  if (c.url === undefined) return undefined; // the embedded broker: the runtime logs in by itself
  let url: URL;
  try {
    url = new URL(c.url);
  } catch {
    return undefined; // z.string().url() reports it
  }
  const urlUser = decodeURIComponent(url.username);
  const urlPassword = url.password;
  if (c.password === "") {
    return { field: "password", message: "is empty: set the password (is the variable that fills it unset?) or remove the username" };
  }
  if (c.password !== undefined || urlPassword !== "" || c.certFile !== undefined) return undefined;
  if (urlUser !== "") {
    return {
      field: "url",
      message: `has username ${JSON.stringify(urlUser)} but an empty password (is the variable that fills it unset?): give the password in the url or in mqtt.password`,
    };
  }
  if (c.username !== undefined) {
    return { field: "password", message: `mqtt.username ${JSON.stringify(c.username)} but no password: set mqtt.password (or certFile/keyFile for a client certificate)` };
  }
  return undefined;
}
