/**
 * One behaviour suite for the two MQTT layers (MqttConnection + DevicePublisher
 * + CommandServer, wired as the runtime wires them), run against every broker we support
 * (MQTT.js style abstract test): the embedded aedes broker and a real mosquitto.
 * A harness starts a broker, optionally on a given port (to bring a "crashed"
 * broker back where the publisher expects it), and kills it abruptly.
 */
import { afterEach, describe, expect, it } from "vitest";
import { connect, connectAsync, type MqttClient } from "mqtt";
import { memoryLogger } from "../../edge/log.js";
import { z } from "zod";
import { command } from "../../edge/commands/types.js";
import type { Logger } from "../../edge/log.js";
import { CommandServer } from "../../edge/mqtt/commandServer.js";
import { mqttConfigSchema, type MqttConfig } from "../../edge/mqtt/config.js";
import { MqttConnection } from "../../edge/mqtt/connection.js";
import { DevicePublisher } from "../../edge/mqtt/devicePublisher.js";
import type { AnglesMessage, DeviceState } from "../../edge/mqtt/topics.js";
import { freePort } from "../helpers/mosquitto.js";
import { waitFor } from "../helpers/waitFor.js";
import { TcpProxy } from "./tcpProxy.js";

export { waitFor };

export interface RunningBroker {
  url: string;
  port: number;
  /** Abrupt, like a crash. */
  kill(): Promise<void>;
}

export interface BrokerHarness {
  name: string;
  start(port?: number): Promise<RunningBroker>;
}

export interface Received {
  topic: string;
  json: unknown;
  retain: boolean;
}

/** A test client that records what arrives on the topics it subscribes to. */
export async function subscriber(url: string, topics: string[]): Promise<{ messages: Received[]; client: MqttClient; end(): Promise<void> }> {
  const client = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `test-sub-${Math.random().toString(16).slice(2, 10)}` });
  const messages: Received[] = [];
  client.on("message", (topic, payload, packet) => {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString());
    } catch {
      json = payload.toString();
    }
    messages.push({ topic, json, retain: packet.retain });
  });
  await client.subscribeAsync(topics, { qos: 1 });
  return { messages, client, end: () => client.endAsync(true) };
}


let deviceCounter = 0;
export function testConfig(url: string | undefined, overrides: Partial<MqttConfig> = {}): MqttConfig {
  return mqttConfigSchema.parse({
    url,
    deviceId: `dev-${process.pid}-${++deviceCounter}`,
    reconnectMinMs: 50,
    reconnectMaxMs: 400,
    keepaliveS: 5,
    connectTimeoutMs: 2000,
    ...overrides,
  });
}

/**
 * A connection (not started) whose mqtt.js clients are kept, one per connect, so a
 * test can look at the socket under it (`clients[i].stream`).
 */
export function connectionWithClients(config: MqttConfig): { conn: MqttConnection; clients: MqttClient[] } {
  const clients: MqttClient[] = [];
  const conn = new MqttConnection(config, {
    logger: memoryLogger(),
    connect: (url, options) => {
      const c = connect(url, options);
      clients.push(c);
      return c;
    },
  });
  return { conn, clients };
}

export function anglesMessage(seq: number): AnglesMessage {
  return {
    seq,
    model: { name: "gait-lstm", version: "1.0.0" },
    joints: ["hip_flexion_r", "knee_angle_r"],
    units: "deg",
    t: [1_700_000_000_000 + seq * 250, 1_700_000_000_010 + seq * 250],
    angles: [
      [10.5, -3.25],
      [11, -3.5],
    ],
    sensorTimeUs: [seq * 250_000, seq * 250_000 + 10_000],
  };
}

