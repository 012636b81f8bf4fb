/**
 * The device's one MQTT connection (the lower of the two MQTT layers; the
 * typed publishers in devicePublisher.ts and the command server sit on it).
 *
 * The broker may be down, restarted or refuse us at any time: the connection
 * never throws for that, it logs clearly and keeps retrying with an
 * exponential backoff. It owns the device's presence on `<base>/status`: the
 * last will ("offline", "connection lost"), "online" until told otherwise, and
 * a retained "offline/stopped" on `stop()`. It re-publishes every retained
 * topic and re-subscribes every filter on each (re)connect (a restarted broker
 * may have lost them, and our last will may have overwritten "online").
 *
 * Live data (`publishLive`, the angles): at QoS 0 it is DROPPED (and counted)
 * while disconnected, because replaying stale angles after a reconnect would
 * mislead a live dashboard; at QoS 1 it is queued up to a limit, for
 * recording sessions where completeness matters more than latency.
 *
 * What the stats may claim about QoS 0 (issue #13: 114 messages written into a
 * stalled link were once counted as published): the broker never acknowledges
 * them, and bytes handed to a socket can sit in kernel buffers for as long as
 * the link is stalled, so "written" proves nothing. The one proof is TCP's
 * order: when the broker answers a PINGREQ, it has read everything written
 * before it. So a written message is `sent`; it becomes `confirmed` when a
 * later PINGRESP arrives (one comes every keepalive), and `lost` if the link
 * dies first (an upper bound: some of those may have arrived).
 *
 * Frozen brokers: a QoS 0 live message is held until the broker answers a
 * probe (a PINGREQ) and written then; one the broker has not answered for
 * within `liveProbeTimeoutMs` is dropped, counted, never written (liveGate.ts:
 * a frozen broker's socket would swallow it and deliver it seconds late).
 *
 * Dead links: the keepalive (default 3 s) drops a link that has carried
 * nothing back for 1.5 x keepalive; reconnects back off, with jitter, to a
 * few seconds at most (config.ts).
 *
 * Connection changes go to `deps.onChange` (the runtime puts them on the bus,
 * the recorder writes them as broker_up / broker_down events).
 *
 * (Over 400 lines on purpose: connect, backoff, presence, the retained store
 * and the subscriptions all share the one client's state and its events.)
 */
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { readFile } from "node:fs/promises";
import type { IClientOptions, MqttClient, Packet } from "mqtt";
import type { Logger } from "../log.js";
import type { MqttConfig } from "./config.js";
import { EmbeddedBroker } from "./embeddedBroker.js";
import { LiveGate } from "./liveGate.js";
import { connectBroker } from "./tcpConnect.js";
import { topicMatches, topicsFor, type DeviceTopics, type StatusMessage } from "./topics.js";

/** A message on a subscribed topic. Handlers must not throw (a throw is logged). */
export type MessageHandler = (topic: string, payload: Buffer, retained: boolean) => void;

/** What the connection tells its owner (the runtime forwards it to the bus). */
export interface ConnectionEvent {
  readonly state: "connected" | "lost";
  readonly brokerUrl: string;
  /** Successful connections after the first, including this one. */
  readonly reconnects: number;
}

export interface MqttConnectionDeps {
  readonly logger: Logger;
  /** mqtt.js `connect` (default: connectBroker, tcpConnect.ts), injectable for tests. */
  readonly connect?: (url: string, options: IClientOptions) => MqttClient;
  /** Builds the embedded broker when `url` is absent; injectable for tests. */
  readonly createEmbeddedBroker?: (config: MqttConfig, logger: Logger) => LocalBroker;
  readonly onChange?: (event: ConnectionEvent) => void;
}

/** The embedded broker as the connection uses it. */
export interface LocalBroker {
  /** Resolves with the URL to connect to. */
  start(): Promise<string>;
  stop(): Promise<void>;
  /** The login the connection uses on it, when it asks for one. */
  readonly selfCredentials?: { readonly username: string; readonly password: string } | undefined;
  /** Serves one MQTT connection over a stream (the dashboard's WebSocket bridge), with the same logins and ACL. */
  handle?(stream: Duplex): void;
}

