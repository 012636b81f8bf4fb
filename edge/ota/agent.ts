/**
 * The device side of OTA model updates (docs/ota.md), as a coordinator of
 * parts with one job each. (Over 400 lines on purpose: the state machine
 * that sequences the parts and its transitions read best in one place; the
 * work of every step lives in its own file below.)
 *
 *   offer       offerEvaluation.ts   pure: schema, signature, files, contract, version
 *   download    download.ts          chunks pulled over MQTT, resumable
 *   install     install.ts           sha256 -> store -> new session -> golden self-test
 *   rollout     rollout.ts           probation record -> swap -> promote, or undo
 *   state       statePublisher.ts    the retained ota/state topic
 *   commands    commands.ts          check / accept / postpone / rollback / forget_rejected
 *   rejected    rejections.ts        models undone here, on disk: their offers wait for `accept`
 *
 *   retained offer --verified--> available --accept (or autoInstall)--> downloading
 *     --> verifying --> installing (also while on probation)
 *     --> idle with the new installed_version, or rolled_back / failed with a reason
 *
 * This class holds the decisions that span parts: which verified offer is
 * current, which transfers were dealt with, whether an offered model was
 * undone here before (the store's list), and what may run while something
 * else does. Every refusal goes to the log
 * with a stable `code` and a sentence saying what to fix; an offer nobody has
 * verified never disturbs an update in progress.
 */
import type { CommandTable } from "../commands/types.js";
import { manifestCalibration, type LoadedContract } from "../contract/manifest.js";
import type { Logger } from "../log.js";
import type { SavedMounting } from "../runtime/calibrationFile.js";
import { otaCommandTable, serveCommandTopic, type OtaCommandArgs } from "./commands.js";
import { staleMountingEntries } from "./compatibility.js";
import type { OtaConfig } from "./config.js";
import { OtaDecisions } from "./decisions.js";
import { ChunkDownload, type DownloadCounts, type DownloadedFile } from "./download.js";
import { DownloadJournal } from "./downloadJournal.js";
import { InstallFailure, prepareInstall } from "./install.js";
import { LogBudget } from "./logBudget.js";
import { FLEET_LEVEL, fleetOfferTopic, otaTopicsFor, type OtaCommandName, type OtaOffer, type OtaStateMessage, type OtaTopics } from "./messages.js";
import type { ModelStore } from "./modelStore.js";
import { claimedVersion, evaluateOffer, parseOffer, type Refusal, type VerifiedOffer } from "./offerEvaluation.js";
import type { ModelLoader, OtaMqtt } from "./ports.js";
import { interruptedProbationOutcome, ModelRollout, type RolloutOutcome } from "./rollout.js";
import { findRejection, heldOfferReason, identityOf } from "./rejections.js";
import { loadPublicKeys, verifyManifestSignature, type TrustedKey } from "./signature.js";
import { commandRefusal } from "./stateMachine.js";
import { OtaStatePublisher } from "./statePublisher.js";
import type { SwappableModel } from "./swappableModel.js";

export { onnxModelLoader, type ModelLoader, type OtaMqtt } from "./ports.js";

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
  /**
   * Serve `ota/command` here (default true). False once the device's shared
   * command server serves `commands()` on that topic.
   */
  readonly serveCommands?: boolean;
  /** The mounting calibrations in `calibration.file` now (the calibration module's); none when absent. */
  readonly storedMountings?: () => readonly SavedMounting[];
  /**
   * Forget these mountings (the mounting module's `dropMountings`: in memory at once, then in
   * `calibration.file`); their sensors calibrate again from walking. Called before a model that
   * must not use them is swapped in (compatibility.ts, `staleMountings`).
   */
  readonly dropMountings?: (mountings: readonly SavedMounting[], reason: string) => Promise<void>;
}

export interface OtaAgentStats extends DownloadCounts {
  offers: number;
  refused: number;
  installs: number;
  rollbacks: number;
  /** Transfer ids remembered as dealt with or postponed: bounded, whatever is offered. */
  rememberedTransfers: number;
}

/** Refusals and bad chunks logged per minute (each kind); the rest are counted into the next line. */
const LOG_LINES_PER_MINUTE = 20;

