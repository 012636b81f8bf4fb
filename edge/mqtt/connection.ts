/**
 * Publishes the device's angles, status and model info over MQTT and answers
 * commands. The broker may be down, restarted or refuse us at any time: the
 * publisher never throws for that, it logs clearly and keeps retrying with an
 * exponential backoff, and it re-publishes its retained topics on every
 * (re)connect (a restarted broker may have lost them, and our last will may
 * have overwritten "online" with "offline").
 *
 * Angles are live data: by default they go out at QoS 0 and are DROPPED (and
 * counted) while disconnected, because replaying stale angles after a reconnect
 * would mislead a live dashboard. `anglesQos: 1` queues them instead, for
 * recording sessions where completeness matters more than latency.
 */
import { readFile } from "node:fs/promises";
import { connect as mqttConnect } from "mqtt";
import type { IClientOptions, IClientPublishOptions, MqttClient } from "mqtt";
import { z } from "zod";
import type { Logger } from "../log.js";
import { EmbeddedBroker, embeddedBrokerConfigSchema } from "./embeddedBroker.js";
import {
  deviceIdSchema,
  parseCommand,
  topicPrefixSchema,
  topicMatches,
  topicsFor,
  type AnglesMessage,
  type CommandRequest,
  type CommandResponse,
  type DeviceState,
  type DeviceTopics,
  type ModelInfoMessage,
  type StatusMessage,
} from "./topics.js";