export interface MqttConnectionStats {
  connected: boolean;
  /** Live messages (angles) written to the broker connection (QoS 1: handed to the client, which resends until acknowledged). */
  sent: number;
  /** Of `sent`, those the broker provably received: a PINGRESP came back after them (QoS 0), or their PUBACK (QoS 1). */
  confirmed: number;
  /** Of `sent`, not yet confirmed nor lost: in flight. */
  unconfirmed: number;
  /** QoS 0 messages written into a link that died before a PINGRESP confirmed them; some may have arrived. */
  lost: number;
  /** Live messages never written: disconnected at QoS 0, not answered for by the broker in time (QoS 0), QoS 1 queue full, or the client refused them. */
  dropped: number;
  /** Of `dropped`: QoS 0 messages the broker did not answer a probe for within `liveProbeTimeoutMs` (a frozen or stalled broker). */
  droppedUnanswered: number;
  /** Times the broker left a probe unanswered past `liveProbeTimeoutMs` (each a stall, logged once). */
  stalls: number;
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
const STOP_TIMEOUT_MS = 2000;
/** How often held live messages are checked against their budget (a late drop only costs memory, never freshness: liveGate.ts). */
const GATE_TICK_MS = 100;

export class MqttConnection {
  readonly name = "mqtt";
  readonly topics: DeviceTopics;
  private client: MqttClient | undefined;
  private embedded: LocalBroker | undefined;
  private url = "";
  /** The backoff: doubles per failed attempt from reconnectMinMs to reconnectMaxMs. */
  private backoffMs: number;
  /** The wait before the next attempt: the backoff with jitter (what mqtt.js will use). */
  private nextDelayMs: number;
  private everConnected = false;
  private connectedSince = 0;
  private liveInFlight = 0;
  private readonly counters = { sent: 0, confirmed: 0, lost: 0, dropped: 0, reconnects: 0 };
  /** Topics publishLive has written to at QoS 0: their writes are counted as they leave (onPacketSend). */
  private readonly liveTopics = new Set<string>();
  /** QoS 0 live messages written on the current link that no PINGRESP has confirmed yet. */
  private unconfirmedQos0 = 0;
  /** How many of those the PINGREQ in flight confirms when its answer comes. */
  private coveredByPing = 0;
  private connectWaiters: Array<() => void> = [];
  /** Holds QoS 0 live messages until the broker proves it is reading (undefined: liveProbeTimeoutMs 0). */
  private readonly gate: LiveGate | undefined;
  private gateTimer: NodeJS.Timeout | undefined;
  /** Re-subscribed on every connect (clean session). */
  private readonly subscriptions = new Map<string, { qos: 0 | 1; handlers: Set<MessageHandler> }>();
  /** Topic -> last payload; re-published retained on every connect. `status` is always here from start(). */
  private readonly retained = new Map<string, string | Buffer>();

  constructor(
    private readonly config: MqttConfig,
    private readonly deps: MqttConnectionDeps,
  ) {
    this.topics = topicsFor(config.prefix, config.deviceId);
    this.backoffMs = config.reconnectMinMs;
    this.nextDelayMs = jitter(this.backoffMs);
    this.gate = config.liveProbeTimeoutMs > 0 ? new LiveGate(config.liveProbeTimeoutMs) : undefined;
  }

