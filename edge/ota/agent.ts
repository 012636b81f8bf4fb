/**
 * The device side of OTA model updates (docs/ota.md):
 *
 *   retained offer --verify signature, sizes, contract, version--> available
 *     --accept (or autoInstall)--> downloading (chunks, resumable)
 *     --> verifying (sha256 of every file) --> installing (atomic write,
 *     new session, golden self-test, swap at a stride boundary, probation)
 *     --> idle with the new installed_version, or rolled_back / failed with a reason
 *
 * Everything that can be refused is refused BEFORE the download when the
 * offer alone tells (signature, sizes, contract, version), so a bad offer
 * costs no bandwidth. Every refusal goes to the retained state topic and the
 * log with a stable `code` and a sentence saying what to fix.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { ContractError, loadManifest, parseManifest, type LoadedContract, type Manifest } from "../contract/manifest.js";
import { OnnxModel, type InferenceConfig } from "../inference/onnxModel.js";
import type { Logger } from "../log.js";
import type { MessageHandler } from "../mqtt/connection.js";
import { ChunkAssembler, decodeChunk } from "./chunkCodec.js";
import { compareSemver, contractDifferences } from "./compatibility.js";
import type { OtaConfig } from "./config.js";
import {
  FLEET_LEVEL,
  fleetOfferTopic,
  offerSchema,
  otaCommandSchema,
  otaTopicsFor,
  type OtaCommandResponse,
  type OtaOffer,
  type OtaReasonCode,
  type OtaStateMessage,
  type OtaStateName,
  type OtaTopics,
} from "./messages.js";
import type { ModelStore } from "./modelStore.js";
import { goldenSelfTest } from "./selfTest.js";
import { loadPublicKeys, verifyManifestSignature, type TrustedKey } from "./signature.js";
import { canTransition, commandRefusal } from "./stateMachine.js";
import type { ModelEntry, ProbationVerdict, StoppableModel, SwappableModel } from "./swappableModel.js";

/** The slice of MqttPublisher the agent uses (tests may substitute). */
export interface OtaMqtt {
  readonly connected: boolean;
  subscribe(filter: string, handler: MessageHandler, qos?: 0 | 1): () => Promise<void>;
  publish(topic: string, payload: string | Buffer, options?: { qos?: 0 | 1; retain?: boolean }): Promise<boolean>;
  publishRetained(topic: string, payload: object | string | Buffer): Promise<void>;
}

/** Loads a verified model folder into a NEW inference session. */
export type ModelLoader = (contract: LoadedContract) => Promise<StoppableModel>;

export function onnxModelLoader(inference?: InferenceConfig): ModelLoader {
  return async (contract) => {
    const p = contract.pipeline;
    const model = new OnnxModel({
      path: contract.modelPath,
      inputName: p.inputName,
      outputName: p.outputName,
      window: p.window,
      features: contract.featureCount,
      joints: p.joints.length,
      config: inference,
    });
    await model.start();
    return model;
  };
}

export interface OtaAgentDeps {
  readonly logger: Logger;
  readonly mqtt: OtaMqtt;
  readonly prefix: string;
  readonly deviceId: string;
  /** The holder every pipeline runs through. */
  readonly models: SwappableModel;
  readonly store: ModelStore;
  readonly loadModel: ModelLoader;
  /** The running model changed (install or rollback): republish model info. */
  readonly onModelChanged: (contract: LoadedContract) => void;
}

interface VerifiedOffer {
  readonly transferId: string;
  readonly topic: string;
  readonly manifestBytes: Buffer;
  readonly manifest: Manifest;
  readonly chunkSize: number;
  readonly files: readonly { name: string; bytes: number; sha256: string }[];
}

interface Download {
  readonly offer: VerifiedOffer;
  readonly assembler: ChunkAssembler;
  lastChunkAtMs: number;
  lastAskedAtMs: number;
  reportedProgress: number;
  readonly timer: NodeJS.Timeout;
}

type Refusal = { ok: false; code: OtaReasonCode; reason: string };
type Evaluation = { ok: true; offer: VerifiedOffer } | { ok: "installed" } | Refusal;

export interface OtaAgentStats {
  offers: number;
  refused: number;
  chunks: number;
  badChunks: number;
  duplicateChunks: number;
  rerequests: number;
  installs: number;
  rollbacks: number;
}

