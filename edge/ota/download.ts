/**
 * Fetching one verified offer's files, chunk by chunk. The device PULLS: it
 * keeps `chunksInFlight` chunks asked for, asks for the next as each arrives,
 * and when nothing arrived for `requestTimeoutMs` (lost messages, a dropped
 * connection) asks again for exactly what is missing. No chunk for
 * `stallTimeoutMs` ends the download as stalled.
 *
 * Bookkeeping of which chunk is where is ChunkAssembler's (pure); this class
 * adds the timer and the MQTT requests, and reports to its owner through
 * callbacks. With a journal (downloadJournal.ts) every stored chunk is also
 * kept on disk, and a download of the same files after a restart starts from
 * what is there.
 */
import { ChunkAssembler, chunkCount, decodeChunk } from "./chunkCodec.js";
import type { DownloadJournal } from "./downloadJournal.js";
import type { OtaConfig } from "./config.js";
import type { OtaMqtt } from "./ports.js";
import type { LogBudget } from "./logBudget.js";
import type { VerifiedOffer } from "./offerEvaluation.js";
import type { Logger } from "../log.js";

export interface DownloadCounts {
  chunks: number;
  badChunks: number;
  duplicateChunks: number;
  rerequests: number;
}

export interface DownloadedFile {
  readonly name: string;
  readonly bytes: number;
  /** From the signed manifest: what `data` must hash to. */
  readonly sha256: string;
  readonly data: Buffer;
}

export interface DownloadDeps {
  readonly mqtt: Pick<OtaMqtt, "connected" | "publish">;
  readonly requestTopic: string;
  readonly logger: Logger;
  readonly config: Pick<OtaConfig, "chunksInFlight" | "requestTimeoutMs" | "stallTimeoutMs">;
  /** The agent's counters, summed over every download. */
  readonly counts: DownloadCounts;
  /** Shared by every download: anyone can publish junk on the chunk topic. */
  readonly badChunkLog: LogBudget;
  /** Keeps chunks on disk across restarts; without one the download lives in memory. */
  readonly journal?: DownloadJournal;
  /** At least 5 % more arrived since the last report. */
  readonly onProgress: (progress: number) => void;
  /** Every chunk is here (not yet hash-checked). The download has ended. */
  readonly onComplete: (files: DownloadedFile[]) => void;
  /** No chunk for stallTimeoutMs. The download has ended. */
  readonly onStalled: (reason: string, progress: number) => void;
  readonly now?: () => number;
}

export class ChunkDownload {
  private readonly assembler: ChunkAssembler;
  private readonly now: () => number;
  private lastChunkAtMs: number;
  private lastAskedAtMs: number;
  private reportedProgress = 0;
  private timer: NodeJS.Timeout | undefined;
  private cancelled = false;
  /** The journal closing after a cancel (stop waits for it). */
  private closing: Promise<void> = Promise.resolve();

  constructor(
    readonly offer: VerifiedOffer,
    private readonly deps: DownloadDeps,
  ) {
    this.assembler = new ChunkAssembler(offer.files.map((f) => f.bytes), offer.chunkSize);
    this.now = deps.now ?? Date.now;
    this.lastChunkAtMs = this.lastAskedAtMs = this.now();
  }

  get progress(): number {
    return this.assembler.progress;
  }

  get active(): boolean {
    return this.timer !== undefined;
  }

  /** Takes what the journal kept, then asks for the rest. Never rejects (a journal problem is logged). */
  async start(): Promise<void> {
    if (this.timer) return;
    const kept = (await this.deps.journal?.open()) ?? [];
    if (this.cancelled) {
      // Cancelled while the journal was opening: close what the open left open.
      await this.deps.journal?.close().catch((err: Error) => this.deps.logger.warn(`closing the partial download: ${err.message}`));
      return;
    }
    for (const c of kept) {
      const bytes = this.offer.files[c.fileIndex]?.bytes ?? 0;
      const totalChunks = chunkCount(bytes, this.offer.chunkSize);
      this.assembler.accept({ transferId: this.offer.transferId, fileIndex: c.fileIndex, chunkIndex: c.chunkIndex, totalChunks, payload: c.payload });
    }
    if (kept.length && this.assembler.complete) {
      this.finish();
      return;
    }
    if (kept.length) this.deps.onProgress((this.reportedProgress = this.assembler.progress));
    this.lastChunkAtMs = this.lastAskedAtMs = this.now();
    // A few ticks per request timeout: re-asking is late by at most a quarter of it.
    const tickMs = Math.max(20, Math.min(500, Math.floor(this.deps.config.requestTimeoutMs / 4)));
    this.timer = setInterval(() => this.onTick(), tickMs);
    this.timer.unref();
    this.requestMore();
  }