  /**
   * Connects (starting the embedded broker first when no url is configured).
   * Resolves after the first connection attempt, whether it succeeded or not: a
   * broker that is down is retried in the background. Throws only for local
   * misconfiguration (unreadable TLS files, embedded broker port taken).
   */
  async start(): Promise<void> {
    if (this.client) throw new Error("MqttConnection already started");
    const log = this.deps.logger;
    const useEmbedded = this.config.url === undefined;
    if (useEmbedded && this.config.protocolVersion !== 4) log.warn("embedded broker speaks MQTT 3.1.1 only: using protocolVersion 4");
    // Read TLS files before starting anything, so a bad path leaves nothing running.
    const options = await this.clientOptions(useEmbedded ? 4 : this.config.protocolVersion);
    if (this.config.url !== undefined) {
      this.url = this.config.url;
    } else {
      const create =
        this.deps.createEmbeddedBroker ??
        ((c: MqttConfig, logger: Logger) => new EmbeddedBroker(c.embedded, { logger, prefix: c.prefix, deviceId: c.deviceId }));
      const embedded = create(this.config, log.child("broker"));
      this.embedded = embedded;
      this.url = await embedded.start();
      // Our own login on it (random per start), instead of any configured username.
      if (embedded.selfCredentials) {
        options.username = embedded.selfCredentials.username;
        options.password = embedded.selfCredentials.password;
      }
    }
    // The birth message, unless a module already said more (degraded).
    if (!this.retained.has(this.topics.status)) this.retained.set(this.topics.status, statusPayload({ state: "online", since: Date.now() }));
    const client = (this.deps.connect ?? connectBroker)(this.url, options);
    this.client = client;
    const firstAttempt = new Promise<void>((resolve) => {
      client.once("connect", () => resolve());
      client.once("close", () => resolve());
    });
    client.on("connect", () => this.onConnect(client));
    client.on("reconnect", () => this.onReconnectAttempt(client));
    client.on("close", () => this.onClose());
    client.on("packetsend", (packet) => this.onPacketSend(packet));
    client.on("packetreceive", (packet) => this.onPacketReceive(packet));
    client.on("error", (err) => this.onError(err));
    client.on("message", (topic, payload, packet) => this.dispatch(topic, payload, packet.retain));
    if (this.gate) {
      this.gateTimer = setInterval(() => this.expireHeld(), GATE_TICK_MS);
      this.gateTimer.unref();
    }
    await firstAttempt;
  }

  /** Publishes "offline" (retained) while we can, then disconnects cleanly. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    clearInterval(this.gateTimer);
    this.gateTimer = undefined;
    this.gate?.reset();
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
        const published = client.publishAsync(this.topics.status, statusPayload(offline), { qos: 1, retain: true });
        await withTimeout(Promise.race([published, lost]), STOP_TIMEOUT_MS);
        offlinePublished = true;
        // Its PUBACK proves the broker read everything written before it, as a PINGRESP would.
        this.confirmLive(this.unconfirmedQos0);
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
      // Unacknowledged QoS 1 messages are holding end() open: give up on them.
      client.stream.destroy();
    }
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** The broker URL in use, with any credentials removed (safe to log or show). */
  /**
   * Hands a stream to the embedded broker (the dashboard bridges browsers this
   * way); undefined when the device uses an external broker.
   */
  get embeddedStreamHandler(): ((stream: Duplex) => void) | undefined {
    const embedded = this.embedded;
    if (!embedded?.handle) return undefined;
    return (stream) => embedded.handle!(stream);
  }

  get brokerUrl(): string {
    return safeUrl(this.url);
  }