export const mqttConfigSchema = z
  .object({
    /** mqtt://, mqtts://, ws://...; absent => start the embedded broker and use it. */
    url: z.string().url().optional(),
    prefix: topicPrefixSchema.default("gait"),
    deviceId: deviceIdSchema.default("gait-edge"),
    /** Defaults to `<prefix>-<deviceId>` with '/' replaced, so broker logs and ACLs name the device. */
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
    reconnectMinMs: z.number().int().positive().default(1000),
    reconnectMaxMs: z.number().int().positive().default(30_000),
    keepaliveS: z.number().int().min(0).default(30),
    connectTimeoutMs: z.number().int().positive().default(10_000),
    /** Used only when `url` is absent. */
    embedded: embeddedBrokerConfigSchema.default({ host: "0.0.0.0", port: 1883 }),
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

export type CommandHandler = (command: CommandRequest) => Promise<unknown>;
/** A message on a topic subscribed with `subscribe()` (OTA and other add-on modules). */
export type MessageHandler = (topic: string, payload: Buffer, retained: boolean) => void;

export interface MqttPublisherDeps {
  logger: Logger;
  /** mqtt.js `connect`, injectable for tests. */
  connect?: (url: string, options: IClientOptions) => MqttClient;
  /** Builds the embedded broker when `url` is absent; injectable for tests. */
  createEmbeddedBroker?: (config: MqttConfig["embedded"], logger: Logger) => { start(): Promise<string>; stop(): Promise<void> };
}

export interface MqttPublisherStats {
  connected: boolean;
  /** Angles messages handed to the client (sent, or queued at QoS 1). */
  published: number;
  /** Angles messages dropped: disconnected at QoS 0, or QoS 1 queue full. */
  dropped: number;
  commands: number;
  commandErrors: number;
  /** Successful connections after the first. */
  reconnects: number;
}

/** CONNACK return codes of MQTT 3.1.1 (mqtt.js names only the v5 reason codes). */
const CONNACK_V4: Record<number, string> = {
  1: "unacceptable protocol version",
  2: "client identifier rejected",
  3: "server unavailable",
  4: "bad username or password",
  5: "not authorized",
};
const MAX_COMMAND_BYTES = 64 * 1024;
const STOP_TIMEOUT_MS = 2000;

export class MqttPublisher {
  readonly topics: DeviceTopics;
  private client: MqttClient | undefined;
  private embedded: { start(): Promise<string>; stop(): Promise<void> } | undefined;
  private url = "";
  private reconnectPeriodMs: number;
  private everConnected = false;
  private connectedSince = 0;
  /** Set by setStatus() or start(); re-published retained on every connect. */
  private status: StatusMessage | undefined;
  private modelInfo: ModelInfoMessage | undefined;
  private commandHandler: CommandHandler | undefined;
  private anglesInFlight = 0;
  private counters = { published: 0, dropped: 0, commands: 0, commandErrors: 0, reconnects: 0 };
  private connectWaiters: Array<() => void> = [];
  /** Extra subscriptions (`subscribe()`): re-subscribed on every connect, like the command topic. */
  private readonly subscriptions = new Map<string, { qos: 0 | 1; handlers: Set<MessageHandler> }>();
  /** Extra retained topics (`publishRetained()`): re-published on every connect, like status. */
  private readonly retainedExtra = new Map<string, string | Buffer>();

  constructor(
    private readonly config: MqttConfig,
    private readonly deps: MqttPublisherDeps,
  ) {
    this.topics = topicsFor(config.prefix, config.deviceId);
    this.reconnectPeriodMs = config.reconnectMinMs;
  }

  /**
   * Connects (starting the embedded broker first when no url is configured).
   * Resolves after the first connection attempt, whether it succeeded or not: a
   * broker that is down is retried in the background. Throws only for local
   * misconfiguration (unreadable TLS files, embedded broker port taken).
   */
  async start(): Promise<void> {
    if (this.client) throw new Error("MqttPublisher already started");
    const log = this.deps.logger;
    const useEmbedded = this.config.url === undefined;
    if (useEmbedded && this.config.protocolVersion !== 4) log.warn("embedded broker speaks MQTT 3.1.1 only: using protocolVersion 4");
    // Read TLS files before starting anything, so a bad path leaves nothing running.
    const options = await this.clientOptions(useEmbedded ? 4 : this.config.protocolVersion);
    if (this.config.url !== undefined) {
      this.url = this.config.url;
    } else {
      const create = this.deps.createEmbeddedBroker ?? ((cfg, logger) => new EmbeddedBroker(cfg, { logger }));
      this.embedded = create(this.config.embedded, log.child("broker"));
      this.url = await this.embedded.start();
    }
    this.status ??= { state: "online", since: Date.now() };
    const client = (this.deps.connect ?? mqttConnect)(this.url, options);
    this.client = client;
    const firstAttempt = new Promise<void>((resolve) => {
      client.once("connect", () => resolve());
      client.once("close", () => resolve());
    });
    client.on("connect", () => this.onConnect(client));
    client.on("reconnect", () => this.onReconnectAttempt(client));
    client.on("close", () => this.onClose());
    client.on("error", (err) => this.onError(err));
    client.on("message", (topic, payload, packet) => {
      this.dispatch(topic, payload, packet.retain);
      if (topic !== this.topics.command) return;
      void this.handleCommand(payload, packet.retain).catch((err: unknown) =>
        log.error("command handling failed", { error: errorMessage(err) }),
      );
    });
    await firstAttempt;
  }

  /** Publishes "offline" (retained) while we can, then disconnects cleanly. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await this.disconnect(client);
    const embedded = this.embedded;
    this.embedded = undefined;
    if (embedded) await embedded.stop();
  }

  private async disconnect(client: MqttClient): Promise<void> {
    let offlinePublished = false;
    if (client.connected) {
      const offline: StatusMessage = { state: "offline", reason: "stopped", since: Date.now() };
      // The link may already be dying (broker shutting down): don't wait for a PUBACK that cannot come.
      const lost = new Promise<never>((_, reject) => client.once("close", () => reject(new Error("connection closed"))));
      lost.catch(() => undefined);
      try {
        const published = this.publishJson(client, this.topics.status, offline, { qos: 1, retain: true });
        await withTimeout(Promise.race([published, lost]), STOP_TIMEOUT_MS);
        offlinePublished = true;
      } catch (err) {
        this.deps.logger.warn("could not publish offline status before disconnecting", { error: errorMessage(err) });
      }
    }
    if (!offlinePublished) {
      // Nothing more to say to the broker; a graceful end() would wait for queued QoS 1 messages forever.
      await client.endAsync(true);
      return;
    }
    // A clean DISCONNECT makes the broker discard our last will: the retained
    // "offline/stopped" above stays the final word.
    try {
      await withTimeout(client.endAsync(false), STOP_TIMEOUT_MS);
    } catch {
      // Unacknowledged QoS 1 angles are holding end() open: give up on them.
      client.stream.destroy();
    }
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** The broker URL in use, with any credentials removed (safe to log or show). */
  get brokerUrl(): string {
    return safeUrl(this.url);
  }

  /** Resolves on the next successful connection (immediately when connected). */
  whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.connectWaiters.push(resolve));
  }

  stats(): MqttPublisherStats {
    return { connected: this.connected, ...this.counters };
  }

  /** Hot path: never awaits, never throws. */
  publishAngles(msg: AnglesMessage): void {
    const client = this.client;
    const qos = this.config.anglesQos;
    if (!client || (qos === 0 && !client.connected) || (qos === 1 && this.anglesInFlight >= this.config.anglesQueueLimit)) {
      this.counters.dropped++;
      return;
    }
    this.counters.published++;
    if (qos === 1) this.anglesInFlight++;
    client.publish(this.topics.angles, JSON.stringify(msg), { qos, retain: false }, (err) => {
      if (qos === 1) this.anglesInFlight--;
      if (err) {
        // The connection dropped between our check and the write.
        this.counters.published--;
        this.counters.dropped++;
        this.deps.logger.debug(() => `angles seq ${msg.seq} dropped: ${err.message}`);
      }
    });
  }

  /** Stores the state and publishes it retained now, or on the next connect. */
  async setStatus(state: DeviceState, reason?: string): Promise<void> {
    this.status = reason === undefined ? { state, since: Date.now() } : { state, reason, since: Date.now() };
    await this.publishRetainedIfConnected(this.topics.status, this.status);
  }

  async publishModelInfo(info: ModelInfoMessage): Promise<void> {
    this.modelInfo = info;
    await this.publishRetainedIfConnected(this.topics.model, info);
  }

  /** One handler for all commands; its resolved value becomes the reply's `data`. */
  onCommand(handler: CommandHandler): void {
    this.commandHandler = handler;
  }

  // ------------------------------------------------------------------ generic topics (additive, used by edge/ota)

  /**
   * Subscribe to any topic filter (wildcards allowed). Kept across reconnects.
   * Handlers must not throw (a throw is logged). Returns the unsubscribe.
   */
  subscribe(filter: string, handler: MessageHandler, qos: 0 | 1 = 1): () => Promise<void> {
    let sub = this.subscriptions.get(filter);
    const fresh = !sub;
    if (!sub) this.subscriptions.set(filter, (sub = { qos, handlers: new Set() }));
    sub.handlers.add(handler);
    const client = this.client;
    if (fresh && client?.connected) {
      void this.subscribeFilter(client, filter, qos).catch((err: unknown) =>
        this.deps.logger.error(`could not subscribe to ${filter}`, { error: errorMessage(err) }),
      );
    }
    return async () => {
      const s = this.subscriptions.get(filter);
      if (!s || !s.handlers.delete(handler) || s.handlers.size) return;
      this.subscriptions.delete(filter);
      const c = this.client;
      if (c?.connected) await c.unsubscribeAsync(filter);
    };
  }

  /** Publish now; resolves false (nothing queued) when not connected. */
  async publish(topic: string, payload: string | Buffer, options: { qos?: 0 | 1; retain?: boolean } = {}): Promise<boolean> {
    const client = this.client;
    if (!client?.connected) return false;
    await client.publishAsync(topic, payload, { qos: options.qos ?? 1, retain: options.retain ?? false });
    return true;
  }

  /** Stores the payload and publishes it retained now, or on the next connect (and every reconnect). */
  async publishRetained(topic: string, payload: object | string | Buffer): Promise<void> {
    const body = typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    this.retainedExtra.set(topic, body);
    const client = this.client;
    if (!client?.connected) return;
    await client.publishAsync(topic, body, { qos: 1, retain: true });
  }

  private async subscribeFilter(client: MqttClient, filter: string, qos: 0 | 1): Promise<void> {
    const granted = await client.subscribeAsync(filter, { qos });
    if (granted.some((g) => g.qos === 128)) throw new Error(`broker refused subscription to ${filter} (ACL?)`);
  }

  private dispatch(topic: string, payload: Buffer, retained: boolean): void {
    for (const [filter, sub] of this.subscriptions) {
      if (!topicMatches(filter, topic)) continue;
      for (const handler of sub.handlers) {
        try {
          handler(topic, payload, retained);
        } catch (err) {
          this.deps.logger.error(`handler for ${filter} failed on a message from ${topic}`, { error: errorMessage(err) });
        }
      }
    }
  }

  private async clientOptions(protocolVersion: 4 | 5): Promise<IClientOptions> {
    const c = this.config;
    const options: IClientOptions = {
      clientId: c.clientId ?? `${c.prefix}-${c.deviceId}`.replace(/\//g, "-"),
      protocolVersion,
      clean: true,
      keepalive: c.keepaliveS,
      connectTimeout: c.connectTimeoutMs,
      reconnectPeriod: this.reconnectPeriodMs,
      // A refused CONNACK (bad credentials, ACL) is often fixed on the broker
      // side while the device keeps running: keep trying rather than give up.
      reconnectOnConnackError: true,
      // Live angles must not pile up while offline (see file comment).
      queueQoSZero: false,
      // We subscribe ourselves on every connect (clean session), so no automatic resubscribe.
      resubscribe: false,
      will: { topic: this.topics.status, payload: willPayload(Date.now()), qos: 1, retain: true },
    };
    if (c.username !== undefined) options.username = c.username;
    if (c.password !== undefined) options.password = c.password;
    if (c.caFile) options.ca = await readConfigFile("caFile", c.caFile);
    if (c.certFile) options.cert = await readConfigFile("certFile", c.certFile);
    if (c.keyFile) options.key = await readConfigFile("keyFile", c.keyFile);
    return options;
  }

  private onConnect(client: MqttClient): void {
    const log = this.deps.logger;
    if (this.everConnected) this.counters.reconnects++;
    this.everConnected = true;
    this.connectedSince = Date.now();
    this.reconnectPeriodMs = this.config.reconnectMinMs;
    client.options.reconnectPeriod = this.reconnectPeriodMs;
    log.info(`connected to MQTT broker at ${this.brokerUrl}`, { topics: `${this.config.prefix}/${this.config.deviceId}/#` });

    const status = this.status ?? { state: "online", since: Date.now() };
    const retained: Array<Promise<void>> = [this.publishJson(client, this.topics.status, status, { qos: 1, retain: true })];
    if (this.modelInfo) retained.push(this.publishJson(client, this.topics.model, this.modelInfo, { qos: 1, retain: true }));
    for (const [topic, payload] of this.retainedExtra) retained.push(client.publishAsync(topic, payload, { qos: 1, retain: true }).then(() => undefined));
    for (const [filter, sub] of this.subscriptions) retained.push(this.subscribeFilter(client, filter, sub.qos));
    const subscribed = client.subscribeAsync(this.topics.command, { qos: 1 }).then((granted) => {
      if (granted.some((g) => g.qos === 128)) throw new Error(`broker refused subscription to ${this.topics.command} (ACL?)`);
    });
    void Promise.all([...retained, subscribed]).catch((err: unknown) => {
      const message = "after connecting: could not publish retained status/model or subscribe to commands";
      // Lost the link again already: all of this is redone on the next connect.
      if (client.connected) log.error(message, { error: errorMessage(err) });
      else log.debug(() => `${message}: ${errorMessage(err)} (will retry on reconnect)`);
    });

    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** mqtt.js emits 'reconnect' just before each attempt: lengthen the wait for the next one. */
  private onReconnectAttempt(client: MqttClient): void {
    this.reconnectPeriodMs = Math.min(this.reconnectPeriodMs * 2, this.config.reconnectMaxMs);
    client.options.reconnectPeriod = this.reconnectPeriodMs;
    // mqtt.js reads the will at each attempt; restamp it so `since` is this connection's start.
    if (client.options.will) client.options.will.payload = willPayload(Date.now());
    this.deps.logger.debug(() => `reconnecting to ${this.brokerUrl}`);
  }

  private onClose(): void {
    if (!this.client || this.connectedSince === 0) return;
    this.connectedSince = 0;
    this.deps.logger.warn(`lost connection to MQTT broker at ${this.brokerUrl}, retrying in ${this.retryDelayText()}`);
  }

  private onError(err: Error & { code?: string | number }): void {
    const log = this.deps.logger;
    if (typeof err.code === "number") {
      // CONNACK refusal: mqtt.js sets the return/reason code as a number.
      const v4 = this.client?.options.protocolVersion !== 5;
      const reason = (v4 ? CONNACK_V4[err.code] : undefined) ?? err.message;
      log.error(
        `MQTT broker at ${this.brokerUrl} refused the connection: ${reason} (check username/password and the broker ACL), retrying in ${this.retryDelayText()}`,
        { code: err.code, username: this.config.username },
      );
    } else if (typeof err.code === "string" && this.connectedSince !== 0) {
      // onClose follows and says we are retrying.
      log.warn(`connection to MQTT broker at ${this.brokerUrl} failed: ${err.code}`);
    } else if (typeof err.code === "string") {
      log.warn(`broker unreachable at ${this.brokerUrl}: ${err.code}, retrying in ${this.retryDelayText()}`);
    } else {
      log.error(`MQTT client error: ${err.message}`);
    }
  }

  private retryDelayText(): string {
    return `${Number((this.reconnectPeriodMs / 1000).toPrecision(2))}s`;
  }

  private async handleCommand(payload: Buffer, retained: boolean): Promise<void> {
    const log = this.deps.logger;
    if (retained) {
      // A retained command would run again on every reconnect (a surprise recalibration): ignore it.
      log.warn(`ignoring retained message on ${this.topics.command}: commands must not be retained`);
      return;
    }
    this.counters.commands++;
    const reply = async (response: CommandResponse): Promise<void> => {
      if (response.status === "error") this.counters.commandErrors++;
      const client = this.client;
      if (!client) return;
      await this.publishJson(client, this.topics["command/response"], response, { qos: 1, retain: false });
    };
    if (payload.length > MAX_COMMAND_BYTES) {
      log.warn("command rejected: payload too large", { bytes: payload.length });
      await reply({ id: null, status: "error", error: `command payload too large: ${payload.length} bytes (max ${MAX_COMMAND_BYTES})` });
      return;
    }
    const parsed = parseCommand(payload);
    if (!parsed.ok) {
      log.warn(`command rejected: ${parsed.error}`);
      await reply({ id: parsed.id, status: "error", error: parsed.error });
      return;
    }
    const { command } = parsed;
    const id = command.id ?? null;
    if (!this.commandHandler) {
      await reply({ id, status: "error", error: `no handler for commands on this device (got "${command.command}")` });
      return;
    }
    try {
      const data = await this.commandHandler(command);
      log.info(`command ${command.command} ok`, { id });
      await reply(data === undefined ? { id, status: "ok" } : { id, status: "ok", data });
    } catch (err) {
      const error = errorMessage(err);
      log.warn(`command ${command.command} failed: ${error}`, { id });
      await reply({ id, status: "error", error });
    }
  }

  private async publishRetainedIfConnected(topic: string, payload: object): Promise<void> {
    const client = this.client;
    // Offline: the stored value is published by onConnect, so don't also queue it.
    if (!client?.connected) return;
    await this.publishJson(client, topic, payload, { qos: 1, retain: true });
  }

  private async publishJson(client: MqttClient, topic: string, payload: object, opts: IClientPublishOptions): Promise<void> {
    await client.publishAsync(topic, JSON.stringify(payload), opts);
  }
}

async function readConfigFile(field: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`mqtt.${field}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

/** The last will: what the broker publishes on `status` if we vanish without a DISCONNECT. */
function willPayload(connectionStartMs: number): Buffer {
  const will: StatusMessage = { state: "offline", reason: "connection lost", since: connectionStartMs };
  return Buffer.from(JSON.stringify(will));
}

/** Strips user:password@ from a URL so it can be logged. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//");
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
