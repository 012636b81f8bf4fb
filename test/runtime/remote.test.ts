/**
 * `gait-edge calibrate` and friends: the client side of the command protocol.
 * A device (here a bare MQTT client) may answer anything; the client must turn
 * a malformed reply into a clear error, never crash the CLI.
 */
import { connectAsync, type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { EmbeddedBroker } from "../../edge/mqtt/embeddedBroker.js";
import { RemoteCommandError, sendCommand } from "../../edge/runtime/remote.js";

describe("sendCommand", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  /** A fake device on `gait/dev/command` that answers every request with `reply(request)`. */
  async function fakeDevice(reply: (request: { id: string }) => string): Promise<string> {
    const broker = new EmbeddedBroker({ host: "127.0.0.1", port: 0 }, { logger: memoryLogger() });
    const url = await broker.start();
    cleanups.push(() => broker.stop());
    const device: MqttClient = await connectAsync(url, { protocolVersion: 4 });
    cleanups.push(() => device.endAsync(true));
    device.on("message", (_topic, payload) => {
      const request = JSON.parse(payload.toString()) as { id: string };
      void device.publishAsync("gait/dev/command/response", reply(request)).catch(() => undefined);
    });
    await device.subscribeAsync("gait/dev/command", { qos: 1 });
    return url;
  }

  it("returns a valid reply", async () => {
    const url = await fakeDevice((r) => JSON.stringify({ id: r.id, status: "ok", data: { x: 1 } }));
    expect(await sendCommand(url, "gait", "dev", { command: "get_model" })).toEqual({ id: expect.any(String), status: "ok", data: { x: 1 } });
  });

  it("reports a non-JSON reply as a clear error instead of crashing", async () => {
    const url = await fakeDevice(() => "<html>not json</html>");
    const failed = sendCommand(url, "gait", "dev", { command: "get_model" }, 2000);
    await expect(failed).rejects.toThrow(/malformed reply on gait\/dev\/command\/response: invalid JSON/);
    await expect(failed).rejects.toBeInstanceOf(RemoteCommandError);
  });

  it("reports a reply that is JSON but not a command reply as a clear error", async () => {
    const url = await fakeDevice((r) => JSON.stringify({ id: r.id, status: "maybe" }));
    await expect(sendCommand(url, "gait", "dev", { command: "get_model" }, 2000)).rejects.toThrow(/malformed reply .*status/);
  });
});