const otaEnvelopeSchema = z.object({ allowDowngrade: z.boolean().optional() }).loose();

/** Thrown inside the install steps: becomes state `failed` with its code. */
class InstallFailure extends Error {
  constructor(
    readonly code: OtaReasonCode,
    message: string,
  ) {
    super(message);
  }
}

export class OtaAgent {
  readonly topics: OtaTopics;
  private keys: TrustedKey[] = [];
  private state: OtaStateMessage;
  /** A verified offer: available, being downloaded, or failed while downloading. */
  private offer: VerifiedOffer | undefined;
  private download: Download | undefined;
  /** Verify/install or a rollback in progress: offers wait, commands are refused. */
  private work: Promise<void> | undefined;
  private queuedOffer: { topic: string; payload: Buffer } | undefined;
  private readonly postponed = new Set<string>();
  /** Transfers already dealt with: the same retained offer arriving again (reconnect) is ignored. */
  private readonly settled = new Set<string>();
  /** Model sha256s undone on this device: not installed again without an explicit accept. */
  private readonly rolledBack = new Set<string>();
  private rollbackByCommand = false;
  private readonly unsubscribes = new Map<string, () => Promise<void>>();
  private stopped = false;
  private readonly counts: OtaAgentStats = { offers: 0, refused: 0, chunks: 0, badChunks: 0, duplicateChunks: 0, rerequests: 0, installs: 0, rollbacks: 0 };

  constructor(
    private readonly config: OtaConfig,
    private readonly deps: OtaAgentDeps,
  ) {
    this.topics = otaTopicsFor(deps.prefix, deps.deviceId);
    this.state = this.message("idle", {});
  }

  /** Loads the trusted keys (a bad key file is a config error) and subscribes. */
  async start(): Promise<void> {
    if (this.deps.deviceId === FLEET_LEVEL) throw new Error(`mqtt.deviceId "${FLEET_LEVEL}" is reserved for fleet offers; choose another device id`);
    this.keys = await loadPublicKeys(this.config.publicKeys);
    this.setState("idle", {});
    const m = this.deps.mqtt;
    this.unsubscribes.set(this.topics.chunk, m.subscribe(this.topics.chunk, (_t, p) => this.onChunk(p)));
    this.unsubscribes.set(this.topics.command, m.subscribe(this.topics.command, (_t, p, retained) => this.onCommandMessage(p, retained)));
    this.subscribeOffers();
    this.deps.logger.info("OTA updates enabled", { keys: this.keys.map((k) => k.keyId), offers: this.offerTopics() });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelDownload();
    await this.work?.catch(() => undefined);
    for (const unsubscribe of this.unsubscribes.values()) await unsubscribe().catch(() => undefined);
    this.unsubscribes.clear();
  }

  get currentState(): Readonly<OtaStateMessage> {
    return this.state;
  }

  stats(): OtaAgentStats {
    return { ...this.counts };
  }

  // ------------------------------------------------------------------ offers

  private offerTopics(): string[] {
    const t = [this.topics.offer];
    if (this.config.fleetId) t.push(fleetOfferTopic(this.deps.prefix, this.config.fleetId));
    return t;
  }

  private subscribeOffers(): void {
    for (const topic of this.offerTopics()) {
      this.unsubscribes.set(topic, this.deps.mqtt.subscribe(topic, (t, p) => this.onOffer(t, p)));
    }
  }

