/**
 * The sending side of an OTA update (`gait-edge ota-publish`): publishes a
 * bundle's offer, retained, to one device or a fleet, then answers the
 * devices' chunk requests until the device reports an outcome (or, for a
 * fleet, until stopped). Devices PULL chunks, so a device that reconnects
 * simply asks again for what it is missing: resuming needs no state here.
 *
 * On stop the retained offer is withdrawn (empty retained message): with
 * nobody left to serve chunks, a device seeing it later could only stall.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { connectAsync, type MqttClient } from "mqtt";
import type { Logger } from "../log.js";
import { readBundle, type Bundle } from "./bundle.js";
import { chunkCount, encodeChunk } from "./chunkCodec.js";
import { chunkRequestSchema, fleetOfferTopic, OFFER_FORMAT, otaTopicsFor, type OtaOffer, type OtaStateMessage } from "./messages.js";

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
  private readonly counts = { requests: 0, badRequests: 0, chunksServed: 0 };

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
  private topicFor(kind: "request" | "state"): string {
    const t = this.options.target;
    return `${this.prefix}/${"deviceId" in t ? t.deviceId : "+"}/ota/${kind}`;
  }

  async start(): Promise<void> {
    const log = this.deps.logger;
    this.bundle = await readBundle(this.options.bundleDir);
    this.data = await Promise.all(this.bundle.files.map((f) => readFile(f.path)));
    if (!this.bundle.signature) log.warn(`${this.options.bundleDir} is unsigned: devices will refuse it`);
    const client = await connectAsync(this.options.brokerUrl, {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      clientId: `gait-ota-publish-${this.transferId.slice(0, 8)}`,
      ...(this.options.username !== undefined ? { username: this.options.username } : {}),
      ...(this.options.password !== undefined ? { password: this.options.password } : {}),
      resubscribe: true,
    });
    this.client = client;
    client.on("message", (topic, payload) => {
      if (topic.endsWith("/ota/request")) this.onRequest(topic, payload);
      else if (topic.endsWith("/ota/state")) this.onState(topic, payload);
    });
    client.on("error", (err) => log.warn(`MQTT: ${err.message}`));
    await client.subscribeAsync([this.topicFor("request"), this.topicFor("state")], { qos: 1 });
    const offer: OtaOffer = {
      format: OFFER_FORMAT,
      transferId: this.transferId,
      manifest: this.bundle.manifestBytes.toString("utf8"),
      ...(this.bundle.signature ? { signature: this.bundle.signature } : {}),
      ...(this.bundle.keyId ? { keyId: this.bundle.keyId } : {}),
      chunkSize: this.chunkSize,
      files: this.bundle.files.map((f, i) => ({ name: f.name, bytes: this.data[i]!.length })),
    };
    await client.publishAsync(this.offerTopic, JSON.stringify(offer), { qos: 1, retain: true });
    log.info(`offered ${this.bundle.name} ${this.bundle.version} on ${this.offerTopic}`, {
      transferId: this.transferId,
      files: offer.files,
    });
  }

  /** First device outcome (device target): installed (ok) or refused/failed/rolled back. */
  done(): Promise<DeviceOutcome> {
    const first = this.outcomes.values().next();
    if (!first.done) return Promise.resolve(first.value);
    return new Promise((resolve) => this.outcomeWaiters.push(resolve));
  }

  /** Withdraws the retained offer (unless `withdraw: false`) and disconnects. */
  async stop(options: { withdraw?: boolean } = {}): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await this.serving.catch(() => undefined);
    if (options.withdraw !== false && client.connected) {
      await client.publishAsync(this.offerTopic, "", { qos: 1, retain: true }).catch(() => undefined);
    }
    await client.endAsync(!client.connected);
  }

  stats(): { requests: number; badRequests: number; chunksServed: number; outcomes: DeviceOutcome[] } {
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

  private onState(topic: string, payload: Buffer): void {
    let state: OtaStateMessage;
    try {
      state = JSON.parse(payload.toString("utf8")) as OtaStateMessage;
    } catch {
      return;
    }
    if (state.transfer_id !== this.transferId) return;
    const device = this.deviceOf(topic, "/ota/state");
    const pct = `${Math.round((state.progress ?? 0) * 100)}%`;
    this.deps.logger.info(`${device}: ${state.state} ${pct}${state.reason ? ` (${state.reason})` : ""}`);
    const installed = state.state === "idle" && state.installed_version === this.bundle.version;
    const failed = state.state === "failed" || state.state === "rolled_back";
    if (!installed && !failed) return;
    const outcome: DeviceOutcome = { deviceId: device, ok: installed, state };
    this.outcomes.set(device, outcome);
    for (const resolve of this.outcomeWaiters.splice(0)) resolve(outcome);
  }
}
