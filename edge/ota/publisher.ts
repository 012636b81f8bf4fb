/**
 * The sending side of an OTA update (`gait-edge ota-publish`): publishes a
 * bundle's offer, retained, to one device or a fleet, then answers the
 * devices' chunk requests until the device reports an outcome (or, for a
 * fleet, until stopped). Devices PULL chunks, so a device that reconnects
 * simply asks again for what it is missing: resuming needs no state here.
 *
 * On stop the retained offer is withdrawn (empty retained message): with
 * nobody left to serve chunks, a device seeing it later could only stall.
 *
 * Every network wait is bounded by a Deadline (the CLI's --timeout, else
 * DEFAULT_STEP_S per step) and fails saying what it waited for. Anything the
 * broker delivers is validated: anyone can publish `null` on a state topic.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { connect, type MqttClient } from "mqtt";
import type { Logger } from "../log.js";
import { readBundle, type Bundle } from "./bundle.js";
import { chunkCount, encodeChunk } from "./chunkCodec.js";
import { Deadline } from "./deadline.js";
import { commandReplySchema, type CommandReply } from "../commands/types.js";
import {
  chunkRequestSchema,
  fleetOfferTopic,
  OFFER_FORMAT,
  otaStateMessageSchema,
  otaTopicsFor,
  type OtaCommandName,
  type OtaOffer,
  type OtaStateMessage,
} from "./messages.js";

export interface OtaPublisherOptions {
  readonly bundleDir: string;
  readonly brokerUrl: string;
  readonly prefix?: string;
  readonly target: { readonly deviceId: string } | { readonly fleetId: string };
  readonly chunkSize?: number;
  readonly username?: string;
  readonly password?: string;
}

export interface OtaPublisherDeps {
  readonly logger: Logger;
  /** Tests: awaited before each chunk is sent (to cut a connection mid-transfer). */
  readonly beforeChunk?: (file: number, chunk: number) => Promise<void>;
}

export interface DeviceOutcome {
  readonly deviceId: string;
  readonly ok: boolean;
  readonly state: OtaStateMessage;
}

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Without --timeout: the most one broker step (connect, subscribe, publish) may take. */
export const DEFAULT_STEP_S = 30;

/** What a device has said so far: for the message when it says nothing more. */
export interface DeviceProgress {
  readonly chunkRequests: number;
  readonly lastState: OtaStateMessage | undefined;
}

/** Resolves on CONNACK; rejects on the first error before it (refused, not authorized, unreachable). */
function connected(client: MqttClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const onConnect = (): void => {
      client.off("error", onError);
      resolve();
    };
    const onError = (err: Error): void => {
      client.off("connect", onConnect);
      reject(err);
    };
    client.once("connect", onConnect);
    client.once("error", onError);
  });
}

export class OtaPublisher {
  readonly transferId = randomBytes(16).toString("hex");
  private client: MqttClient | undefined;
  private bundle!: Bundle;
  private data: Buffer[] = [];
  private readonly prefix: string;
  private readonly chunkSize: number;
  private serving: Promise<void> = Promise.resolve();
  private readonly outcomes = new Map<string, DeviceOutcome>();
  private readonly outcomeWaiters: Array<(o: DeviceOutcome) => void> = [];
  private readonly counts = { requests: 0, badRequests: 0, badStates: 0, badReplies: 0, chunksServed: 0 };
  /** Command id -> who waits for its reply. */
  private readonly replyWaiters = new Map<string, (reply: CommandReply) => void>();
  private readonly progress = new Map<string, { chunkRequests: number; lastState: OtaStateMessage | undefined }>();

  constructor(
    private readonly options: OtaPublisherOptions,
    private readonly deps: OtaPublisherDeps,
  ) {
    this.prefix = options.prefix ?? "gait";
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  }

  get offerTopic(): string {
    const t = this.options.target;
    return "deviceId" in t ? otaTopicsFor(this.prefix, t.deviceId).offer : fleetOfferTopic(this.prefix, t.fleetId);
  }

  /** Requests come from the target device, or from any device for a fleet. */
  private topicFor(kind: "request" | "state" | "command/response"): string {
    const t = this.options.target;
    return `${this.prefix}/${"deviceId" in t ? t.deviceId : "+"}/ota/${kind}`;
  }