  /** Resolves on the next successful connection (immediately when connected). */
  whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.connectWaiters.push(resolve));
  }

  stats(): MqttConnectionStats {
    const gate = this.gate?.stats() ?? { expired: 0, stalls: 0 };
    return {
      connected: this.connected,
      ...this.counters,
      dropped: this.counters.dropped + gate.expired,
      droppedUnanswered: gate.expired,
      stalls: gate.stalls,
      unconfirmed: this.unconfirmedQos0 + this.liveInFlight,
    };
  }

  /**
   * Live data, the hot path: never awaits, never throws. QoS 0 is dropped
   * (counted) while disconnected, and otherwise written once the broker has
   * answered a probe (liveGate.ts); QoS 1 is queued up to `queueLimit`
   * unacknowledged messages.
   */
  publishLive(topic: string, body: string, qos: 0 | 1, queueLimit: number): void {
    const client = this.client;
    if (!client || (qos === 0 && !client.connected) || (qos === 1 && this.liveInFlight >= queueLimit)) {
      this.counters.dropped++;
      return;
    }
    if (qos === 0) {
      this.liveTopics.add(topic);
      if (!this.gate) this.writeQos0(client, topic, body);
      else if (this.gate.offer(topic, body, Date.now())) client.sendPing();
      return;
    }
    this.counters.sent++;
    this.liveInFlight++;
    client.publish(topic, body, { qos: 1, retain: false }, (err) => {
      this.liveInFlight--;
      if (!err) {
        this.counters.confirmed++;
        return;
      }
      this.counters.sent--;
      this.dropLive(topic, err);
    });
    flushNow(client);
  }

  private writeQos0(client: MqttClient, topic: string, body: string): void {
    // Counted as sent when mqtt.js writes it (onPacketSend), which may be later than now.
    client.publish(topic, body, { qos: 0, retain: false }, (err) => {
      // Only a message that was never written fails (the link dropped between our check and the write).
      if (err) this.dropLive(topic, err);
    });
    flushNow(client);
  }

  /** The gate's clock: drops held messages past their budget and says once when the broker stops answering. */
  private expireHeld(): void {
    if (!this.gate?.expire(Date.now())) return;
    this.deps.logger.warn(
      `MQTT broker at ${this.brokerUrl} has not answered for ${this.gate.budgetMs} ms: live messages are dropped (not sent late) until it answers; ` +
        `the keepalive replaces the connection after ${Math.ceil(this.config.keepaliveS * 1.5)} s of silence`,
    );
  }

  /** A PINGRESP (ours or the keepalive's): the broker is reading now, so what the gate holds may go. */
  private releaseHeld(): void {
    const client = this.client;
    if (!this.gate || !client) return;
    const { release, stalledForMs } = this.gate.answered(Date.now());
    if (stalledForMs !== undefined) {
      this.deps.logger.info(`MQTT broker at ${this.brokerUrl} answers again after ${stalledForMs} ms; live messages held through it were dropped`);
    }
    for (const m of release) this.writeQos0(client, m.topic, m.body);
  }

  private dropLive(topic: string, err: Error): void {
    this.counters.dropped++;
    this.deps.logger.debug(() => `live message on ${topic} dropped: ${err.message}`);
  }

  /** Every packet mqtt.js writes to the socket, as it writes it. */
  private onPacketSend(packet: Packet): void {
    if (packet.cmd === "publish" && packet.qos === 0 && this.liveTopics.has(packet.topic)) {
      this.counters.sent++;
      this.unconfirmedQos0++;
    } else if (packet.cmd === "pingreq") {
      this.coveredByPing = this.unconfirmedQos0;
    }
  }

  private onPacketReceive(packet: Packet): void {
    if (packet.cmd !== "pingresp") return;
    this.confirmLive(this.coveredByPing);
    this.releaseHeld();
  }

  /** The broker has read the oldest `count` unconfirmed QoS 0 messages. */
  private confirmLive(count: number): void {
    this.counters.confirmed += count;
    this.unconfirmedQos0 -= count;
    this.coveredByPing = 0;
  }

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

  /**
   * Stores the payload and publishes it retained now, or on the next connect
   * (and every reconnect). Rejects only when the broker did not take it while
   * connected; it stays stored and goes out again on the next connect.
   */
  async publishRetained(topic: string, payload: object | string | Buffer): Promise<void> {
    const body = typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    this.retained.set(topic, body);
    const client = this.client;
    // Offline: onConnect publishes the stored value, so don't also queue it.
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
      reconnectPeriod: this.nextDelayMs,
      // A refused CONNACK (bad credentials, ACL) is often fixed on the broker
      // side while the device keeps running: keep trying rather than give up.
      reconnectOnConnackError: true,
      // Live angles must not pile up while offline (see file comment).
      queueQoSZero: false,
      // We subscribe ourselves on every connect (clean session), so no automatic resubscribe.
      resubscribe: false,
      // mqtt-packet's number cache is 65,536 two-byte Buffers built on the first
      // packet: ~7 MB of V8 heap kept for the process's life, to save one
      // 2-byte allocation per topic length and message id (the bytes written
      // are the same). Off: issue #11's one-wearer RSS.
      writeCache: false,
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
    this.backoffMs = this.config.reconnectMinMs;
    this.nextDelayMs = jitter(this.backoffMs);
    client.options.reconnectPeriod = this.nextDelayMs;
    noNagle(client);
    log.info(`connected to MQTT broker at ${this.brokerUrl}`, { topics: `${this.config.prefix}/${this.config.deviceId}/#` });

    const redone: Array<Promise<unknown>> = [];
    for (const [topic, payload] of this.retained) redone.push(client.publishAsync(topic, payload, { qos: 1, retain: true }));
    for (const [filter, sub] of this.subscriptions) redone.push(this.subscribeFilter(client, filter, sub.qos));
    void Promise.all(redone).catch((err: unknown) => {
      const message = "after connecting: could not re-publish the retained topics or subscribe";
      // Lost the link again already: all of this is redone on the next connect.
      if (client.connected) log.error(message, { error: errorMessage(err) });
      else log.debug(() => `${message}: ${errorMessage(err)} (will retry on reconnect)`);
    });

    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const resolve of waiters) resolve();
    this.notify("connected");
  }

  /** mqtt.js emits 'reconnect' just before each attempt: lengthen the wait for the next one. */
  private onReconnectAttempt(client: MqttClient): void {
    this.backoffMs = Math.min(this.backoffMs * 2, this.config.reconnectMaxMs);
    this.nextDelayMs = jitter(this.backoffMs);
    client.options.reconnectPeriod = this.nextDelayMs;
    // mqtt.js reads the will at each attempt; restamp it so `since` is this connection's start.
    if (client.options.will) client.options.will.payload = willPayload(Date.now());
    this.deps.logger.debug(() => `reconnecting to ${this.brokerUrl}`);
  }

  private onClose(): void {
    // Whatever the dead link still held unconfirmed may never have reached the broker.
    this.counters.lost += this.unconfirmedQos0;
    this.unconfirmedQos0 = 0;
    this.coveredByPing = 0;
    // The probe in flight will never be answered on this link; what it held is not worth sending on the next.
    this.gate?.reset();
    if (!this.client || this.connectedSince === 0) return;
    this.connectedSince = 0;
    this.deps.logger.warn(`lost connection to MQTT broker at ${this.brokerUrl}, retrying in ${this.retryDelayText()}`);
    this.notify("lost");
  }

  private notify(state: ConnectionEvent["state"]): void {
    try {
      this.deps.onChange?.({ state, brokerUrl: this.brokerUrl, reconnects: this.counters.reconnects });
    } catch (err) {
      // A listener's bug must not break the connection's event handling.
      this.deps.logger.error(`connection listener failed: ${errorMessage(err)}`);
    }
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
    return `${Number((this.nextDelayMs / 1000).toPrecision(2))}s`;
  }
}

