/**
 * The model: loads and checks the contract (from the OTA store's `current`
 * when OTA is on, else `config.model`), opens the int8 session behind the
 * `SwappableModel` holder every pipeline runs through, publishes the retained
 * `model` topic, and answers `get_model`.
 *
 * Started first: a malformed or incompatible model is a clear error before
 * anything else opens.
 */
import { z } from "zod";
import { command, type CommandTable } from "../commands/types.js";
import { ContractError, loadManifest, type LoadedContract } from "../contract/manifest.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import type { Module } from "../core/module.js";
import { InferencePool, type InferencePoolStats } from "../inference/inferencePool.js";
import type { InferenceConfig } from "../inference/onnxModel.js";
import type { Logger } from "../log.js";
import type { DevicePublisher } from "../mqtt/devicePublisher.js";
import type { ModelInfoMessage } from "../mqtt/topics.js";
import { unsupportedReasons } from "../ota/compatibility.js";
import { ModelStore } from "../ota/modelStore.js";
import { onnxModelLoader } from "../ota/ports.js";
import { SwappableModel } from "../ota/swappableModel.js";

export interface ModelModuleConfig {
  /** manifest.json (or its folder) to run when there is no OTA store or it holds nothing. */
  readonly model: string;
  readonly inference: InferenceConfig;
  /** The OTA store folder, when OTA is on. */
  readonly otaDir?: string;
}

export interface ModelModuleDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  readonly device: Pick<DevicePublisher, "publishRetained">;
}

export class ModelModule implements Module {
  readonly name = "model";
  private loaded: { contract: LoadedContract; models: SwappableModel; store: ModelStore | undefined } | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly config: ModelModuleConfig,
    private readonly deps: ModelModuleDeps,
  ) {}

  async start(): Promise<void> {
    const log = this.deps.logger;
    const store = this.config.otaDir ? new ModelStore(this.config.otaDir, { logger: log.child("ota") }) : undefined;
    const contract = store ? await store.loadStartModel(this.config.model) : await loadManifest(this.config.model);
    // The rules an OTA offer is held to (docs/ota.md) hold at start too: a v2 model trained
    // with another calibration than this build's would get rotations it never saw.
    const unsupported = unsupportedReasons(contract.manifest);
    if (unsupported.length) throw new ContractError(`${contract.manifestPath}: ${unsupported.join("; ")}`);
    // The same loader OTA uses for a new model, so both sessions are built alike.
    const model = await onnxModelLoader(this.config.inference, (e) => this.deps.bus.emit("inferenceHealth", e))(contract);
    this.loaded = { contract, models: new SwappableModel({ contract, model }), store };
    log.info(`model ${contract.manifest.name} ${contract.manifest.version} loaded`, { placements: contract.pipeline.placements, file: contract.modelPath });
    this.unsubscribe = this.deps.bus.on("modelChanged", ({ contract: next }) => {
      this.running.contract = next;
      this.publishInfo();
    });
    this.publishInfo();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    const loaded = this.loaded;
    this.loaded = undefined;
    await loaded?.models.stop(); // releases every session the holder knows
  }

  /** The contract of the model running now (changes after an OTA install or rollback). */
  get contract(): LoadedContract {
    return this.running.contract;
  }

  /** The holder every pipeline runs through, so an update swaps the model at a stride boundary. */
  get models(): SwappableModel {
    return this.running.models;
  }

  /** The OTA store, when OTA is on. */
  get store(): ModelStore | undefined {
    return this.running.store;
  }

  /** The running model's pool of inference workers, when it runs on one (not under a batcher). */
  inferenceStats(): InferencePoolStats | undefined {
    const model = this.loaded?.models.current.model;
    return model instanceof InferencePool ? model.stats() : undefined;
  }

  info(): ModelInfoMessage {
    return modelInfo(this.contract);
  }

  commands(): CommandTable {
    return {
      get_model: command({
        summary: "what the device is running (the retained `model` topic's payload)",
        args: z.object({}).strict(),
        run: async () => this.info(),
      }),
    };
  }

  private get running(): NonNullable<ModelModule["loaded"]> {
    if (!this.loaded) throw new Error("the model module is not started");
    return this.loaded;
  }

  private publishInfo(): void {
    void this.deps.device
      .publishRetained("model", this.info())
      .catch((err: unknown) => this.deps.logger.warn(`could not publish model info (sent again on reconnect): ${(err as Error).message}`));
  }
}

/** Pure: the retained `model` payload of a contract. */
export function modelInfo(contract: LoadedContract): ModelInfoMessage {
  const m = contract.manifest;
  const p = contract.pipeline;
  return {
    name: m.name,
    version: m.version,
    joints: [...p.joints],
    units: "deg",
    sampleRateHz: p.sampleRateHz,
    windowSamples: p.window,
    strideSamples: p.stride,
    sha256: m.model.sha256,
  };
}
