/**
 * From downloaded bytes to a model ready to swap in, each step able to say no:
 *
 *   verify (sha256 of every file against the signed manifest)
 *   -> store (atomic write into its own folder, re-verified from disk)
 *   -> load (a NEW inference session; the running one is untouched)
 *   -> self-test (the bundle's golden vectors, one window per run)
 *
 * A step that fails throws an InstallFailure with the stable code of docs/ota.md
 * and removes what it wrote. Nothing here swaps or touches a pointer: that is
 * the rollout's job (rollout.ts), once a ready model exists.
 */
import { createHash } from "node:crypto";
import { loadManifest, type LoadedContract } from "../contract/manifest.js";
import type { Logger } from "../log.js";
import { contractDifferences } from "./compatibility.js";
import type { DownloadedFile } from "./download.js";
import type { OtaReasonCode } from "./messages.js";
import type { ModelStore } from "./modelStore.js";
import type { VerifiedOffer } from "./offerEvaluation.js";
import type { ModelLoader } from "./ports.js";
import { goldenSelfTest } from "./selfTest.js";
import type { ModelEntry, StoppableModel } from "./swappableModel.js";

/** Thrown by the install steps: becomes state `failed` with its code. */
export class InstallFailure extends Error {
  override readonly name = "InstallFailure";
  constructor(
    readonly code: OtaReasonCode,
    message: string,
  ) {
    super(message);
  }
}

export interface InstallDeps {
  readonly store: ModelStore;
  readonly loadModel: ModelLoader;
  readonly logger: Logger;
  /** Each step as it starts (the agent reports `verifying`, then `installing`). */
  readonly onStep: (step: "verifying" | "installing") => void;
}

/** A self-tested model in its own store folder and session; not swapped in yet. */
export async function prepareInstall(offer: VerifiedOffer, files: readonly DownloadedFile[], deps: InstallDeps): Promise<ModelEntry> {
  deps.onStep("verifying");
  for (const f of files) {
    const actual = createHash("sha256").update(f.data).digest("hex");
    if (actual !== f.sha256) {
      throw new InstallFailure("sha256_mismatch", `sha256 mismatch for ${f.name}: the signed manifest says ${f.sha256}, the received file is ${actual}`);
    }
  }

  deps.onStep("installing");
  const { store } = deps;
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
    model = await deps.loadModel(contract);
  } catch (err) {
    await store.remove(folder);
    throw new InstallFailure("load_failed", `the model does not load: ${(err as Error).message}`);
  }
  const problem = await selfTestProblem(model, contract, deps.logger);
  if (problem) {
    await model.stop();
    await store.remove(folder);
    throw new InstallFailure("self_test_failed", `golden self-test failed: ${problem}`);
  }
  return { contract, model };
}

/** The `previous` model, loaded again from disk and self-tested, to roll back to by command. */
export async function preparePrevious(running: LoadedContract, deps: Omit<InstallDeps, "onStep">): Promise<ModelEntry> {
  const target = await deps.store.readPointer("previous");
  if (!target) throw new Error("no previous model to roll back to");
  const contract = await loadManifest(target);
  const differences = contractDifferences(running.manifest, contract.manifest);
  if (differences.length) throw new Error(`the previous model no longer fits the running contract: ${differences.join("; ")}`);
  const model = await deps.loadModel(contract);
  // The shipped model of an old config may have no golden vectors: it ran before, so it is not refused for that.
  if (contract.goldenPath) {
    const problem = await selfTestProblem(model, contract, deps.logger);
    if (problem) {
      await model.stop();
      throw new Error(`the previous model fails its golden self-test: ${problem}`);
    }
  }
  return { contract, model };
}

/** Undefined when the golden self-test passes, else what went wrong. */
async function selfTestProblem(model: StoppableModel, contract: LoadedContract, logger: Logger): Promise<string | undefined> {
  try {
    const t = await goldenSelfTest(model, contract);
    if (!t.ok) return t.message;
    logger.info(`self-test passed: ${t.message}`);
    return undefined;
  } catch (err) {
    // A run that throws (or golden.json unreadable) fails the test like a wrong output.
    return err instanceof Error ? err.message : String(err);
  }
}
