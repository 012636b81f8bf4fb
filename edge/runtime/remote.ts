/**
 * Send one command to a running device over MQTT and wait for its reply (the
 * client side of edge/commands/types.ts, used by `gait-edge calibrate`).
 *
 * The reply topic is shared by everyone talking to the device, and anyone on
 * the broker can publish to it, so a reply is validated before it is believed:
 * a malformed one becomes a clear error, never a crash of the CLI.
 */
import { randomUUID } from "node:crypto";
import { connectAsync } from "mqtt";
import { commandReplySchema, type CommandReply, type CommandRequest } from "../commands/types.js";
import { describeZodError, topicsFor } from "../mqtt/topics.js";

/** The device did not answer, or answered with something that is not a command reply: the CLI prints the message, no stack. */
export class RemoteCommandError extends Error {
  override name = "RemoteCommandError";
}

export async function sendCommand(
  brokerUrl: string,
  prefix: string,
  deviceId: string,
  request: Omit<CommandRequest, "id">,
  timeoutMs = 10_000,
  auth: { username?: string; password?: string } = {},
): Promise<CommandReply> {
  const topics = topicsFor(prefix, deviceId);
  const replyTopic = topics["command/response"];
  const id = randomUUID();
  const client = await connectAsync(brokerUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...auth });
  try {
    const reply = new Promise<CommandReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RemoteCommandError(`no reply from ${deviceId} within ${timeoutMs} ms on ${replyTopic}`)), timeoutMs);
      const fail = (why: string): void => {
        clearTimeout(timer);
        reject(new RemoteCommandError(`malformed reply on ${replyTopic}: ${why}`));
      };
      client.on("message", (_t, payload) => {
        const outcome = readReply(payload, id);
        if (outcome.kind === "other") return; // another caller's reply
        if (outcome.kind === "malformed") return fail(outcome.why);
        clearTimeout(timer);
        resolve(outcome.reply);
      });
    });
    await client.subscribeAsync(replyTopic, { qos: 1 });
    await client.publishAsync(topics.command, JSON.stringify({ ...request, id }), { qos: 1 });
    return await reply;
  } finally {
    await client.endAsync();
  }
}

type ReadReply = { kind: "ours"; reply: CommandReply } | { kind: "other" } | { kind: "malformed"; why: string };

/** Pure: one payload from the reply topic, judged against the id we sent. */
export function readReply(payload: Buffer | string, id: string): ReadReply {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch (err) {
    return { kind: "malformed", why: `invalid JSON: ${(err as Error).message}` };
  }
  const rawId = typeof json === "object" && json !== null ? (json as { id?: unknown }).id : undefined;
  // A well-formed id that is not ours is someone else's conversation, whatever the rest holds.
  if ((typeof rawId === "string" || typeof rawId === "number") && rawId !== id) return { kind: "other" };
  const parsed = commandReplySchema.safeParse(json);
  if (!parsed.success) return { kind: "malformed", why: describeZodError(parsed.error) };
  return parsed.data.id === id ? { kind: "ours", reply: parsed.data } : { kind: "other" };
}
