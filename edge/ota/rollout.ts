/**
 * Swapping a ready model in, and making it stick or undoing it:
 *
 *   begin:    probation record on disk (current untouched) -> swap at the next stride
 *   passed:   promote on disk (candidate -> current, running -> previous), release the old session
 *   failed:   the old session is running again already (SwappableModel swapped it back);
 *             reject it on disk (rejections.ts), forget the candidate, release its session
 *   rollback: on probation, fail it now; after it, load `previous` from disk, self-test, swap
 *
 * The disk always names a model that proved itself as `current`, so a crash at
 * any point boots a good model (modelStore.ts). The agent learns each outcome
 * through `onOutcome` and turns it into state; this class decides nothing about
 * offers.
 */
import type { LoadedContract } from "../contract/manifest.js";
import type { Logger } from "../log.js";
import type { OtaConfig } from "./config.js";
import { InstallFailure, preparePrevious } from "./install.js";
import type { OtaReasonCode } from "./messages.js";
import { INTERRUPTED_PROBATION, type ModelStore, type ProbationRecord } from "./modelStore.js";
import type { ModelLoader } from "./ports.js";
import { identityOf } from "./rejections.js";
import type { ModelEntry, ProbationVerdict, SwappableModel } from "./swappableModel.js";

export type RolloutOutcome =
  | { readonly kind: "promoted"; readonly contract: LoadedContract; readonly transferId: string | null }
  | {
      readonly kind: "undone";
      readonly fromVersion: string;
      readonly toVersion: string;
      /** Why; the model is in the store's `rejected` list already (not installed again here without `accept`). */
      readonly why: string;
      readonly code: OtaReasonCode;
      readonly transferId: string | null;
    }
  /** The verdict's disk or session work failed: the running model is fine, the store may not say so. */
  | { readonly kind: "error"; readonly message: string; readonly transferId: string | null };

export interface RolloutDeps {
  readonly models: SwappableModel;
  readonly store: ModelStore;
  readonly loadModel: ModelLoader;
  readonly logger: Logger;
  readonly config: Pick<OtaConfig, "probationStrides" | "maxAbsAngleDeg">;
  /** The running model changed (swap in, or back): republish model info. */
  readonly onModelChanged: (contract: LoadedContract) => void;
  readonly onOutcome: (outcome: RolloutOutcome) => void;
  /** A verdict's work is over (offers that waited may be looked at). */
  readonly onSettled: () => void;
}

/** A probation the process died in (ModelStore found its record at start), as the outcome it amounts to. */
export function interruptedProbationOutcome(record: ProbationRecord, runningVersion: string): RolloutOutcome {
  return {
    kind: "undone",
    fromVersion: record.version,
    toVersion: runningVersion,
    why: INTERRUPTED_PROBATION,
    code: "probation_failed",
    transferId: record.transferId,
  };
}

export class ModelRollout {
  private rollbackRequested = false;
  /** Promotion or undo of the latest verdict, while it runs. */
  private settling: Promise<void> | undefined;

  constructor(private readonly deps: RolloutDeps) {}

  /** On probation, or the verdict's work still running: nothing else may swap. */
  get busy(): boolean {
    return this.deps.models.onProbation || this.settling !== undefined;
  }

  get onProbation(): boolean {
    return this.deps.models.onProbation;
  }

  /** Resolves once the latest verdict's disk and session work is over (stop). */
  async idle(): Promise<void> {
    await this.settling;
  }

