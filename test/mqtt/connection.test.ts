import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { EmbeddedBroker } from "../../edge/mqtt/embeddedBroker.js";
import { MqttConnection } from "../../edge/mqtt/connection.js";
import { startMosquitto } from "../helpers/mosquitto.js";
import { describeBrokerSuite, logMessages, subscriber, testConfig, waitFor, type RunningBroker } from "./brokerSuite.js";

describeBrokerSuite({
  name: "the embedded aedes broker",
  async start(port = 0): Promise<RunningBroker> {
    const broker = new EmbeddedBroker({ host: "127.0.0.1", port }, { logger: memoryLogger("broker") });
    const url = await broker.start();
    return { url, port: broker.port, kill: () => broker.stop() };
  },
});

describeBrokerSuite({
  name: "mosquitto",
  async start(port?: number): Promise<RunningBroker> {
    const m = await startMosquitto(port === undefined ? {} : { port });
    return { url: m.url, port: m.port, kill: () => m.kill() };
  },
});

describe("MqttConnection setup", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  });

  it("starts the embedded broker when no url is configured, speaking MQTT 3.1.1", async () => {
    const logger = memoryLogger("mqtt");
    const config = testConfig(undefined, { protocolVersion: 5, embedded: { host: "127.0.0.1", port: 0 } });
    const pub = new MqttConnection(config, { logger });
    cleanups.push(() => pub.stop());
    await pub.start();
    expect(pub.connected).toBe(true);
    expect(pub.brokerUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(logMessages(logger)).toContain("embedded broker speaks MQTT 3.1.1 only: using protocolVersion 4");
    const s = await subscriber(pub.brokerUrl, [pub.topics.status]);
    cleanups.push(() => s.end());
    await waitFor("retained online", () => s.messages[0]);
    expect(s.messages[0]?.json).toMatchObject({ state: "online" });
  });

  it("fails start() naming the file when a TLS file is unreadable", async () => {
    const pub = new MqttConnection(testConfig("mqtts://127.0.0.1:1", { caFile: "/nonexistent/ca.pem" }), { logger: memoryLogger() });
    await expect(pub.start()).rejects.toThrow("mqtt.caFile: cannot read /nonexistent/ca.pem: ENOENT");
  });

  describe("with a password-protected mosquitto", () => {
    const password = "s3cret-Pa55";
    async function protectedBroker() {
      const dir = await mkdtemp(path.join(tmpdir(), "mqtt-auth-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const passwordFile = path.join(dir, "passwd");
      execFileSync("mosquitto_passwd", ["-b", "-c", passwordFile, "edge", password], { stdio: "ignore" });
      const m = await startMosquitto({ passwordFile });
      cleanups.push(() => m.stop());
      return m;
    }

    it("logs a clear error for refused credentials and keeps retrying without crashing", async () => {
      const m = await protectedBroker();
      const logger = memoryLogger("mqtt");
      const pub = new MqttConnection(testConfig(m.url, { username: "edge", password: "wrong-password" }), { logger });
      cleanups.push(() => pub.stop());
      await pub.start();
      expect(pub.connected).toBe(false);
      const refusals = () => logMessages(logger).filter((msg) => msg.includes(`MQTT broker at ${m.url} refused the connection: not authorized`));
      await waitFor("two refusals (it retried)", () => refusals().length >= 2);
      expect(refusals()[0]).toMatch(/check username\/password .* retrying in \d/);
      expect(logger.lines.join("\n")).not.toContain("wrong-password");
    });

    it("connects with the right credentials and never logs the password", async () => {
      const m = await protectedBroker();
      const logger = memoryLogger("mqtt");
      // Credentials in the URL as well: they must not leak through URL logging either.
      const url = m.url.replace("mqtt://", `mqtt://edge:${password}@`);
      const pub = new MqttConnection(testConfig(url, { username: "edge", password }), { logger });
      cleanups.push(() => pub.stop());
      await pub.start();
      expect(pub.connected).toBe(true);
      await pub.stop();
      expect(logger.lines.length).toBeGreaterThan(0);
      expect(logger.lines.join("\n")).not.toContain(password);
    });
  });
});