  private onOffer(topic: string, payload: Buffer): void {
    if (this.stopped) return;
    if (this.work || this.deps.models.onProbation) {
      // Verifying, installing or on probation: the latest offer is looked at once that is done.
      this.queuedOffer = { topic, payload };
      return;
    }
    if (payload.length === 0) {
      if (this.offer?.topic !== topic) return;
      this.deps.logger.info(`offer ${this.offer.transferId} withdrawn from ${topic}`);
      this.cancelDownload();
      this.offer = undefined;
      this.setState("idle", { reason: "the offer was withdrawn", code: "withdrawn" });
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString("utf8"));
    } catch (err) {
      this.refuse(undefined, { ok: false, code: "invalid_offer", reason: `offer on ${topic} is not JSON (${(err as Error).message})` });
      return;
    }
    const parsed = offerSchema.safeParse(raw);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "(offer)"}: ${i.message}`).join("; ");
      this.refuse(undefined, { ok: false, code: "invalid_offer", reason: `offer on ${topic} is invalid: ${detail}` });
      return;
    }
    const offer = parsed.data;
    if (offer.transferId === this.offer?.transferId || this.settled.has(offer.transferId)) return; // seen already
    this.counts.offers += 1;
    this.cancelDownload(); // the latest offer wins
    this.offer = undefined;
    const verdict = this.evaluate(offer, topic);
    if (verdict.ok === "installed") {
      this.settled.add(offer.transferId);
      this.deps.logger.info(`offer ${offer.transferId}: this model is already installed`);
      // Said once per offer, so the publisher tool learns it is done.
      this.setState("idle", { transferId: offer.transferId, offeredVersion: this.deps.models.contract.manifest.version, reason: "this model is already installed", progress: 1 });
      return;
    }
    if (!verdict.ok) {
      this.refuse(offer, verdict);
      return;
    }
    const v = verdict.offer;
    this.offer = v;
    this.deps.logger.info(`update offered: ${v.manifest.name} ${v.manifest.version}`, { transferId: v.transferId, topic });
    if (this.rolledBack.has(v.manifest.model.sha256)) {
      this.setState("available", {
        offer: v,
        reason: "this model was rolled back on this device; the `accept` command installs it again",
        code: "rolled_back_before",
      });
    } else if (this.config.autoInstall && !this.postponed.has(v.transferId)) {
      this.startDownload(v);
    } else {
      this.setState("available", { offer: v, ...(this.postponed.has(v.transferId) ? { reason: "postponed", code: "postponed" as const } : {}) });
    }
  }

  /** What the offer alone says: signature, manifest, files and sizes, contract, version. */
  private evaluate(offer: OtaOffer, topic: string): Evaluation {
    const manifestBytes = Buffer.from(offer.manifest, "utf8");
    const sig = verifyManifestSignature(manifestBytes, offer.signature, this.keys, offer.keyId);
    if (!sig.ok) return { ok: false, code: sig.code, reason: sig.reason };

    let raw: unknown;
    let manifest: Manifest;
    try {
      raw = JSON.parse(offer.manifest);
      manifest = parseManifest(raw, "offered manifest");
    } catch (err) {
      return { ok: false, code: "invalid_manifest", reason: `the signed manifest is not a valid model contract: ${(err as Error).message}` };
    }
    if (!manifest.golden) return { ok: false, code: "invalid_manifest", reason: "the manifest names no golden vectors: the model cannot be self-tested" };
    const envelope = otaEnvelopeSchema.safeParse((raw as { ota?: unknown }).ota ?? {});
    const allowDowngrade = envelope.success && envelope.data.allowDowngrade === true;

    // Files: exactly those the signed manifest names (variants optional), sizes as it says.
    const expected = new Map<string, { sha256: string; bytes?: number }>();
    expected.set(manifest.model.file, { sha256: manifest.model.sha256, bytes: manifest.model.bytes });
    expected.set(manifest.golden.file, { sha256: manifest.golden.sha256 });
    for (const v of Object.values(manifest.variants)) expected.set(v.file, { sha256: v.sha256, bytes: v.bytes });
    const files: { name: string; bytes: number; sha256: string }[] = [];
    for (const f of offer.files) {
      const e = expected.get(f.name);
      if (!e) return { ok: false, code: "invalid_offer", reason: `the offer carries ${f.name}, which the signed manifest does not name` };
      if (files.some((x) => x.name === f.name)) return { ok: false, code: "invalid_offer", reason: `the offer lists ${f.name} twice` };
      if (e.bytes !== undefined && f.bytes < e.bytes) {
        return { ok: false, code: "truncated", reason: `truncated: ${f.name} is offered with ${f.bytes} bytes, the signed manifest says ${e.bytes}` };
      }
      if (e.bytes !== undefined && f.bytes > e.bytes) {
        return { ok: false, code: "oversize", reason: `oversize: ${f.name} is offered with ${f.bytes} bytes, the signed manifest says ${e.bytes}` };
      }
      files.push({ name: f.name, bytes: f.bytes, sha256: e.sha256 });
    }
    for (const required of [manifest.model.file, manifest.golden.file]) {
      if (!files.some((f) => f.name === required)) return { ok: false, code: "truncated", reason: `truncated: the offer lacks ${required}` };
    }
    const total = files.reduce((a, f) => a + f.bytes, 0);
    if (total > this.config.maxBytes) {
      return { ok: false, code: "oversize", reason: `oversize: the update is ${total} bytes, ota.maxBytes allows ${this.config.maxBytes}` };
    }

    const running = this.deps.models.contract.manifest;
    const differences = contractDifferences(running, manifest);
    if (differences.length) {
      return {
        ok: false,
        code: "incompatible",
        reason: `incompatible contract: the pipeline would build the wrong features for this model (${differences.join("; ")})`,
      };
    }
    const order = compareSemver(manifest.version, running.version);
    if (order === 0 && manifest.model.sha256 === running.model.sha256) return { ok: "installed" };
    if (order === 0) {
      return {
        ok: false,
        code: "same_version",
        reason: `version ${manifest.version} is installed already with a different model file: give the new build a new version`,
      };
    }
    if (order < 0 && !allowDowngrade) {
      return {
        ok: false,
        code: "downgrade",
        reason: `downgrade refused: ${manifest.version} is lower than the installed ${running.version} (sign the bundle with --allow-downgrade to allow it)`,
      };
    }
    return { ok: true, offer: { transferId: offer.transferId, topic, manifestBytes, manifest, chunkSize: offer.chunkSize, files } };
  }

  private refuse(offer: OtaOffer | undefined, r: Refusal): void {
    this.counts.refused += 1;
    if (offer) this.settled.add(offer.transferId);
    let version: string | null = null;
    try {
      if (offer) version = String((JSON.parse(offer.manifest) as { version?: unknown }).version ?? "") || null;
    } catch {
      version = null;
    }
    this.deps.logger.warn(`update refused: ${r.reason}`, { code: r.code, transferId: offer?.transferId });
    this.setState("failed", { reason: r.reason, code: r.code, offeredVersion: version, transferId: offer?.transferId ?? null });
  }

  // ------------------------------------------------------------------ download

  private startDownload(offer: VerifiedOffer): void {
    this.cancelDownload();
    const now = Date.now();
    const tick = Math.max(20, Math.min(500, Math.floor(this.config.requestTimeoutMs / 4)));
    const timer = setInterval(() => this.onDownloadTick(), tick);
    timer.unref();
    this.download = { offer, assembler: new ChunkAssembler(offer.files.map((f) => f.bytes), offer.chunkSize), lastChunkAtMs: now, lastAskedAtMs: now, reportedProgress: 0, timer };
    this.setState("downloading", { offer, progress: 0 });
    this.requestMore();
  }

  private cancelDownload(): void {
    if (!this.download) return;
    clearInterval(this.download.timer);
    this.download = undefined;
  }

  private requestMore(): void {
    const d = this.download;
    // Offline: nothing is marked as asked for; the tick asks once we are back.
    if (!d || !this.deps.mqtt.connected) return;
    d.lastAskedAtMs = Date.now();
    for (const r of d.assembler.nextRequests(this.config.chunksInFlight)) {
      const body = JSON.stringify({ transferId: d.offer.transferId, file: r.file, chunks: r.chunks });
      void this.deps.mqtt.publish(this.topics.request, body, { qos: 1 }).catch((err: Error) =>
        this.deps.logger.debug(() => `chunk request not sent (${err.message}); asked again after ${this.config.requestTimeoutMs} ms`),
      );
    }
  }

  private onDownloadTick(): void {
    const d = this.download;
    if (!d) return;
    const now = Date.now();
    if (now - d.lastChunkAtMs > this.config.stallTimeoutMs) {
      this.cancelDownload();
      const reason = `download stalled: no chunk for ${Math.round((now - d.lastChunkAtMs) / 1000)} s (is \`gait-edge ota-publish\` still serving?); \`accept\` tries again`;
      this.deps.logger.warn(reason, { transferId: d.offer.transferId });
      this.setState("failed", { offer: d.offer, reason, code: "download_stalled", progress: d.assembler.progress });
      return;
    }
    if (now - Math.max(d.lastChunkAtMs, d.lastAskedAtMs) > this.config.requestTimeoutMs && this.deps.mqtt.connected) {
      // Lost requests or chunks (a reconnect drops in-flight messages): ask again for what is missing.
      this.counts.rerequests += 1;
      d.assembler.forgetOutstanding();
      this.requestMore();
    }
  }

  private onChunk(payload: Buffer): void {
    const d = this.download;
    if (!d) return;
    const decoded = decodeChunk(payload);
    if (!decoded.ok || decoded.chunk.transferId !== d.offer.transferId) {
      if (!decoded.ok) {
        this.counts.badChunks += 1;
        this.deps.logger.warn(`bad OTA chunk ignored (asked again later): ${decoded.error}`);
      }
      return;
    }
    const r = d.assembler.accept(decoded.chunk);
    if (typeof r === "object") {
      this.counts.badChunks += 1;
      this.deps.logger.warn(`bad OTA chunk ignored (asked again later): ${r.error}`);
      return;
    }
    this.counts.chunks += 1;
    if (r === "duplicate") this.counts.duplicateChunks += 1;
    d.lastChunkAtMs = Date.now();
    const progress = d.assembler.progress;
    if (d.assembler.complete) {
      this.cancelDownload();
      this.runWork(() => this.verifyAndInstall(d));
      return;
    }
    if (progress - d.reportedProgress >= 0.05) {
      d.reportedProgress = progress;
      this.setState("downloading", { offer: d.offer, progress });
    }
    this.requestMore();
  }

  // ------------------------------------------------------------------ verify, install, swap

  /** Verify/install in the background; a failure becomes state `failed` with its code. */
  private runWork(job: () => Promise<void>): void {
    this.trackWork(
      job().catch((err: unknown) => {
        const failure = err instanceof InstallFailure ? err : new InstallFailure("install_failed", `installing failed: ${(err as Error).message}`);
        this.counts.refused += 1;
        this.deps.logger.warn(`update failed: ${failure.message}`, { code: failure.code });
        if (this.offer) this.settled.add(this.offer.transferId);
        this.setState("failed", { offer: this.offer, reason: failure.message, code: failure.code, progress: 1 });
        this.offer = undefined;
      }),
    );
  }

  /** While `work` runs, offers wait (the latest is looked at afterwards) and commands are refused. */
  private trackWork(work: Promise<void>): void {
    this.work = work
      .catch(() => undefined)
      .finally(() => {
        this.work = undefined;
        this.takeQueuedOffer();
      });
  }

  private takeQueuedOffer(): void {
    const queued = this.queuedOffer;
    if (!queued || this.stopped || this.work || this.deps.models.onProbation) return;
    this.queuedOffer = undefined;
    this.onOffer(queued.topic, queued.payload);
  }

  private async verifyAndInstall(d: Download): Promise<void> {
    const { offer, assembler } = d;
    this.setState("verifying", { offer, progress: 1 });
    const files = offer.files.map((f, i) => ({ ...f, data: assembler.fileData(i) }));
    for (const f of files) {
      const actual = createHash("sha256").update(f.data).digest("hex");
      if (actual !== f.sha256) {
        throw new InstallFailure("sha256_mismatch", `sha256 mismatch for ${f.name}: the signed manifest says ${f.sha256}, the received file is ${actual}`);
      }
    }

    this.setState("installing", { offer, progress: 1, reason: "writing the model files" });
    const running = this.deps.models.current;
    const store = this.deps.store;
    const folder = await store.install(offer.manifestBytes, offer.manifest, files);
    let contract: LoadedContract;
    try {
      contract = await loadManifest(folder);
    } catch (err) {
      await store.remove(folder);
      throw new InstallFailure("install_failed", `the installed files do not verify: ${(err as Error).message}`);
    }
    let model: StoppableModel;
    try {
      model = await this.deps.loadModel(contract);
    } catch (err) {
      await store.remove(folder);
      throw new InstallFailure("load_failed", `the model does not load: ${(err as Error).message}`);
    }
    let selfTest: Awaited<ReturnType<typeof goldenSelfTest>>;
    try {
      selfTest = await goldenSelfTest(model, contract);
    } catch (err) {
      selfTest = { ok: false, message: err instanceof ContractError || err instanceof Error ? err.message : String(err) };
    }
    if (!selfTest.ok) {
      await model.stop();
      await store.remove(folder);
      throw new InstallFailure("self_test_failed", `golden self-test failed: ${selfTest.message}`);
    }
    this.deps.logger.info(`self-test passed: ${selfTest.message}`);

    await store.commit(folder, running.contract.dir);
    const entry: ModelEntry = { contract, model };
    const watch = this.config.probationStrides;
    this.deps.models.swap(
      entry,
      watch > 0 ? { windows: watch, maxAbsAngleDeg: this.config.maxAbsAngleDeg, onVerdict: (v) => this.onVerdict(v, offer) } : undefined,
    );
    this.counts.installs += 1;
    this.deps.onModelChanged(contract);
    this.deps.logger.info(`model ${contract.manifest.name} ${contract.manifest.version} swapped in`, { folder, previous: running.contract.manifest.version });
    if (watch > 0) {
      this.setState("installing", { offer, progress: 1, reason: `installed; watching its first ${watch} strides` });
    } else {
      await this.promoted(running, offer);
    }
  }

  private onVerdict(v: ProbationVerdict, offer: VerifiedOffer): void {
    const job = v.passed
      ? this.promoted(v.previous, offer)
      : this.undone(v.entry, v.previous, v.reason, this.rollbackByCommand ? "rollback_command" : "probation_failed");
    this.rollbackByCommand = false;
    void job
      .catch((err: Error) => this.deps.logger.error(`after the probation verdict: ${err.message}`))
      .finally(() => this.takeQueuedOffer());
  }

  /** The new model passed: release the old session, tidy the store. */
  private async promoted(previous: ModelEntry, offer: VerifiedOffer): Promise<void> {
    this.settled.add(offer.transferId);
    if (this.offer?.transferId === offer.transferId) this.offer = undefined;
    this.setState("idle", { offer, progress: 1 });
    await this.deps.models.retire(previous);
    await this.deps.store.prune();
  }

  /** `bad` was swapped out again (already: the pipelines run `good`): make it stick on disk and say why. */
  private async undone(bad: ModelEntry, good: ModelEntry, why: string, code: OtaReasonCode): Promise<void> {
    this.counts.rollbacks += 1;
    this.rolledBack.add(bad.contract.manifest.model.sha256);
    if (this.offer) this.settled.add(this.offer.transferId);
    const offer = this.offer;
    this.offer = undefined;
    this.deps.onModelChanged(good.contract);
    await this.deps.store.revert(good.contract.dir);
    const from = bad.contract.manifest.version;
    const to = good.contract.manifest.version;
    const reason = `rolled back from ${from} to ${to}: ${why}`;
    this.deps.logger.warn(reason, { code });
    this.setState("rolled_back", { reason, code, offer, progress: 1 });
    await this.deps.models.retire(bad);
    await this.deps.store.remove(bad.contract.dir);
  }

  /** Rollback command outside probation: load `previous` from disk, self-test, swap. */
  private async rollbackToPrevious(): Promise<void> {
    const store = this.deps.store;
    const target = await store.readPointer("previous");
    if (!target) throw new Error("no previous model to roll back to");
    const running = this.deps.models.current;
    const contract = await loadManifest(target);
    const differences = contractDifferences(running.contract.manifest, contract.manifest);
    if (differences.length) throw new Error(`the previous model no longer fits the running contract: ${differences.join("; ")}`);
    const model = await this.deps.loadModel(contract);
    if (contract.goldenPath) {
      const t = await goldenSelfTest(model, contract);
      if (!t.ok) {
        await model.stop();
        throw new Error(`the previous model fails its golden self-test: ${t.message}`);
      }
    }
    const good: ModelEntry = { contract, model };
    this.deps.models.swap(good);
    await this.undone(running, good, "requested by command", "rollback_command");
  }

  // ------------------------------------------------------------------ commands

  private onCommandMessage(payload: Buffer, retained: boolean): void {
    if (retained) {
      this.deps.logger.warn(`ignoring retained message on ${this.topics.command}: commands must not be retained`);
      return;
    }
    void this.handleCommand(payload).catch((err: Error) => this.deps.logger.error(`OTA command handling failed: ${err.message}`));
  }

  private async handleCommand(payload: Buffer): Promise<void> {
    let raw: unknown;
    let id: string | number | null = null;
    try {
      raw = JSON.parse(payload.toString("utf8"));
    } catch (err) {
      await this.reply({ id, status: "error", error: `invalid JSON: ${(err as Error).message}` });
      return;
    }
    const rawId = (raw as { id?: unknown } | null)?.id;
    if (typeof rawId === "string" || typeof rawId === "number") id = rawId;
    const parsed = otaCommandSchema.safeParse(raw);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`).join("; ");
      await this.reply({ id, status: "error", error: `invalid OTA command: ${detail}` });
      return;
    }
    const command = parsed.data.command;
    const refusal = this.work && command !== "check"
      ? `busy (state ${this.state.state})`
      : commandRefusal(command, {
          state: this.state.state,
          hasOffer: this.offer !== undefined,
          onProbation: this.deps.models.onProbation,
          hasPrevious: (await this.deps.store.readPointer("previous")) !== undefined,
        });
    if (refusal) {
      this.deps.logger.warn(`OTA command ${command} refused: ${refusal}`);
      await this.reply({ id, status: "error", error: refusal });
      return;
    }
    try {
      await this.execute(command);
      this.deps.logger.info(`OTA command ${command} ok`);
      await this.reply({ id, status: "ok", data: this.state });
    } catch (err) {
      this.deps.logger.warn(`OTA command ${command} failed: ${(err as Error).message}`);
      await this.reply({ id, status: "error", error: (err as Error).message });
    }
  }

  private async execute(command: "check" | "accept" | "postpone" | "rollback"): Promise<void> {
    switch (command) {
      case "check": {
        // Forget what was decided and re-read the retained offers: the broker sends them again on subscribe.
        this.settled.clear();
        for (const topic of this.offerTopics()) await this.unsubscribes.get(topic)?.();
        this.subscribeOffers();
        return;
      }
      case "accept": {
        const offer = this.offer!;
        this.postponed.delete(offer.transferId);
        this.rolledBack.delete(offer.manifest.model.sha256);
        this.startDownload(offer);
        return;
      }
      case "postpone": {
        const offer = this.offer;
        if (!offer) throw new Error("nothing to postpone");
        this.postponed.add(offer.transferId);
        this.cancelDownload();
        this.setState("available", { offer, reason: "postponed by command; `accept` installs it", code: "postponed" });
        return;
      }
      case "rollback": {
        if (this.deps.models.onProbation) {
          this.rollbackByCommand = true;
          this.deps.models.failProbation("requested by command");
          return;
        }
        const job = this.rollbackToPrevious();
        this.trackWork(job);
        await job;
        return;
      }
    }
  }

  private async reply(response: OtaCommandResponse): Promise<void> {
    await this.deps.mqtt.publish(this.topics.commandResponse, JSON.stringify(response), { qos: 1 });
  }

  // ------------------------------------------------------------------ state

  private message(
    state: OtaStateName,
    f: { offer?: VerifiedOffer; progress?: number; reason?: string; code?: OtaReasonCode; offeredVersion?: string | null; transferId?: string | null },
  ): OtaStateMessage {
    return {
      state,
      progress: Math.round((f.progress ?? 0) * 1000) / 1000,
      installed_version: this.deps.models.contract.manifest.version,
      offered_version: f.offer?.manifest.version ?? f.offeredVersion ?? null,
      reason: f.reason ?? null,
      code: f.code ?? null,
      transfer_id: f.offer?.transferId ?? f.transferId ?? null,
      since: Date.now(),
    };
  }

  private setState(state: OtaStateName, fields: Parameters<OtaAgent["message"]>[1]): void {
    if (!canTransition(this.state.state, state)) {
      this.deps.logger.error(`OTA state ${this.state.state} -> ${state} is not a legal transition (bug); publishing it anyway`);
    }
    const before = this.state.state;
    this.state = this.message(state, fields);
    if (before !== state) this.deps.logger.info(`OTA ${before} -> ${state}`, { reason: this.state.reason, code: this.state.code });
    void this.deps.mqtt.publishRetained(this.topics.state, this.state).catch((err: Error) =>
      this.deps.logger.warn(`could not publish the OTA state (sent again on reconnect): ${err.message}`),
    );
  }
}

