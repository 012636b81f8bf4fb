/**
 * The edge runtime: config in, angles out. This file is only the composition
 * root: it builds the modules (edge/modules), wires them to one typed event
 * bus (edge/core) and to the MQTT layers (edge/mqtt), and starts them in the
 * dependency order of `modules` below (stops them in reverse):
 *
 *   sources --sample--> pipelines --angles--> angle publisher, recorder, gait
 *                                 --sampleAngles--> angle publisher (per-sample mode)
 *                                 --health--> status --status--> recorder
 *                       pipelines --grid--> mounting --mounting--> status
 *          gait and (gait-features/2) pipelines ask mounting for each sensor's rotation
 *
 * Nothing here throws on bad data: sources, the resampler and the pipelines
 * count it, and the retained status says when the device is degraded.
 * docs/architecture.md says how a new feature becomes a module.
 */
import type { LoadedContract, Placement } from "../contract/manifest.js";
import { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import { startAll, stopAll, type Module } from "../core/module.js";
import type { Logger } from "../log.js";
import { AnglePublisherModule } from "../modules/anglePublisher.js";
import { CalibrationModule } from "../modules/calibration.js";
import { DashboardModule } from "../modules/dashboard.js";
import { GaitModule } from "../modules/gait.js";
import { LoadWatchModule } from "../modules/loadWatch.js";
import { MountingModule } from "../modules/mounting.js";
import { ModelModule } from "../modules/model.js";
import { OtaModule } from "../modules/ota.js";
import { PipelinesModule } from "../modules/pipelines.js";
import { RecorderModule } from "../modules/recorder.js";
import { SourcesModule } from "../modules/sources.js";
import { StatusModule } from "../modules/status.js";
import { CommandServer } from "../mqtt/commandServer.js";
import { MqttConnection } from "../mqtt/connection.js";
import { DevicePublisher } from "../mqtt/devicePublisher.js";
import type { AnglesMessage, DeviceTopics, SampleAnglesMessage } from "../mqtt/topics.js";
import type { OtaAgent } from "../ota/agent.js";
import type { RuntimeConfig } from "./config.js";
import { runtimeStats, type RuntimeStats } from "./stats.js";

export { DEFAULT_WEARER, routeSensor, type Route } from "../modules/sources.js";
export type { RuntimeStats } from "./stats.js";

export interface RuntimeDeps {
  readonly logger: Logger;
  /** Every angles message the pipelines produce, as it goes to MQTT (the demo prints them). */
  readonly onAngles?: (message: AnglesMessage, timing: { readyAtMs: number }) => void;
  /** Every per-sample estimate (pipeline.perSample), as it goes to MQTT. */
  readonly onSampleAngles?: (message: SampleAnglesMessage, timing: { readyAtMs: number }) => void;
  /** Replay: all finite sources have ended and the last window was published. */
  readonly onEnd?: () => void;
  /** Awaited after the model and broker are up and before any source starts (the demo subscribes here). */
  readonly beforeSources?: (runtime: EdgeRuntime) => Promise<void>;
}

export class EdgeRuntime {
  private readonly bus: EventBus<EdgeEvents>;
  private readonly connection: MqttConnection;
  private readonly commandServer: CommandServer;
  private readonly model: ModelModule;
  private readonly pipelines: PipelinesModule;
  private readonly sources: SourcesModule;
  private readonly status: StatusModule;
  private readonly recorder: RecorderModule;
  private readonly otaModule: OtaModule;
  private readonly dashboard: DashboardModule;
  private readonly mounting: MountingModule;
  private readonly gait: GaitModule;
  private readonly load: LoadWatchModule;
  private readonly modules: readonly Module[];
  private readonly logger: Logger;

  constructor(config: RuntimeConfig, deps: RuntimeDeps) {
    const log = (this.logger = deps.logger);
    const bus = (this.bus = new EventBus<EdgeEvents>({ logger: log.child("bus") }));
    this.connection = new MqttConnection(config.mqtt, { logger: log.child("mqtt"), onChange: (e) => bus.emit("connection", e) });
    const device = new DevicePublisher(this.connection, config.mqtt);
    this.commandServer = new CommandServer({ logger: log.child("commands"), connection: this.connection, base: `${config.mqtt.prefix}/${config.mqtt.deviceId}` });
    this.model = new ModelModule({ model: config.model, inference: config.inference, otaDir: config.ota?.dir }, { logger: log, bus, device });
    this.recorder = new RecorderModule(config.recorder, { logger: log.child("recorder"), bus, model: () => this.model.info() });
    this.status = new StatusModule({ logger: log.child("status"), bus, device, snapshot: () => this.stats() });
    // Mounting is built below; a pipeline asks it only once samples flow.
    const mounting = { rotation: (wearer: string, placement: Placement) => this.mounting.rotation(wearer, placement) };
    this.pipelines = new PipelinesModule(config.pipeline, { logger: log.child("pipeline"), bus, lane: () => this.model.models.lane(), mounting });
    this.load = new LoadWatchModule(config.load, { logger: log.child("load"), bus, pipelines: () => this.pipelines.stats() });
    const calibration = new CalibrationModule(config.calibration, { logger: log, bus, pipelines: this.pipelines, contract: () => this.model.contract, mounting });
    const placements = () => this.model.contract.pipeline.placements;
    const segmentFrames = () => this.model.contract.pipeline.segmentFrames;
    const rateHz = () => this.model.contract.pipeline.sampleRateHz;
    this.mounting = new MountingModule(config.mounting, { logger: log.child("mounting"), bus, store: calibration, placements, segmentFrames, rateHz });
    this.gait = new GaitModule(config.gait, { logger: log.child("gait"), bus, device, mounting: this.mounting, joints: () => this.model.contract.pipeline.joints });
    const { prefix, deviceId } = config.mqtt;
    const connection = this.connection;
    this.dashboard = new DashboardModule(config.dashboard, { logger: log.child("dashboard"), prefix, deviceId, mqttStreamHandler: () => connection.embeddedStreamHandler });
    this.otaModule = new OtaModule(config.ota, { logger: log.child("ota"), bus, mqtt: this.connection, model: this.model, commands: this.commandServer, prefix, deviceId, inference: config.inference, calibration, mounting: this.mounting });
    this.sources = new SourcesModule(config, { logger: log, bus, waitForDrain: () => this.idle(), placements });
    this.commandServer.register("command", { ...calibration.commands(), ...this.pipelines.commands(), ...this.status.commands(), ...this.model.commands(), ...this.recorder.commands() });
    bus.on("angles", ({ message, readyAtMs }) => deps.onAngles?.(message, { readyAtMs }));
    bus.on("sampleAngles", ({ message, readyAtMs }) => deps.onSampleAngles?.(message, { readyAtMs }));
    bus.on("drained", () => deps.onEnd?.());
    const beforeSources: Module = { name: "beforeSources", start: async () => deps.beforeSources?.(this), stop: async () => undefined };
    // Dependency order: each module only uses the ones before it while starting.
    const anglePublisher = new AnglePublisherModule({ bus, device });
    this.modules = [
      this.model, // first: a bad model is a clear error before anything opens
      this.recorder,
      this.connection,
      this.dashboard, // after the connection: it bridges the embedded broker
      this.commandServer,
      this.status,
      anglePublisher,
      this.pipelines,
      this.load,
      calibration, // loads calibration.file, which mounting starts from
      this.mounting,
      this.gait,
      this.otaModule,
      beforeSources, // the demo subscribes here
      this.sources, // last: every listener is up before the first sample
    ];
  }

  async start(): Promise<void> { await startAll(this.modules, this.logger); }
  async stop(): Promise<void> { await stopAll(this.modules, this.logger); }

  /** The contract of the model running now. */
  get contract(): LoadedContract { return this.model.contract; }

  /** The OTA agent, when `config.ota` is set. */
  get ota(): OtaAgent | undefined { return this.otaModule.agent; }

  /** The dashboard page's URL when `dashboard` is configured and started. */
  get dashboardUrl(): string | undefined { return this.dashboard.url; }

  get brokerUrl(): string { return this.connection.brokerUrl; }
  get topics(): DeviceTopics { return this.connection.topics; }

  /** Every wearer's inference is done (nothing in flight or pending). */
  idle(): Promise<void> { return this.pipelines.idle(); }

  stats(): RuntimeStats {
    return runtimeStats({
      pipelines: this.pipelines.stats(),
      sources: this.sources.stats(),
      connection: this.connection.stats(),
      commands: this.commandServer.stats(),
      status: this.status.status,
      load: this.load.stats(),
      recorder: this.recorder.stats(),
      events: this.bus.stats(),
      mounting: this.mounting.stats(),
      gait: this.gait.stats(),
      ...(this.ota ? { ota: { state: { ...this.ota.currentState }, counts: this.ota.stats() } } : {}),
      inference: this.model.inferenceStats(),
    });
  }
}