/** The device's MQTT side as the runtime builds it: the connection, the typed publisher, the command server. */
export class DeviceRig {
  readonly connection: MqttConnection;
  readonly device: DevicePublisher;
  readonly commands: CommandServer;
  constructor(config: MqttConfig, logger: Logger) {
    this.connection = new MqttConnection(config, { logger });
    this.device = new DevicePublisher(this.connection, config);
    this.commands = new CommandServer({ logger, connection: this.connection, base: `${config.prefix}/${config.deviceId}` });
  }
  get topics(): MqttConnection["topics"] {
    return this.connection.topics;
  }
  get connected(): boolean {
    return this.connection.connected;
  }
  start(): Promise<void> {
    return this.connection.start();
  }
  async stop(): Promise<void> {
    await this.commands.stop();
    await this.connection.stop();
  }
  whenConnected(): Promise<void> {
    return this.connection.whenConnected();
  }
  stats(): ReturnType<MqttConnection["stats"]> {
    return this.connection.stats();
  }
  publishAngles(message: AnglesMessage): void {
    this.device.publish("angles", message);
  }
  setStatus(state: DeviceState, reason: string): Promise<void> {
    return this.device.publishRetained("status", { state, reason, since: Date.now() });
  }
}

export function logMessages(logger: { lines: string[] }): string[] {
  return logger.lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
}

