/** Send one command to a running device over MQTT and wait for its reply. */
import { randomUUID } from "node:crypto";
import { connectAsync } from "mqtt";
import { topicsFor, type CommandRequest, type CommandResponse } from "../publish/topics.js";

export async function sendCommand(
  brokerUrl: string,
  prefix: string,
  deviceId: string,
  request: Omit<CommandRequest, "id">,
  timeoutMs = 10_000,
  auth: { username?: string; password?: string } = {},
): Promise<CommandResponse> {
  const topics = topicsFor(prefix, deviceId);
  const id = randomUUID();
  const client = await connectAsync(brokerUrl, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...auth });
  try {
    const reply = new Promise<CommandResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply from ${deviceId} within ${timeoutMs} ms on ${topics["command/response"]}`)), timeoutMs);
      client.on("message", (_t, payload) => {
        const r = JSON.parse(payload.toString()) as CommandResponse;
        if (r.id === id) {
          clearTimeout(timer);
          resolve(r);
        }
      });
    });
    await client.subscribeAsync(topics["command/response"], { qos: 1 });
    await client.publishAsync(topics.command, JSON.stringify({ ...request, id }), { qos: 1 });
    return await reply;
  } finally {
    await client.endAsync();
  }
}
