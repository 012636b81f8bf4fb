/**
 * Over-the-air model updates (docs/ota.md): a thin module around `OtaAgent`
 * (edge/ota), which does the work. The agent talks MQTT through the
 * connection's `OtaMqtt` slice and swaps models inside the model module's
 * `SwappableModel`; when it has swapped one in, this module says
 * `modelChanged` on the bus (the model module republishes `model`, the
 * recorder writes an event).
 *
 * OTA commands (`ota/command`): the agent's table (`agent.commands()`) is
 * served by the one command server like every other command topic, so the
 * agent does not subscribe to it itself (`serveCommands: false`).
 */
import type { CommandTable, CommandTopic } from "../commands/types.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { InferenceConfig } from "../inference/onnxModel.js";
import type { Logger } from "../log.js";
import { OtaAgent, onnxModelLoader, type OtaMqtt } from "../ota/agent.js";
import type { OtaConfig } from "../ota/config.js";
import { loadPublicKeys } from "../ota/signature.js";
import { ConfigError } from "../runtime/config.js";
import type { CalibrationModule } from "./calibration.js";
import type { ModelModule } from "./model.js";
import type { MountingModule } from "./mounting.js";

export interface OtaModuleDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  readonly mqtt: OtaMqtt;
  readonly model: Pick<ModelModule, "models" | "store">;
  /** Serves the agent's command table on `ota/command`, when it has one. */
  readonly commands: { register(topic: CommandTopic, table: CommandTable): void };
  readonly prefix: string;
  readonly deviceId: string;
  readonly inference: InferenceConfig;
  /** The stored mounting calibrations, so an offer can say which a new model must not use. */
  readonly calibration?: Pick<CalibrationModule, "savedMountings">;
  /** Drops those before such a model is swapped in (they calibrate again from walking). */
  readonly mounting?: Pick<MountingModule, "dropMountings">;
}

export class OtaModule implements Module {
  readonly name = "ota";
  private running: OtaAgent | undefined;

  constructor(
    private readonly config: OtaConfig | undefined,
    private readonly deps: OtaModuleDeps,
  ) {}

  /** The agent, when OTA is on and started. */
  get agent(): OtaAgent | undefined {
    return this.running;
  }

  async start(): Promise<void> {
    const store = this.deps.model.store;
    if (!this.config || !store) return;
    // A missing or malformed key file is the operator's to fix: a ConfigError
    // (exit 78, no systemd restart loop) naming the entry. The agent loads the
    // keys again itself; checking here keeps edge/ota's errors as they are.
    await loadPublicKeys(this.config.publicKeys).catch((err: unknown) => {
      throw new ConfigError(err instanceof Error ? err.message : String(err), { cause: err });
    });
    const agent = new OtaAgent(this.config, {
      logger: this.deps.logger,
      mqtt: this.deps.mqtt,
      prefix: this.deps.prefix,
      deviceId: this.deps.deviceId,
      models: this.deps.model.models,
      store,
      loadModel: onnxModelLoader(this.deps.inference, (e) => this.deps.bus.emit("inferenceHealth", e)),
      onModelChanged: (contract) => this.deps.bus.emit("modelChanged", { contract }),
      serveCommands: false,
      storedMountings: () => this.deps.calibration?.savedMountings() ?? [],
      ...(this.deps.mounting ? { dropMountings: this.deps.mounting.dropMountings.bind(this.deps.mounting) } : {}),
    });
    await agent.start();
    this.deps.commands.register("ota/command", agent.commands());
    this.running = agent;
  }

  async stop(): Promise<void> {
    await this.running?.stop();
  }
}