export function describeBrokerSuite(harness: BrokerHarness): void {
  describe(`the MQTT layers against ${harness.name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    const later = (fn: () => Promise<void>): void => {
      cleanups.unshift(fn);
    };
    afterEach(async () => {
      for (const fn of cleanups.splice(0)) await fn().catch(() => undefined);
    });

    async function broker(port?: number): Promise<RunningBroker> {
      const b = await harness.start(port);
      later(() => b.kill());
      return b;
    }
    async function publisher(url: string, overrides: Partial<MqttConfig> = {}) {
      const logger = memoryLogger("mqtt");
      const pub = new DeviceRig(testConfig(url, overrides), logger);
      later(() => pub.stop());
      await pub.start();
      return { pub, logger };
    }
    async function sub(url: string, topics: string[]) {
      const s = await subscriber(url, topics);
      later(() => s.end());
      return s;
    }
    /** Broker + proxy + publisher behind the proxy + subscriber on the broker itself. */
    async function behindProxy(overrides: Partial<MqttConfig> = {}) {
      const b = await broker();
      const proxy = new TcpProxy(b.port);
      await proxy.start();
      later(() => proxy.stop());
      const { pub, logger } = await publisher(proxy.url, overrides);
      expect(pub.connected).toBe(true);
      return { b, proxy, pub, logger };
    }

    it("publishes angles with the payload intact", async () => {
      const b = await broker();
      const { pub } = await publisher(b.url);
      const s = await sub(b.url, [pub.topics.angles]);
      pub.publishAngles(anglesMessage(7));
      const got = await waitFor("angles", () => s.messages.find((m) => m.topic === pub.topics.angles));
      expect(got.json).toEqual(anglesMessage(7));
      expect(got.retain).toBe(false);
      expect(pub.stats()).toMatchObject({ sent: 1, dropped: 0 });
    });

    it("keeps status online retained, and the broker delivers the last will (offline) when the link dies", async () => {
      const { b, proxy, pub } = await behindProxy();
      await waitFor("connected", () => pub.connected);
      // Subscribing after the publish: only a retained message can arrive.
      const s = await sub(b.url, [pub.topics.status]);
      const online = await waitFor("retained status", () => s.messages[0]);
      expect(online.retain).toBe(true);
      expect(online.json).toMatchObject({ state: "online" });

      await proxy.cut(); // no DISCONNECT reaches the broker: like a power loss
      const will = await waitFor("last will", () => s.messages.find((m) => (m.json as { state?: string }).state === "offline"));
      expect(will.json).toMatchObject({ state: "offline", reason: "connection lost" });
      expect(typeof (will.json as { since: unknown }).since).toBe("number");

      // Back online: the publisher overwrites the will's retained "offline".
      await proxy.start();
      await pub.whenConnected();
      await waitFor("online again", () => s.messages.length >= 3 && s.messages.at(-1));
      expect(s.messages.at(-1)?.json).toMatchObject({ state: "online" });
    });

    it("publishes model info and degraded status retained", async () => {
      const b = await broker();
      const { pub } = await publisher(b.url);
      const info = { name: "gait-lstm", version: "1.2.0", joints: ["knee_angle_r"], units: "deg" as const, sha256: "ab" };
      await pub.device.publishRetained("model", info);
      await pub.setStatus("degraded", "thigh IMU silent");
      const s = await sub(b.url, [pub.topics.model, pub.topics.status]);
      await waitFor("two retained messages", () => s.messages.length >= 2);
      const model = s.messages.find((m) => m.topic === pub.topics.model);
      expect(model).toMatchObject({ retain: true, json: info });
      const status = s.messages.find((m) => m.topic === pub.topics.status);
      expect(status).toMatchObject({ retain: true, json: { state: "degraded", reason: "thigh IMU silent" } });
    });

    it("answers a command with an ok reply carrying the command's data, and an error when it throws", async () => {
      const b = await broker();
      const { pub } = await publisher(b.url);
      pub.commands.register("command", {
        calibrate: command({ summary: "", args: z.object({ seconds: z.number() }).strict(), run: async (args) => ({ calibrated: true, args }) }),
        heading_reset: command({
          summary: "",
          args: z.object({}).strict(),
          run: async () => {
            throw new Error("no magnetometer on thigh IMU");
          },
        }),
      });
      const s = await sub(b.url, [pub.topics["command/response"]]);
      await s.client.publishAsync(pub.topics.command, JSON.stringify({ id: "42", command: "calibrate", args: { seconds: 3 } }));
      await waitFor("ok reply", () => s.messages[0]);
      expect(s.messages[0]?.json).toEqual({ id: "42", status: "ok", data: { calibrated: true, args: { seconds: 3 } } });

      await s.client.publishAsync(pub.topics.command, JSON.stringify({ id: 43, command: "heading_reset" }));
      await waitFor("error reply", () => s.messages[1]);
      expect(s.messages[1]?.json).toEqual({ id: 43, status: "error", error: "no magnetometer on thigh IMU" });
    });

    it("replies with an error naming the problem to malformed commands, and keeps serving", async () => {
      const b = await broker();
      const { pub } = await publisher(b.url);
      pub.commands.register("command", {
        get_status: command({ summary: "", args: z.object({}).strict(), run: async () => "pong" }),
        calibrate: command({ summary: "", args: z.object({}).strict(), run: async () => "still" }),
      });
      const s = await sub(b.url, [pub.topics["command/response"]]);
      await s.client.publishAsync(pub.topics.command, "{not json");
      await s.client.publishAsync(pub.topics.command, JSON.stringify({ id: 7, command: "self_destruct" }));
      await s.client.publishAsync(pub.topics.command, JSON.stringify({ command: "get_status" }));
      await waitFor("three replies", () => s.messages.length >= 3);
      const [badJson, unknown, ok] = s.messages.map((m) => m.json as { id: unknown; status: string; error?: string });
      expect(badJson).toMatchObject({ id: null, status: "error" });
      expect(badJson?.error).toMatch(/^invalid JSON: /);
      expect(unknown).toMatchObject({ id: 7, status: "error" });
      expect(unknown?.error).toBe('unknown command "self_destruct"; valid commands: get_status, calibrate');
      expect(ok).toEqual({ id: null, status: "ok", data: "pong" });
      expect(pub.commands.stats().command).toMatchObject({ requests: 3, ok: 1, errors: 2 });
    });

    it("drops QoS 0 angles while disconnected (counted) and does not deliver them after reconnecting", async () => {
      const { b, proxy, pub } = await behindProxy();
      const s = await sub(b.url, [pub.topics.angles]);
      pub.publishAngles(anglesMessage(1));
      await waitFor("seq 1", () => s.messages.length === 1);

      await proxy.cut();
      await waitFor("publisher to notice the outage", () => !pub.connected);
      for (const seq of [2, 3, 4]) pub.publishAngles(anglesMessage(seq));
      expect(pub.stats().dropped).toBe(3);

      await proxy.start();
      await pub.whenConnected();
      pub.publishAngles(anglesMessage(5));
      await waitFor("seq 5", () => s.messages.some((m) => (m.json as AnglesMessage).seq === 5));
      expect(s.messages.map((m) => (m.json as AnglesMessage).seq)).toEqual([1, 5]);
      expect(pub.stats()).toMatchObject({ sent: 2, dropped: 3, reconnects: 1 });
    });

    it("queues angles while disconnected with anglesQos 1 and delivers them after reconnecting", async () => {
      const { b, proxy, pub } = await behindProxy({ anglesQos: 1 });
      const s = await sub(b.url, [pub.topics.angles]);
      pub.publishAngles(anglesMessage(1));
      await waitFor("seq 1", () => s.messages.length === 1);

      await proxy.cut();
      await waitFor("publisher to notice the outage", () => !pub.connected);
      for (const seq of [2, 3, 4]) pub.publishAngles(anglesMessage(seq));
      expect(pub.stats().dropped).toBe(0);

      await proxy.start();
      await pub.whenConnected();
      pub.publishAngles(anglesMessage(5));
      // At-least-once: seq 1 may arrive twice if its PUBACK was lost in the cut.
      const seqs = () => [...new Set(s.messages.map((m) => (m.json as AnglesMessage).seq))].sort();
      await waitFor("all five", () => seqs().length >= 5);
      expect(seqs()).toEqual([1, 2, 3, 4, 5]);
    });

    it("starts while the broker is down, logs why, and connects by itself once the broker is up", async () => {
      const port = await freePort();
      const { pub, logger } = await publisher(`mqtt://127.0.0.1:${port}`);
      expect(pub.connected).toBe(false);
      const msgs = logMessages(logger);
      expect(msgs.some((m) => m.startsWith(`broker unreachable at mqtt://127.0.0.1:${port}: ECONNREFUSED, retrying in `))).toBe(true);
      pub.publishAngles(anglesMessage(1));
      expect(pub.stats().dropped).toBe(1);

      const b = await broker(port);
      await pub.whenConnected();
      const s = await sub(b.url, [pub.topics.status]);
      await waitFor("retained online", () => s.messages[0]);
      expect(s.messages[0]?.json).toMatchObject({ state: "online" });
    });

    it("reconnects and re-publishes its retained topics when the broker crashes and comes back", async () => {
      const b = await broker();
      const { pub, logger } = await publisher(b.url);
      await pub.device.publishRetained("model", { name: "gait-lstm", version: "1.0.0", joints: ["knee_angle_r"], units: "deg" });
      await b.kill();
      await waitFor("publisher to notice", () => !pub.connected);

      const restarted = await broker(b.port); // in-memory retained state is gone
      await pub.whenConnected();
      expect(pub.stats().reconnects).toBe(1);
      expect(logMessages(logger).some((m) => m.startsWith("lost connection to MQTT broker at"))).toBe(true);
      const s = await sub(restarted.url, [pub.topics.status, pub.topics.model]);
      await waitFor("status and model re-published", () => s.messages.length >= 2);
      expect(s.messages.map((m) => m.topic).sort()).toEqual([pub.topics.model, pub.topics.status].sort());
    });

    it("stop() leaves a retained offline status and disconnects cleanly", async () => {
      const b = await broker();
      const { pub } = await publisher(b.url);
      await pub.stop();
      expect(pub.connected).toBe(false);
      const s = await sub(b.url, [pub.topics.status]);
      await waitFor("retained offline", () => s.messages[0]);
      expect(s.messages[0]).toMatchObject({ retain: true, json: { state: "offline", reason: "stopped" } });
    });
  });
}