  /** Connects, subscribes and publishes the offer, each step within `deadline`. */
  async start(deadline: Deadline = new Deadline(DEFAULT_STEP_S)): Promise<void> {
    const log = this.deps.logger;
    this.bundle = await readBundle(this.options.bundleDir);
    this.data = await Promise.all(this.bundle.files.map((f) => readFile(f.path)));
    if (!this.bundle.signature) log.warn(`${this.options.bundleDir} is unsigned: devices will refuse it`);
    // connect(), not connectAsync(): a broker that never sends CONNACK leaves connectAsync
    // pending for ever (it reconnects quietly); with the client in hand it can be ended.
    const client = connect(this.options.brokerUrl, {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: Math.min(10_000, Math.max(1000, deadline.remainingMs)),
      clientId: `gait-ota-publish-${this.transferId.slice(0, 8)}`,
      ...(this.options.username !== undefined ? { username: this.options.username } : {}),
      ...(this.options.password !== undefined ? { password: this.options.password } : {}),
      resubscribe: true,
    });
    // Listening before anything else: an 'error' nobody listens to would throw.
    client.on("error", (err) => log.warn(`MQTT: ${err.message}`));
    try {
      await deadline.race(connected(client), `connecting to the broker ${this.options.brokerUrl}: no answer (is it an MQTT broker, are the credentials right?)`);
    } catch (err) {
      client.end(true);
      throw err;
    }
    this.client = client;
    client.on("message", (topic, payload) => {
      if (topic.endsWith("/ota/request")) this.onRequest(topic, payload);
      else if (topic.endsWith("/ota/state")) this.onState(topic, payload);
      else if (topic.endsWith("/ota/command/response")) this.onReply(topic, payload);
    });
    const filters = [this.topicFor("request"), this.topicFor("state"), this.topicFor("command/response")];
    await deadline.race(client.subscribeAsync(filters, { qos: 1 }), `subscribing to ${filters.join(", ")}: no acknowledgement`);
    const offer: OtaOffer = {
      format: OFFER_FORMAT,
      transferId: this.transferId,
      manifest: this.bundle.manifestBytes.toString("utf8"),
      ...(this.bundle.signature ? { signature: this.bundle.signature } : {}),
      ...(this.bundle.keyId ? { keyId: this.bundle.keyId } : {}),
      chunkSize: this.chunkSize,
      files: this.bundle.files.map((f, i) => ({ name: f.name, bytes: this.data[i]!.length })),
    };
    await deadline.race(
      client.publishAsync(this.offerTopic, JSON.stringify(offer), { qos: 1, retain: true }),
      `publishing the offer on ${this.offerTopic}: no acknowledgement (may this account publish there?)`,
    );
    log.info(`offered ${this.bundle.name} ${this.bundle.version} on ${this.offerTopic}`, {
      transferId: this.transferId,
      files: offer.files,
    });
  }

  /** What `deviceId` has said so far (chunk requests, latest state of this transfer). */
  progressOf(deviceId: string): DeviceProgress {
    return this.progress.get(deviceId) ?? { chunkRequests: 0, lastState: undefined };
  }

  /** First device outcome (device target): installed (ok) or refused/failed/rolled back. */
  done(): Promise<DeviceOutcome> {
    const first = this.outcomes.values().next();
    if (!first.done) return Promise.resolve(first.value);
    return new Promise((resolve) => this.outcomeWaiters.push(resolve));
  }