export class OtaAgent {
  readonly topics: OtaTopics;
  private keys: TrustedKey[] = [];
  private readonly state: OtaStatePublisher;
  private readonly rollout: ModelRollout;
  private readonly commandTable: CommandTable;
  /** A verified offer: available, being downloaded, or failed while downloading. */
  private offer: VerifiedOffer | undefined;
  private download: ChunkDownload | undefined;
  /** Verify/install or a rollback from disk in progress: offers wait, commands are refused. */
  private work: Promise<void> | undefined;
  /** The latest signed offer that arrived while busy; looked at once idle. */
  private queuedOffer: { topic: string; payload: Buffer } | undefined;
  private readonly decisions = new OtaDecisions();
  private readonly refusalLog = new LogBudget(LOG_LINES_PER_MINUTE, 60_000);
  private readonly badChunkLog = new LogBudget(LOG_LINES_PER_MINUTE, 60_000);
  private readonly unsubscribes = new Map<string, () => Promise<void>>();
  private stopped = false;
  private readonly counts: Omit<OtaAgentStats, "rememberedTransfers"> = {
    offers: 0, refused: 0, chunks: 0, badChunks: 0, duplicateChunks: 0, rerequests: 0, installs: 0, rollbacks: 0,
  };

  constructor(
    private readonly config: OtaConfig,
    private readonly deps: OtaAgentDeps,
  ) {
    this.topics = otaTopicsFor(deps.prefix, deps.deviceId);
    this.state = new OtaStatePublisher({
      mqtt: deps.mqtt,
      topic: this.topics.state,
      logger: deps.logger,
      installedVersion: () => deps.models.contract.manifest.version,
      rejected: () => deps.store.rejected(),
    });
    this.rollout = new ModelRollout({
      models: deps.models,
      store: deps.store,
      loadModel: deps.loadModel,
      logger: deps.logger,
      config,
      onModelChanged: (c) => deps.onModelChanged(c),
      onOutcome: (o) => this.onRolloutOutcome(o),
      onSettled: () => this.takeQueuedOffer(),
    });
    this.commandTable = otaCommandTable({
      refusal: (name) => this.commandRefusal(name),
      run: (name, args) => this.runCommand(name, args),
      state: () => this.state.current,
      logger: deps.logger,
    });
  }

  /** Loads the trusted keys (a bad key file is a config error), reports an interrupted probation, subscribes. */
  async start(): Promise<void> {
    if (this.deps.deviceId === FLEET_LEVEL) throw new Error(`mqtt.deviceId "${FLEET_LEVEL}" is reserved for fleet offers; choose another device id`);
    this.keys = await loadPublicKeys(this.config.publicKeys);
    // Idempotent after ModelStore.loadStartModel; here so a probation a crash interrupted is always found.
    await this.deps.store.recover();
    const interrupted = this.deps.store.takeInterruptedProbation();
    if (interrupted) this.onRolloutOutcome(interruptedProbationOutcome(interrupted, this.deps.models.contract.manifest.version));
    else this.state.set("idle", {});
    const m = this.deps.mqtt;
    this.unsubscribes.set(this.topics.chunk, m.subscribe(this.topics.chunk, (_t, p) => this.download?.onChunkMessage(p)));
    if (this.deps.serveCommands ?? true) {
      this.unsubscribes.set(this.topics.command, serveCommandTopic({ mqtt: m, topic: this.topics.command, table: this.commandTable, logger: this.deps.logger }));
    }
    this.subscribeOffers();
    this.deps.logger.info("OTA updates enabled", { keys: this.keys.map((k) => k.keyId), offers: this.offerTopics() });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const download = this.download;
    this.cancelDownload();
    await download?.closed();
    await this.work?.catch(() => undefined); // its failure was reported when it happened
    await this.rollout.idle();
    for (const unsubscribe of this.unsubscribes.values()) {
      await unsubscribe().catch((err: Error) => this.deps.logger.warn(`OTA: unsubscribing failed: ${err.message}`));
    }
    this.unsubscribes.clear();
  }

  /** check, accept, postpone, rollback, forget_rejected: for the device's command server (edge/commands/types.ts). */
  commands(): CommandTable {
    return this.commandTable;
  }

  get currentState(): Readonly<OtaStateMessage> {
    return this.state.current;
  }

