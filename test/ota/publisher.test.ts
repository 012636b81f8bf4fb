/**
 * The operator's side (`ota-publish`): whatever the broker hands it, it neither
 * crashes nor waits for ever (issue #13, defect 3).
 */
import net from "node:net";
import path from "node:path";
import { connectAsync } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { runOtaPublish } from "../../edge/ota/cli.js";
import { otaTopicsFor } from "../../edge/ota/messages.js";
import { OtaPublisher } from "../../edge/ota/publisher.js";
import { startMosquitto, type RunningMosquitto } from "../helpers/mosquitto.js";
import { makeBundle, makeKeys, outcomeOf, tempDir } from "./helpers.js";

let broker: RunningMosquitto;
let bundle: string;

beforeAll(async () => {
  broker = await startMosquitto();
  const work = await tempDir("publisher");
  bundle = await makeBundle(work, "b101", await makeKeys(path.join(work, "keys")));
});
afterAll(async () => {
  await broker?.stop();
});

/** A TCP server that accepts connections and never says a word (no CONNACK). */
async function silentServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("OtaPublisher", () => {
  it("ignores state messages that are null, not JSON or not a state, and still sees the device's outcome", async () => {
    const device = "pub-junk";
    const topics = otaTopicsFor("gait", device);
    const other = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    await other.publishAsync(topics.state, "null", { qos: 1, retain: true });
    const logger = memoryLogger("ota-publish");
    const pub = new OtaPublisher({ bundleDir: bundle, brokerUrl: broker.url, target: { deviceId: device } }, { logger });
    await pub.start();
    for (const junk of ["null", "{not json", '{"state": 5}', "[]", '"idle"']) await other.publishAsync(topics.state, junk, { qos: 1 });
    const failed = { state: "failed", progress: 0, installed_version: "1.0.0", offered_version: "1.0.1", reason: "refused", code: "downgrade", transfer_id: pub.transferId, since: 1 };
    await other.publishAsync(topics.state, JSON.stringify(failed), { qos: 1 });
    const outcome = await outcomeOf(pub);
    await pub.stop();
    await other.endAsync();
    expect(outcome).toMatchObject({ deviceId: device, ok: false, state: { code: "downgrade" } });
    expect(logger.lines.filter((l) => l.includes("invalid OTA state")).length).toBeGreaterThanOrEqual(5);
  });
});

describe("OtaPublisher.command", () => {
  it("resolves with the device's reply, validated; null, non-JSON and malformed replies are ignored", async () => {
    const device = "pub-cmd";
    const topics = otaTopicsFor("gait", device);
    const fakeDevice = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    await fakeDevice.subscribeAsync(topics.command, { qos: 1 });
    fakeDevice.on("message", (_t, payload) => {
      const { id } = JSON.parse(payload.toString()) as { id: string };
      void (async () => {
        for (const junk of ["null", "{x", JSON.stringify({ id, status: "maybe" }), JSON.stringify({ id: "someone-else", status: "ok" })]) {
          await fakeDevice.publishAsync(topics.commandResponse, junk, { qos: 1 });
        }
        await fakeDevice.publishAsync(topics.commandResponse, JSON.stringify({ id, status: "error", error: "nothing to accept: no valid offer is available" }), { qos: 1 });
      })().catch((err: Error) => console.error(err));
    });
    const logger = memoryLogger("ota-publish");
    const pub = new OtaPublisher({ bundleDir: bundle, brokerUrl: broker.url, target: { deviceId: device } }, { logger });
    await pub.start();
    const reply = await pub.command(device, "accept");
    await pub.stop();
    await fakeDevice.endAsync();
    expect(reply).toMatchObject({ status: "error", error: "nothing to accept: no valid offer is available" });
    expect(pub.stats().badReplies).toBe(3);
  });
});

describe("ota-publish --timeout bounds every wait", () => {
  // A hang shows as this test's own timeout.
  it("against a server that accepts the connection and never answers, fails within --timeout saying it was connecting", async () => {
    const server = await silentServer();
    try {
      await expect(
        runOtaPublish({
          bundle,
          broker: server.url,
          prefix: "gait",
          device: "pi-7",
          password: "",
          timeoutS: 1,
          logger: memoryLogger(),
          interrupted: new Promise<void>(() => undefined),
        }),
      ).rejects.toThrow(/connecting to the broker .* within 1 s/);
    } finally {
      await server.close();
    }
  }, 15_000);

  it("a device that never answers: the message says what it was waiting for", async () => {
    await expect(
      runOtaPublish({ bundle, broker: broker.url, prefix: "gait", device: "nobody-home", timeoutS: 1, logger: memoryLogger(), interrupted: new Promise<void>(() => undefined) }),
    ).rejects.toThrow(/no chunk request and no state from nobody-home .*within 1 s/);
  }, 15_000);

  it("a fleet is served until --timeout and then ends normally, the offer withdrawn", async () => {
    const outcomes = await runOtaPublish({ bundle, broker: broker.url, prefix: "gait", fleet: "empty-lab", timeoutS: 1, logger: memoryLogger(), interrupted: new Promise<void>(() => undefined) });
    expect(outcomes).toEqual([]);
    const check = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const retained: Buffer[] = [];
    check.on("message", (_t, p) => retained.push(p));
    await check.subscribeAsync("gait/fleet/empty-lab/ota/offer", { qos: 1 });
    // MQTT keeps one connection's messages in order: once our own sentinel is back, a retained offer would have come first.
    await check.subscribeAsync("sentinel/empty-lab", { qos: 1 });
    const sentinel = new Promise<void>((resolve) => check.on("message", (t) => t === "sentinel/empty-lab" && resolve()));
    await check.publishAsync("sentinel/empty-lab", "x", { qos: 1 });
    await sentinel;
    await check.endAsync();
    expect(retained.map(String)).toEqual(["x"]);
  }, 15_000);

  it("a password without a user name is refused before connecting (MQTT sends a password only with a user name)", async () => {
    await expect(
      runOtaPublish({ bundle, broker: broker.url, prefix: "gait", device: "pi-7", password: "secret", timeoutS: 1, logger: memoryLogger(), interrupted: new Promise<void>(() => undefined) }),
    ).rejects.toThrow(/GAIT_MQTT_PASSWORD is set but --username is not/);
  });
});