  /** Stops asking; what the journal kept stays on disk (accept, or the next start, resumes). */
  cancel(): void {
    this.cancelled = true;
    this.stopTimer();
    if (this.deps.journal) this.closing = this.deps.journal.close().catch((err: Error) => this.deps.logger.warn(`closing the partial download: ${err.message}`));
  }

  /** Resolves once the journal is closed (cancelled) or removed (complete). */
  async closed(): Promise<void> {
    await this.closing;
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every chunk is here: the journal has done its job. */
  private finish(): void {
    this.stopTimer();
    this.cancelled = true;
    if (this.deps.journal) this.closing = this.deps.journal.discard().catch((err: Error) => this.deps.logger.warn(`removing the partial download: ${err.message}`));
    this.deps.onComplete(this.offer.files.map((f, i) => ({ ...f, data: this.assembler.fileData(i) })));
  }

  /** A message on the chunk topic: a chunk of this transfer, of another one (ignored), or junk (counted). */
  onChunkMessage(payload: Buffer): void {
    if (!this.active) return;
    const decoded = decodeChunk(payload);
    if (!decoded.ok) {
      this.badChunk(decoded.error);
      return;
    }
    if (decoded.chunk.transferId !== this.offer.transferId) return;
    const r = this.assembler.accept(decoded.chunk);
    if (typeof r === "object") {
      this.badChunk(r.error);
      return;
    }
    this.deps.counts.chunks += 1;
    if (r === "duplicate") this.deps.counts.duplicateChunks += 1;
    else this.deps.journal?.record(decoded.chunk.fileIndex, decoded.chunk.chunkIndex, decoded.chunk.payload);
    this.lastChunkAtMs = this.now();
    if (this.assembler.complete) {
      this.finish();
      return;
    }
    const progress = this.assembler.progress;
    if (progress - this.reportedProgress >= 0.05) {
      this.reportedProgress = progress;
      this.deps.onProgress(progress);
    }
    this.requestMore();
  }

  private badChunk(error: string): void {
    this.deps.counts.badChunks += 1;
    const budget = this.deps.badChunkLog.take(this.now());
    if (!budget.log) return;
    this.deps.logger.warn(`bad OTA chunk ignored (asked again later): ${error}`, budget.suppressedBefore ? { badChunksNotLogged: budget.suppressedBefore } : {});
  }

  private requestMore(): void {
    // Offline: nothing is marked as asked for; the tick asks once we are back.
    if (!this.active || !this.deps.mqtt.connected) return;
    this.lastAskedAtMs = this.now();
    for (const r of this.assembler.nextRequests(this.deps.config.chunksInFlight)) {
      const body = JSON.stringify({ transferId: this.offer.transferId, file: r.file, chunks: r.chunks });
      void this.deps.mqtt.publish(this.deps.requestTopic, body, { qos: 1 }).catch((err: Error) =>
        this.deps.logger.debug(() => `chunk request not sent (${err.message}); asked again after ${this.deps.config.requestTimeoutMs} ms`),
      );
    }
  }

  private onTick(): void {
    const now = this.now();
    const { stallTimeoutMs, requestTimeoutMs } = this.deps.config;
    if (now - this.lastChunkAtMs > stallTimeoutMs) {
      this.cancel(); // the journal stays: `accept` resumes
      const silentS = Math.round((now - this.lastChunkAtMs) / 1000);
      this.deps.onStalled(`download stalled: no chunk for ${silentS} s (is \`gait-edge ota-publish\` still serving?); \`accept\` tries again`, this.progress);
      return;
    }
    if (now - Math.max(this.lastChunkAtMs, this.lastAskedAtMs) > requestTimeoutMs && this.deps.mqtt.connected) {
      // Lost requests or chunks (a reconnect drops in-flight messages): ask again for what is missing.
      this.deps.counts.rerequests += 1;
      this.assembler.forgetOutstanding();
      this.requestMore();
    }
  }
}