  /** Withdraws the retained offer (unless `withdraw: false`) and disconnects, within `deadline`. */
  async stop(options: { withdraw?: boolean; deadline?: Deadline } = {}): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    const deadline = options.deadline ?? new Deadline(DEFAULT_STEP_S);
    try {
      await deadline.race(this.serving, "sending the chunks already asked for");
      if (options.withdraw !== false && client.connected) {
        await deadline.race(client.publishAsync(this.offerTopic, "", { qos: 1, retain: true }), `withdrawing the offer on ${this.offerTopic}: no acknowledgement`);
      }
      await deadline.race(client.endAsync(!client.connected), "disconnecting");
    } catch (err) {
      client.end(true); // the broker stopped answering: drop the connection, say why
      throw err;
    }
  }

  /**
   * Sends an OTA command (check, accept, postpone, rollback) to `deviceId` and
   * resolves with its reply, validated with the shared reply schema; anything
   * else on the response topic is logged and ignored. `status: "error"` is a
   * reply too (the device refused): the caller reads `error`.
   */
  async command(deviceId: string, name: OtaCommandName, deadline: Deadline = new Deadline(DEFAULT_STEP_S)): Promise<CommandReply> {
    const client = this.client;
    if (!client) throw new Error("the publisher is not started");
    const id = randomBytes(8).toString("hex");
    const reply = new Promise<CommandReply>((resolve) => this.replyWaiters.set(id, resolve));
    try {
      const topic = otaTopicsFor(this.prefix, deviceId).command;
      await deadline.race(client.publishAsync(topic, JSON.stringify({ id, command: name }), { qos: 1 }), `sending ${name} on ${topic}: no acknowledgement`);
      return await deadline.race(reply, `no reply from ${deviceId} to ${name}`);
    } finally {
      this.replyWaiters.delete(id);
    }
  }

  stats(): { requests: number; badRequests: number; badStates: number; badReplies: number; chunksServed: number; outcomes: DeviceOutcome[] } {
    return { ...this.counts, outcomes: [...this.outcomes.values()] };
  }

  private deviceOf(topic: string, suffix: string): string {
    return topic.slice(this.prefix.length + 1, topic.length - suffix.length);
  }

  private onRequest(topic: string, payload: Buffer): void {
    const device = this.deviceOf(topic, "/ota/request");
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString("utf8"));
    } catch {
      raw = undefined;
    }
    const parsed = chunkRequestSchema.safeParse(raw);
    if (!parsed.success || parsed.data.transferId !== this.transferId) {
      if (!parsed.success) {
        this.counts.badRequests += 1;
        this.deps.logger.warn(`bad chunk request from ${device} ignored`);
      }
      return;
    }
    this.counts.requests += 1;
    this.progressFor(device).chunkRequests += 1;
    const req = parsed.data;
    // One request after the other: chunks go out in order, and stop() can wait for them.
    this.serving = this.serving.then(() => this.serve(device, req.file, req.chunks)).catch((err: Error) =>
      this.deps.logger.warn(`serving ${device} failed (it will ask again): ${err.message}`),
    );
  }

  private async serve(device: string, fileIndex: number, chunks: readonly number[]): Promise<void> {
    const data = this.data[fileIndex];
    if (!data) return;
    const total = chunkCount(data.length, this.chunkSize);
    const topic = otaTopicsFor(this.prefix, device).chunk;
    for (const k of chunks) {
      if (k >= total) continue;
      await this.deps.beforeChunk?.(fileIndex, k);
      const client = this.client;
      if (!client) return;
      const payload = data.subarray(k * this.chunkSize, Math.min(data.length, (k + 1) * this.chunkSize));
      await client.publishAsync(topic, encodeChunk({ transferId: this.transferId, fileIndex, chunkIndex: k, totalChunks: total }, payload), { qos: 1 });
      this.counts.chunksServed += 1;
    }
  }

  private onReply(topic: string, payload: Buffer): void {
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString("utf8"));
    } catch {
      raw = undefined;
    }
    const parsed = commandReplySchema.safeParse(raw);
    if (!parsed.success) {
      this.counts.badReplies += 1;
      this.deps.logger.warn(`invalid command reply from ${this.deviceOf(topic, "/ota/command/response")} ignored`);
      return;
    }
    const waiter = typeof parsed.data.id === "string" ? this.replyWaiters.get(parsed.data.id) : undefined;
    waiter?.(parsed.data); // a reply to someone else's command: not ours to read
  }

  private progressFor(device: string): { chunkRequests: number; lastState: OtaStateMessage | undefined } {
    let p = this.progress.get(device);
    if (!p) this.progress.set(device, (p = { chunkRequests: 0, lastState: undefined }));
    return p;
  }

  private onState(topic: string, payload: Buffer): void {
    const device = this.deviceOf(topic, "/ota/state");
    if (payload.length === 0) return; // a cleared retained state: nothing said
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString("utf8"));
    } catch {
      raw = undefined;
    }
    const parsed = otaStateMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.counts.badStates += 1;
      const detail = raw === undefined ? "not JSON" : parsed.error.issues.map((i) => `${i.path.join(".") || "(state)"}: ${i.message}`).join("; ");
      this.deps.logger.warn(`invalid OTA state from ${device} ignored: ${detail}`);
      return;
    }
    const state: OtaStateMessage = parsed.data;
    if (state.transfer_id !== this.transferId) return;
    this.progressFor(device).lastState = state;
    const pct = `${Math.round(state.progress * 100)}%`;
    this.deps.logger.info(`${device}: ${state.state} ${pct}${state.reason ? ` (${state.reason})` : ""}`);
    const installed = state.state === "idle" && state.installed_version === this.bundle.version;
    const failed = state.state === "failed" || state.state === "rolled_back";
    if (!installed && !failed) return;
    const outcome: DeviceOutcome = { deviceId: device, ok: installed, state };
    this.outcomes.set(device, outcome);
    for (const resolve of this.outcomeWaiters.splice(0)) resolve(outcome);
  }
}
