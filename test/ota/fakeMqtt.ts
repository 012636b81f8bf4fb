/**
 * An in-memory broker for OTA agent tests: the `OtaMqtt` slice the agent uses,
 * with retained messages, `+`/`#` filters and asynchronous delivery (as a real
 * broker: a handler never runs inside the publish that triggered it), plus the
 * operator's side (offer a bundle, serve its chunks) without a network.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { readBundle } from "../../edge/ota/bundle.js";
import { chunkCount, encodeChunk } from "../../edge/ota/chunkCodec.js";
import { chunkRequestSchema, OFFER_FORMAT, type OtaOffer, type OtaStateMessage } from "../../edge/ota/messages.js";
import type { OtaMqtt } from "../../edge/ota/ports.js";
import type { MessageHandler } from "../../edge/mqtt/connection.js";
import { topicMatches } from "../../edge/mqtt/topics.js";

export { topicMatches };

export class FakeMqtt implements OtaMqtt {
  connected = true;
  readonly published: { topic: string; payload: Buffer; retain: boolean }[] = [];
  private readonly subs = new Set<{ filter: string; handler: MessageHandler }>();
  private readonly retained = new Map<string, Buffer>();
  private pending = 0;

  subscribe(filter: string, handler: MessageHandler): () => Promise<void> {
    const sub = { filter, handler };
    this.subs.add(sub);
    for (const [topic, payload] of this.retained) if (topicMatches(filter, topic)) this.deliver(sub, topic, payload, true);
    return async () => void this.subs.delete(sub);
  }

  async publish(topic: string, payload: string | Buffer, options: { retain?: boolean } = {}): Promise<boolean> {
    this.inject(topic, payload, { retain: options.retain ?? false });
    return true;
  }

  async publishRetained(topic: string, payload: object | string | Buffer): Promise<void> {
    const body = typeof payload === "string" || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    this.inject(topic, body, { retain: true });
  }

  /** A message arriving at the broker from anyone (the device, the operator, an attacker). */
  inject(topic: string, payload: string | Buffer, options: { retain?: boolean } = {}): void {
    const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8");
    const retain = options.retain ?? false;
    this.published.push({ topic, payload: body, retain });
    if (retain) {
      if (body.length === 0) this.retained.delete(topic);
      else this.retained.set(topic, body);
    }
    for (const sub of this.subs) if (topicMatches(sub.filter, topic)) this.deliver(sub, topic, body, false);
  }

  /** Someone subscribed to a filter that matches `topic`. */
  hasSubscriber(topic: string): boolean {
    return [...this.subs].some((s) => topicMatches(s.filter, topic));
  }

  /** JSON payloads published on `topic`, oldest first. */
  json<T>(topic: string): T[] {
    return this.published.filter((m) => m.topic === topic && m.payload.length > 0).map((m) => JSON.parse(m.payload.toString("utf8")) as T);
  }

  /** Resolves once every message handed out so far (and what they caused) has been delivered. */
  async settle(): Promise<void> {
    while (this.pending > 0) await new Promise((r) => setImmediate(r));
  }

  private deliver(sub: { filter: string; handler: MessageHandler }, topic: string, payload: Buffer, retained: boolean): void {
    this.pending += 1;
    setImmediate(() => {
      this.pending -= 1;
      if (this.subs.has(sub)) sub.handler(topic, payload, retained);
    });
  }
}

export interface ServedBundle {
  readonly offer: OtaOffer;
  readonly chunksServed: () => number;
  /** Stop answering chunk requests (the operator's tool went away). */
  readonly pause: () => void;
  readonly resume: () => void;
}

/**
 * The operator's side on a FakeMqtt: publishes the bundle's offer (retained) on
 * `offerTopic` and answers chunk requests for it on `<device>/ota/request`.
 */
export async function serveBundle(
  mqtt: FakeMqtt,
  bundleDir: string,
  topics: { offer: string; request: string; chunk: string },
  chunkSize = 64 * 1024,
  options: { stopAfter?: number } = {},
): Promise<ServedBundle> {
  const bundle = await readBundle(bundleDir);
  const data = await Promise.all(bundle.files.map((f) => readFile(f.path)));
  const transferId = randomBytes(16).toString("hex");
  const offer: OtaOffer = {
    format: OFFER_FORMAT,
    transferId,
    manifest: bundle.manifestBytes.toString("utf8"),
    ...(bundle.signature ? { signature: bundle.signature } : {}),
    ...(bundle.keyId ? { keyId: bundle.keyId } : {}),
    chunkSize,
    files: bundle.files.map((f, i) => ({ name: f.name, bytes: data[i]!.length })),
  };
  let served = 0;
  let paused = false;
  mqtt.subscribe(topics.request, (_t, payload) => {
    const req = chunkRequestSchema.parse(JSON.parse(payload.toString("utf8")));
    if (paused || req.transferId !== transferId) return;
    const file = data[req.file]!;
    const total = chunkCount(file.length, chunkSize);
    for (const k of req.chunks) {
      if (options.stopAfter !== undefined && served >= options.stopAfter) return; // the tool died here
      const body = file.subarray(k * chunkSize, Math.min(file.length, (k + 1) * chunkSize));
      served += 1;
      mqtt.inject(topics.chunk, encodeChunk({ transferId, fileIndex: req.file, chunkIndex: k, totalChunks: total }, body));
    }
  });
  mqtt.inject(topics.offer, JSON.stringify(offer), { retain: true });
  return { offer, chunksServed: () => served, pause: () => void (paused = true), resume: () => void (paused = false) };
}

export function lastState(mqtt: FakeMqtt, stateTopic: string): OtaStateMessage | undefined {
  return mqtt.json<OtaStateMessage>(stateTopic).at(-1);
}