  /** Swap a ready (self-tested) model in, on probation; with probationStrides 0 it is promoted at once. */
  async begin(entry: ModelEntry, transferId: string | null): Promise<void> {
    const { models, store, config, logger } = this.deps;
    const running = models.current;
    const m = entry.contract.manifest;
    const record: ProbationRecord = {
      folder: entry.contract.dir,
      running: running.contract.dir,
      name: m.name,
      version: m.version,
      modelSha256: m.model.sha256,
      transferId,
    };
    // On disk before the swap: from here a crash boots `running` and reports the candidate.
    try {
      await store.beginProbation(record);
    } catch (err) {
      // Not swapped in: release what the install prepared, as any failed install step does.
      await entry.model.stop();
      await store.remove(record.folder);
      throw new InstallFailure("install_failed", `cannot record the probation on disk: ${(err as Error).message}`);
    }
    const watch = config.probationStrides;
    models.swap(entry, watch > 0 ? { windows: watch, maxAbsAngleDeg: config.maxAbsAngleDeg, onVerdict: (v) => this.onVerdict(v, record) } : undefined);
    this.deps.onModelChanged(entry.contract);
    logger.info(`model ${m.name} ${m.version} swapped in`, { folder: record.folder, previous: running.contract.manifest.version, probationStrides: watch });
    if (watch === 0) await this.promote(record, running);
  }

  /**
   * Roll back by command. On probation: the kept old model at once (resolves
   * once the undo is on disk). Otherwise: `previous` from disk, self-tested,
   * swapped in; `current` then names it and `previous` is removed.
   */
  async rollback(): Promise<void> {
    const { models, store } = this.deps;
    if (models.onProbation) {
      this.rollbackRequested = true;
      models.failProbation("requested by command");
      await this.settling;
      return;
    }
    const running = models.current;
    const good = await preparePrevious(running.contract, this.deps);
    models.swap(good);
    await this.undo(running, good, "requested by command", "rollback_command", null, () => store.revert(good.contract.dir));
  }

  private onVerdict(v: ProbationVerdict, record: ProbationRecord): void {
    const code: OtaReasonCode = this.rollbackRequested ? "rollback_command" : "probation_failed";
    this.rollbackRequested = false;
    const job = v.passed
      ? this.promote(record, v.previous)
      : this.undo(v.entry, v.previous, v.reason, code, record.transferId, () => this.deps.store.abandonProbation(record));
    this.settling = job
      .catch((err: Error) => {
        this.deps.logger.error(`after the probation verdict on ${record.version}: ${err.message}`);
        this.deps.onOutcome({ kind: "error", message: `after the probation verdict: ${err.message}`, transferId: record.transferId });
      })
      .finally(() => {
        this.settling = undefined;
        this.deps.onSettled();
      });
  }

  /** The candidate passed: it is the boot model from now on; release the old session, tidy the store. */
  private async promote(record: ProbationRecord, previous: ModelEntry): Promise<void> {
    await this.deps.store.promote(record);
    this.deps.onOutcome({ kind: "promoted", contract: this.deps.models.current.contract, transferId: record.transferId });
    await this.deps.models.retire(previous);
    await this.deps.store.prune();
  }

  /** `bad` is swapped out already (the pipelines run `good`): make it stick on disk, say why, release it. */
  private async undo(bad: ModelEntry, good: ModelEntry, why: string, code: OtaReasonCode, transferId: string | null, onDisk: () => Promise<void>): Promise<void> {
    this.deps.onModelChanged(good.contract);
    const from = bad.contract.manifest;
    // Rejected on disk BEFORE the disk forgets the model: a crash in between leaves the
    // probation record (or `current` on it), and the next start decides again (modelStore.ts).
    const reason = code === "rollback_command" ? `rolled back by command (${why})` : `failed its probation: ${why}`;
    await this.deps.store.reject({ ...identityOf(from), reason, code, transferId }).catch((err: Error) =>
      // The undo itself must go on: the good model runs already. This process keeps the rejection.
      this.deps.logger.error(`cannot record ${from.name} ${from.version} as rolled back on disk; after a restart its offer may install it again: ${err.message}`),
    );
    await onDisk();
    this.deps.onOutcome({ kind: "undone", fromVersion: from.version, toVersion: good.contract.manifest.version, why, code, transferId });
    await this.deps.models.retire(bad);
    await this.deps.store.remove(bad.contract.dir);
  }
}