/** "Equal jitter": a wait drawn from [base/2, base], so a fleet spreads out yet never waits longer than base. */
function jitter(baseMs: number): number {
  return Math.max(1, Math.round(baseMs / 2 + Math.random() * (baseMs / 2)));
}

function statusPayload(status: StatusMessage): string {
  return JSON.stringify(status);
}

async function readConfigFile(field: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`mqtt.${field}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, { cause: err });
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

/**
 * Nagle's algorithm off on the link (a new socket on every connect). Angles
 * are small messages, 4 to 100 a second per wearer; with Nagle on, a message
 * written while the previous segment is unacknowledged waits for the broker's
 * delayed ACK (up to 40 ms on Linux): `make bench` once showed per-sample
 * p99 26 ms from this alone, and the live probe (a 2-byte PINGREQ) would wait
 * behind the last angles message's ACK. A WebSocket stream has no such option.
 */
/**
 * A live message out of the socket now, not at the next nextTick. mqtt-packet
 * corks the socket for every packet it writes and uncorks it on
 * process.nextTick; when the main thread runs many wearers' windows back to
 * back (strides ending on one tick), each result resumes its pipeline in a
 * microtask and those ticks only run after the whole burst. Measured at 100
 * such wearers: the socket corked 69 deep (p50, 281 at most) when an angles
 * message was published, and the burst's angles at the subscriber 40 ms after
 * they were published. A connected client writes the whole packet inside
 * publish() (mqtt.js `_writePacket`), so uncorking after it splits nothing;
 * the nextTick uncorks still to come then find the socket uncorked, a no-op.
 * test/mqtt/flushNow.test.ts holds it.
 */
function flushNow(client: MqttClient): void {
  const stream: unknown = client.stream;
  if (!(stream instanceof Socket)) return;
  while (stream.writableCorked > 0) stream.uncork();
}

function noNagle(client: MqttClient): void {
  const stream: unknown = client.stream;
  if (stream instanceof Socket) stream.setNoDelay(true);
}