  stats(): OtaAgentStats {
    return { ...this.counts, rememberedTransfers: this.decisions.rememberedTransfers };
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

  /** Verifying, installing, on probation or settling its verdict: offers wait. */
  private get busy(): boolean {
    return this.work !== undefined || this.rollout.busy;
  }

  private onOffer(topic: string, payload: Buffer): void {
    if (this.stopped) return;
    if (payload.length === 0) {
      this.onWithdrawal(topic);
      return;
    }
    const parsed = parseOffer(payload, topic);
    if (!parsed.ok) {
      this.refuse(undefined, parsed);
      return;
    }
    const offer = parsed.offer;
    if (offer.transferId === this.offer?.transferId || this.decisions.isSettled(offer.transferId)) return; // seen already
    if (this.busy) {
      // Looked at once the update in progress is done. Only a signed offer may take the
      // place in the queue: junk must not push out a real one.
      const sig = verifyManifestSignature(Buffer.from(offer.manifest, "utf8"), offer.signature, this.keys, offer.keyId);
      if (sig.ok) this.queuedOffer = { topic, payload };
      else this.refuse(offer, sig);
      return;
    }
    this.counts.offers += 1;
    const verdict = evaluateOffer(offer, topic, {
      keys: this.keys,
      maxBytes: this.config.maxBytes,
      running: this.deps.models.contract.manifest,
      storedMountings: this.deps.storedMountings?.() ?? [],
    });
    if (!verdict.ok) {
      this.refuse(offer, verdict);
      return;
    }
    // Signed, valid and fitting: the latest such offer wins over one in progress.
    this.cancelDownload();
    this.offer = undefined;
    if (verdict.ok === "installed") {
      this.decisions.settle(offer.transferId);
      this.deps.logger.info(`offer ${offer.transferId}: this model is already installed`);
      // Said once per offer, so the publisher tool learns it is done.
      this.state.set("idle", { transferId: offer.transferId, offeredVersion: this.deps.models.contract.manifest.version, reason: "this model is already installed", progress: 1 });
      return;
    }
    const v = verdict.offer;
    this.offer = v;
    this.deps.logger.info(`update offered: ${v.manifest.name} ${v.manifest.version}`, { transferId: v.transferId, topic });
    if (v.recalibrate.length) {
      this.deps.logger.warn(
        `update ${v.manifest.version}: the stored calibrations of ${v.recalibrate.join(", ")} were made by another calibration algorithm than this model's; ` +
          "those sensors calibrate again from walking once it runs",
        { transferId: v.transferId },
      );
    }
    const rejected = findRejection(this.deps.store.rejected(), identityOf(v.manifest));
    if (rejected) {
      const reason = heldOfferReason(rejected);
      this.deps.logger.warn(`offer ${v.transferId}: ${reason}`);
      this.state.set("available", { offer: v, reason, code: "rolled_back_before" });
    } else if (this.config.autoInstall && !this.decisions.isPostponed(v.transferId)) {
      this.startDownload(v);
    } else {
      this.state.set("available", { offer: v, ...(this.decisions.isPostponed(v.transferId) ? { reason: "postponed", code: "postponed" as const } : {}) });
    }
  }

  private onWithdrawal(topic: string): void {
    if (this.busy) {
      // The withdrawal is the latest word on that topic: it replaces a queued offer from there.
      if (this.queuedOffer?.topic === topic) this.queuedOffer = undefined;
      return;
    }
    if (this.offer?.topic !== topic) return;
    this.deps.logger.info(`offer ${this.offer.transferId} withdrawn from ${topic}`);
    this.cancelDownload();
    this.offer = undefined;
    this.state.set("idle", { reason: "the offer was withdrawn", code: "withdrawn" });
  }

  /**
   * Counted, logged (rate-limited: anyone can send offers) and remembered. It
   * reaches the state topic only when nothing else is going on: a refused
   * offer must not hide a download, or an offer waiting for `accept`.
   */
  private refuse(offer: OtaOffer | undefined, r: Refusal): void {
    this.counts.refused += 1;
    this.decisions.settle(offer?.transferId);
    const budget = this.refusalLog.take(Date.now());
    if (budget.log) {
      const held = budget.suppressedBefore ? { refusalsNotLogged: budget.suppressedBefore } : {};
      this.deps.logger.warn(`update refused: ${r.reason}`, { code: r.code, transferId: offer?.transferId, ...held });
    }
    if (this.offer || this.download || this.busy) return;
    this.state.set("failed", { reason: r.reason, code: r.code, offeredVersion: offer ? claimedVersion(offer) : null, transferId: offer?.transferId ?? null });
  }

  private takeQueuedOffer(): void {
    const queued = this.queuedOffer;
    if (!queued || this.stopped || this.busy) return;
    this.queuedOffer = undefined;
    this.onOffer(queued.topic, queued.payload);
  }

  // ------------------------------------------------------------------ download

  private startDownload(offer: VerifiedOffer): void {
    this.cancelDownload();
    const download = new ChunkDownload(offer, {
      mqtt: this.deps.mqtt,
      requestTopic: this.topics.request,
      logger: this.deps.logger,
      config: this.config,
      counts: this.counts,
      badChunkLog: this.badChunkLog,
      journal: new DownloadJournal(this.deps.store.dir, offer, this.deps.logger),
      onProgress: (progress) => this.state.set("downloading", { offer, progress }),
      onComplete: (files) => {
        this.download = undefined;
        // The journal goes first: an install (and its probation) must never overlap the
        // journal's removal, or a process started on this folder after a kill -9 sees a
        // half-removed `.partial` (the removal's own failure is logged by the download).
        this.runWork(async () => {
          await download.closed();
          await this.install(offer, files);
        });
      },
      onStalled: (reason, progress) => {
        this.download = undefined;
        this.deps.logger.warn(reason, { transferId: offer.transferId });
        this.state.set("failed", { offer, reason, code: "download_stalled", progress });
      },
    });
    this.download = download;
    this.state.set("downloading", { offer, progress: 0 });
    void download.start().catch((err: Error) => this.deps.logger.error(`starting the download failed (bug): ${err.message}`));
  }

  private cancelDownload(): void {
    this.download?.cancel();
    this.download = undefined;
  }

  // ------------------------------------------------------------------ install

  /** A job in the background; a failure becomes state `failed` with its code. */
  private runWork(job: () => Promise<void>): void {
    this.trackWork(
      job().catch((err: unknown) => {
        const failure = err instanceof InstallFailure ? err : new InstallFailure("install_failed", `installing failed: ${(err as Error).message}`);
        this.counts.refused += 1;
        this.deps.logger.warn(`update failed: ${failure.message}`, { code: failure.code });
        this.decisions.settle(this.offer?.transferId);
        this.state.set("failed", { offer: this.offer, reason: failure.message, code: failure.code, progress: 1 });
        this.offer = undefined;
      }),
    );
  }

  /** While `work` runs, offers wait (the latest is looked at afterwards) and commands but check are refused. */
  private trackWork(work: Promise<void>): void {
    this.work = work
      .catch(() => undefined) // reported by whoever started it (runWork, or the command's reply)
      .finally(() => {
        this.work = undefined;
        this.takeQueuedOffer();
      });
  }

  private async install(offer: VerifiedOffer, files: DownloadedFile[]): Promise<void> {
    const entry = await prepareInstall(offer, files, {
      store: this.deps.store,
      loadModel: this.deps.loadModel,
      logger: this.deps.logger,
      onStep: (step) => this.state.set(step, { offer, progress: 1, ...(step === "installing" ? { reason: "writing the model files" } : {}) }),
    });
    await this.dropStaleMountings(offer);
    await this.rollout.begin(entry, offer.transferId);
    this.counts.installs += 1;
    // With probationStrides 0 the rollout promoted it already (state idle).
    if (this.rollout.onProbation) {
      this.state.set("installing", { offer, progress: 1, reason: `installed; watching its first ${this.config.probationStrides} strides` });
    }
  }

  /**
   * The stored mountings this model must not use, dropped before it is swapped in (read
   * again now: the file may have changed during the download). They are stale for the
   * running model as well (the contract check, docs/ota.md check 4, makes both calibrations identical), so dropping them
   * is right even if the swap then fails. A failure is logged, never hidden.
   */
  private async dropStaleMountings(offer: VerifiedOffer): Promise<void> {
    const stale = staleMountingEntries(manifestCalibration(offer.manifest), this.deps.storedMountings?.() ?? []);
    if (!stale.length) return;
    const which = stale.map((m) => `${m.wearer}/${m.placement}`).join(", ");
    const drop = this.deps.dropMountings;
    if (!drop) {
      this.deps.logger.warn(`update ${offer.manifest.version}: the stored mountings of ${which} were made by another calibration algorithm, and nothing here can drop them`);
      return;
    }
    const reason = `stored calibration made by another calibration algorithm than model ${offer.manifest.version}'s; recalibrating from walking`;
    try {
      await drop(stale, reason);
      this.deps.logger.info(`update ${offer.manifest.version}: dropped the stored mountings of ${which}; they calibrate again from walking`);
    } catch (err) {
      this.deps.logger.error(`update ${offer.manifest.version}: dropping the stored mountings of ${which} failed (after a restart they may be used again): ${(err as Error).message}`);
    }
  }

  private onRolloutOutcome(o: RolloutOutcome): void {
    const offer = o.transferId !== null && this.offer?.transferId === o.transferId ? this.offer : undefined;
    this.decisions.settle(o.transferId);
    if (offer) this.offer = undefined;
    switch (o.kind) {
      case "promoted":
        this.state.set("idle", { offer, transferId: o.transferId, offeredVersion: o.contract.manifest.version, progress: 1 });
        return;
      case "undone": {
        this.counts.rollbacks += 1; // the rollout put it on the store's `rejected` list already
        const reason = `rolled back from ${o.fromVersion} to ${o.toVersion}: ${o.why}`;
        this.deps.logger.warn(reason, { code: o.code });
        this.state.set("rolled_back", { offer, transferId: o.transferId, offeredVersion: o.fromVersion, reason, code: o.code, progress: 1 });
        return;
      }
      case "error":
        this.state.set("failed", { offer, transferId: o.transferId, reason: o.message, code: "install_failed", progress: 1 });
        return;
    }
  }

  // ------------------------------------------------------------------ commands

  private async commandRefusal(name: OtaCommandName): Promise<string | undefined> {
    if (this.work && name !== "check" && name !== "forget_rejected") return `busy (state ${this.state.current.state})`;
    return commandRefusal(name, {
      state: this.state.current.state,
      hasOffer: this.offer !== undefined,
      onProbation: this.rollout.onProbation,
      hasPrevious: (await this.deps.store.readPointer("previous")) !== undefined,
    });
  }

  private async runCommand(name: OtaCommandName, args: OtaCommandArgs): Promise<void> {
    switch (name) {
      case "check": {
        // Forget what was decided and re-read the retained offers: the broker sends them again on subscribe.
        this.decisions.forgetSettled();
        for (const topic of this.offerTopics()) await this.unsubscribes.get(topic)?.();
        this.subscribeOffers();
        return;
      }
      case "accept": {
        const offer = this.offer;
        if (!offer) throw new Error("nothing to accept: no valid offer is available");
        this.decisions.acceptAgain(offer.transferId);
        // An operator's word over the device's: a rollback of this very model is forgotten (a new one is recorded if it fails again).
        await this.deps.store.forgetRejected({ model: identityOf(offer.manifest) });
        this.startDownload(offer);
        return;
      }
      case "postpone": {
        const offer = this.offer;
        if (!offer) throw new Error("nothing to postpone");
        this.decisions.postpone(offer.transferId);
        this.cancelDownload();
        this.state.set("available", { offer, reason: "postponed by command; `accept` installs it", code: "postponed" });
        return;
      }
      case "rollback": {
        if (this.rollout.onProbation) {
          await this.rollout.rollback();
          return;
        }
        // From disk: load, self-test, swap; offers wait meanwhile.
        const job = this.rollout.rollback();
        this.trackWork(job);
        await job;
        return;
      }
      case "forget_rejected":
        await this.forgetRejected(args.digest);
        return;
    }
  }

  /** Forget the rollbacks of the model file `digest` (all when absent); an offer held for one is available for `accept` again. */
  private async forgetRejected(digest: string | undefined): Promise<void> {
    const forgotten = await this.deps.store.forgetRejected(digest ? { digest } : { all: true });
    if (forgotten === 0) throw new Error(digest ? `no model rolled back here has the model sha256 ${digest}` : "no model is listed as rolled back here");
    this.deps.logger.info(`forgot ${forgotten} rolled-back model(s)`, { digest: digest ?? "all" });
    const offer = this.offer;
    const held = offer !== undefined && this.state.current.code === "rolled_back_before";
    if (held && !findRejection(this.deps.store.rejected(), identityOf(offer.manifest))) {
      this.state.set("available", { offer, reason: "its rollback was forgotten; `accept` installs it" });
    } else {
      this.state.refresh(); // the same state, with the shorter list
    }
  }
}
