/**
 * The edge runtime: config in, angles out.
 *
 *   sources --ImuSample--> router (sensor id -> wearer, placement)
 *     --> WearerPipeline per wearer --AnglesMessage--> MQTT publisher + recorder
 *
 * Constructors store dependencies; `start()` opens things in dependency order
 * (model before broker before sources) and `stop()` closes them in reverse.
 * Nothing here throws on bad data: sources, the resampler and the pipeline
 * count it, and the device's retained status says when it is degraded.
 */
import { readFile } from "node:fs/promises";

import { loadManifest, PLACEMENTS, type LoadedContract, type Placement } from "../contract/manifest.js";
import { OnnxModel } from "../inference/onnxModel.js";
import type { Logger } from "../log.js";
import { OtaAgent, onnxModelLoader } from "../ota/agent.js";
import { atomicWriteFile, ModelStore } from "../ota/modelStore.js";
import { SwappableModel } from "../ota/swappableModel.js";
import { MqttPublisher } from "../publish/mqttPublisher.js";
import type { AnglesMessage, CommandRequest, ModelInfoMessage } from "../publish/topics.js";
import { Recorder } from "../recording/recorder.js";
import { createSource } from "../sources/index.js";
import type { ImuSample, ImuSource, SourceIssue, Vec3 } from "../sources/types.js";
import { formatCalibration, mergeCalibration, parseCalibration, type SavedBias } from "./calibrationFile.js";
import type { RuntimeConfig } from "./config.js";
import { WearerPipeline, type Health, type PipelineStats } from "./pipeline.js";

export const DEFAULT_WEARER = "default";

export interface Route {
  readonly wearer: string;
  readonly placement: Placement;
}

/** Sensor id -> (wearer, placement): the config's `sensors` map first, then the id itself. */
export function routeSensor(sensorId: string, sensors: Readonly<Record<string, string>>): Route | undefined {
  const target = sensors[sensorId] ?? sensorId;
  const colon = target.lastIndexOf(":");
  const placement = colon < 0 ? target : target.slice(colon + 1);
  if (!(PLACEMENTS as readonly string[]).includes(placement)) return undefined;
  return { wearer: colon < 0 ? DEFAULT_WEARER : target.slice(0, colon), placement: placement as Placement };
}

export interface RuntimeDeps {
  readonly logger: Logger;
  /** Every published angles message, after it went to MQTT (the demo prints them). */
  readonly onAngles?: (message: AnglesMessage, timing: { readyAtMs: number }) => void;
  /** Replay: all finite sources have ended and the last window was published. */
  readonly onEnd?: () => void;
  /** Awaited after the model and broker are up and before any source starts (the demo subscribes here). */
  readonly beforeSources?: (runtime: EdgeRuntime) => Promise<void>;
}

interface CalibrationCapture {
  /** Keyed by `${wearer}|${placement}`; the entry carries both, so no key is ever split. */
  readonly sums: Map<string, { wearer: string; placement: Placement; n: number; g: number[]; g2: number[]; a: number[] }>;
}

export class EdgeRuntime {
  contract!: LoadedContract;
  private model!: OnnxModel;
  // ---- OTA (edge/ota): pipelines run through this holder so an update swaps
  // the model at a stride boundary; `ota` is set when config.ota is present.
  private models!: SwappableModel;
  ota: OtaAgent | undefined;
  private publisher!: MqttPublisher;
  private recorder: Recorder | undefined;
  private sources: ImuSource[] = [];
  private readonly pipelines = new Map<string, WearerPipeline>();
  private readonly unhealthy = new Map<string, string>();
  private readonly unrouted = new Set<string>();
  private readonly routes = new Map<string, Route | null>();
  private readonly sourceIssues: Record<string, number> = {};
  private ended = 0;
  private capture: CalibrationCapture | undefined;
  /** The current calibration (loaded from `calibration.file`, then each successful one merged in), applied to each wearer's pipeline when it is created. */
  private savedBias: SavedBias[] = [];
  private status: { state: "online" | "degraded"; reason?: string } = { state: "online" };

  constructor(
    private readonly config: RuntimeConfig,
    private readonly deps: RuntimeDeps,
  ) {}

  get brokerUrl(): string {
    return this.publisher.brokerUrl;
  }

  get topics(): MqttPublisher["topics"] {
    return this.publisher.topics;
  }

  async start(): Promise<void> {
    const log = this.deps.logger;
    // A malformed or incompatible model is a clear error before anything opens.
    // ---- OTA: with an OTA store, its `current` model wins (falling back to previous, then config.model).
    const store = this.config.ota ? new ModelStore(this.config.ota.dir, { logger: log.child("ota") }) : undefined;
    this.contract = store ? await store.loadStartModel(this.config.model) : await loadManifest(this.config.model);
    const m = this.contract.manifest;
    const p = this.contract.pipeline;
    this.model = new OnnxModel({
      path: this.contract.modelPath,
      inputName: p.inputName,
      outputName: p.outputName,
      window: p.window,
      features: this.contract.featureCount,
      joints: p.joints.length,
      config: this.config.inference,
    });
    await this.model.start();
    this.models = new SwappableModel({ contract: this.contract, model: this.model }); // ---- OTA
    log.info(`model ${m.name} ${m.version} loaded`, { placements: p.placements, file: this.contract.modelPath });

    await this.loadCalibration();

    this.publisher = new MqttPublisher(this.config.mqtt, { logger: log.child("mqtt") });
    this.publisher.onCommand((cmd) => this.command(cmd));
    await this.publisher.start();
    this.publisher.publishModelInfo(this.modelInfo());

    // ---- OTA: offers, chunks and commands on <prefix>/<deviceId>/ota/...
    if (this.config.ota && store) {
      this.ota = new OtaAgent(this.config.ota, {
        logger: log.child("ota"),
        mqtt: this.publisher,
        prefix: this.config.mqtt.prefix,
        deviceId: this.config.mqtt.deviceId,
        models: this.models,
        store,
        loadModel: onnxModelLoader(this.config.inference),
        onModelChanged: (contract) => this.onModelChanged(contract),
      });
      await this.ota.start();
    }

    if (this.config.recorder) {
      this.recorder = new Recorder(this.config.recorder, { logger: log.child("recorder") });
      await this.recorder.start({ model: { name: m.name, version: m.version } });
    }

    await this.deps.beforeSources?.(this);
    for (const sc of this.config.sources) {
      // A replay faster than real time waits for inference instead of skipping windows.
      const source = await createSource(sc, { logger: log.child("source"), waitForDrain: () => this.idle() });
      this.sources.push(source);
    }
    for (const source of this.sources) {
      await source.start({
        onSample: (s) => this.onSample(s),
        onIssue: (issue) => this.onSourceIssue(source, issue),
        onEnd: () => this.onSourceEnd(),
      });
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sources) await s.stop().catch((err: Error) => this.deps.logger.error(`stopping ${s.kind}: ${err.message}`));
    for (const p of this.pipelines.values()) await p.stop();
    await this.ota?.stop(); // ---- OTA
    await this.recorder?.stop();
    await this.publisher?.stop();
    await this.models?.stop(); // ---- OTA: releases every session the holder knows
  }

  // ---- OTA: an update or a rollback swapped the model in; the pipelines already run it.
  private onModelChanged(contract: LoadedContract): void {
    this.contract = contract;
    const m = contract.manifest;
    this.recorder?.recordEvent("model", { name: m.name, version: m.version, sha256: m.model.sha256 });
    this.publisher.publishModelInfo(this.modelInfo()).catch((err: Error) => this.deps.logger.error(`could not publish model info: ${err.message}`));
  }

  /** Every wearer's inference is done (nothing in flight or pending). */
  async idle(): Promise<void> {
    await Promise.all([...this.pipelines.values()].map((p) => p.idle()));
  }

  stats(): {
    pipelines: Record<string, PipelineStats>;
    sources: Record<string, unknown>;
    mqtt: ReturnType<MqttPublisher["stats"]>;
    sourceIssues: Record<string, number>;
    unroutedSensors: string[];
    status: { state: string; reason?: string };
  } {
    return {
      pipelines: Object.fromEntries([...this.pipelines].map(([w, p]) => [w, p.stats()])),
      sources: Object.fromEntries(this.sources.map((s, i) => [`${i}:${s.kind}`, s.stats()])),
      mqtt: this.publisher.stats(),
      sourceIssues: { ...this.sourceIssues },
      unroutedSensors: [...this.unrouted],
      status: this.status,
    };
  }

  private modelInfo(): ModelInfoMessage {
    const m = this.contract.manifest;
    const p = this.contract.pipeline;
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

  private pipelineFor(wearer: string): WearerPipeline {
    let p = this.pipelines.get(wearer);
    if (!p) {
      const lane = this.models.lane(); // ---- OTA: labels each result with the model that computed it
      p = new WearerPipeline(wearer, this.config.pipeline, {
        contract: lane.contract,
        model: lane.model,
        logger: this.deps.logger.child("pipeline"),
        onAngles: (msg, timing) => this.onAngles(msg, timing),
        onHealth: (h) => this.onHealth(wearer, h),
      });
      for (const b of this.savedBias) if (b.wearer === wearer) p.setGyroBias(b.placement, b.gyroBias);
      p.start();
      this.pipelines.set(wearer, p);
    }
    return p;
  }

  private onSample(sample: ImuSample): void {
    let route = this.routes.get(sample.sensorId);
    if (route === undefined) {
      route = routeSensor(sample.sensorId, this.config.sensors) ?? null; // once per sensor, not per sample
      this.routes.set(sample.sensorId, route);
    }
    if (!route) {
      if (!this.unrouted.has(sample.sensorId)) {
        this.unrouted.add(sample.sensorId);
        this.deps.logger.warn(
          `sensor "${sample.sensorId}" is not mapped to a placement; add it to "sensors" in the config (its samples are counted and ignored)`,
        );
      }
      this.sourceIssues.unrouted = (this.sourceIssues.unrouted ?? 0) + 1;
      return;
    }
    this.recorder?.recordSample(sample);
    if (this.capture) this.accumulate(route, sample);
    this.pipelineFor(route.wearer).push(route.placement, sample);
  }

  private onAngles(msg: AnglesMessage, timing: { readyAtMs: number }): void {
    this.deps.onAngles?.(msg, timing);
    this.publisher.publishAngles(msg);
    this.recorder?.recordAngles(msg);
  }

  private onSourceIssue(source: ImuSource, issue: SourceIssue): void {
    this.sourceIssues[issue.kind] = (this.sourceIssues[issue.kind] ?? 0) + 1;
    const where = `${source.kind}${issue.sensorId ? `/${issue.sensorId}` : ""}`;
    if (issue.kind === "disconnected" || issue.kind === "io_error") {
      this.deps.logger.warn(`${where}: ${issue.message}`);
      this.recorder?.recordEvent(issue.kind, { source: source.kind, sensorId: issue.sensorId, message: issue.message });
    } else {
      this.deps.logger.debug(() => `${where}: ${issue.kind}: ${issue.message}`);
    }
  }

  private onSourceEnd(): void {
    this.ended += 1;
    if (this.ended < this.sources.length) return;
    for (const p of this.pipelines.values()) p.end(); // silence after the end is not a failing sensor
    void Promise.all([...this.pipelines.values()].map((p) => p.drain()))
      .then(() => this.deps.onEnd?.())
      .catch((err: Error) => this.deps.logger.error(`draining at the end of the sources failed: ${err.message}`));
  }

  private onHealth(wearer: string, h: Health): void {
    if (h.healthy) this.unhealthy.delete(wearer);
    else this.unhealthy.set(wearer, h.reason ?? "unknown");
    const reasons = [...this.unhealthy].map(([w, r]) => (w === DEFAULT_WEARER ? r : `${w}: ${r}`));
    const next = reasons.length ? { state: "degraded" as const, reason: reasons.join("; ") } : { state: "online" as const };
    if (next.state === this.status.state && next.reason === this.status.reason) return;
    this.status = next;
    this.publisher.setStatus(next.state, next.reason);
    this.recorder?.recordEvent("status", next);
  }

  // ------------------------------------------------------------------ commands

  private async command(cmd: CommandRequest): Promise<unknown> {
    switch (cmd.command) {
      case "calibrate":
        return this.calibrate(Number(cmd.args?.durationS ?? this.config.calibration.durationS));
      case "heading_reset":
        for (const p of this.pipelines.values()) p.resetHeading();
        // Heading enters the model only relative to each window's start, so this
        // changes displayed headings, never the angles.
        return { wearers: [...this.pipelines.keys()] };
      case "get_status":
        return this.stats();
      case "get_model":
        return this.modelInfo();
    }
  }

  /**
   * Static calibration: the wearer stands still for `durationS`. Per sensor the
   * mean gyro becomes its bias; the mean specific force is compared with the
   * mounting the model was trained with (manifest euler.reference).
   */
  private async calibrate(durationS: number): Promise<unknown> {
    if (!(durationS > 0 && durationS <= 60)) throw new Error(`durationS must be in (0, 60], got ${durationS}`);
    if (this.capture) throw new Error("a calibration is already running");
    const capture: CalibrationCapture = { sums: new Map() };
    this.capture = capture;
    await new Promise((r) => setTimeout(r, durationS * 1000));
    this.capture = undefined;
    const result: Record<string, { gyroBias: Vec3; gyroStd: number[]; samples: number; mountingOffsetDeg: number | null }> = {};
    const problems: string[] = [];
    const refs = this.contract.manifest.euler.reference as Record<string, readonly number[]>;
    // Every placement of every streaming wearer must have stood still: all or nothing.
    for (const wearer of this.pipelines.keys()) {
      for (const placement of this.contract.pipeline.placements) {
        if (!capture.sums.has(`${wearer}|${placement}`)) problems.push(`${wearer}/${placement}: no samples`);
      }
    }
    const measured: SavedBias[] = [];
    const savedAt = new Date().toISOString();
    for (const s of capture.sums.values()) {
      const { wearer, placement } = s;
      if (!this.contract.pipeline.placements.includes(placement)) continue;
      if (s.n < 10) {
        problems.push(`${wearer}/${placement}: only ${s.n} samples`);
        continue;
      }
      const mean = s.g.map((v) => v / s.n) as unknown as Vec3;
      const std = s.g2.map((v, i) => Math.sqrt(Math.max(0, v / s.n - mean[i]! ** 2)));
      const worst = Math.max(...std);
      if (![...mean, ...s.a].every(Number.isFinite)) {
        problems.push(`${wearer}/${placement}: non-finite readings during calibration`);
        continue;
      }
      if (worst > this.config.calibration.maxGyroStd) {
        problems.push(`${wearer}/${placement}: moving during calibration (gyro std ${worst.toFixed(3)} rad/s)`);
        continue;
      }
      const a = s.a.map((v) => v / s.n);
      result[`${wearer}/${placement}`] = {
        gyroBias: mean,
        gyroStd: std,
        samples: s.n,
        mountingOffsetDeg: refs[placement] ? angleToReference(a, refs[placement]) : null,
      };
      measured.push({ wearer, placement, gyroBias: mean, savedAt });
    }
    if (!capture.sums.size) throw new Error("calibration rejected: no samples arrived");
    if (problems.length) throw new Error(`calibration rejected (nothing changed): ${problems.join("; ")}`);
    // Saved before it is applied: a calibration that cannot be kept changes nothing.
    const next = mergeCalibration(this.savedBias, measured);
    const file = this.config.calibration.file;
    if (file) {
      try {
        await atomicWriteFile(file, formatCalibration(next));
      } catch (err) {
        throw new Error(`calibration rejected (nothing changed): cannot save ${file}: ${(err as Error).message}`);
      }
    }
    this.savedBias = next;
    for (const b of measured) this.pipelines.get(b.wearer)?.setGyroBias(b.placement, b.gyroBias);
    this.deps.logger.info("calibrated", { sensors: Object.keys(result), ...(file ? { file } : {}) });
    return result;
  }

  /**
   * The last calibration (`calibration.file`). A missing file is normal (never
   * calibrated); an unreadable or malformed one is logged and ignored: the
   * device runs uncalibrated rather than not at all.
   */
  private async loadCalibration(): Promise<void> {
    const file = this.config.calibration.file;
    if (!file) return;
    const log = this.deps.logger;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        log.info(`no saved calibration at ${file}: gyro bias 0 until a calibrate command succeeds`);
      } else {
        log.warn(`cannot read the saved calibration, running without it: ${(err as Error).message}`, { file });
      }
      return;
    }
    try {
      this.savedBias = parseCalibration(text, file);
      const now = Date.now();
      log.info(`loaded the saved calibration of ${this.savedBias.length} sensor(s)`, {
        file,
        ageHours: Object.fromEntries(this.savedBias.map((b) => [`${b.wearer}/${b.placement}`, +((now - Date.parse(b.savedAt)) / 3.6e6).toFixed(1)])),
      });
    } catch (err) {
      log.warn(`ignoring a malformed saved calibration (gyro bias 0): ${(err as Error).message}`, { file });
    }
  }

  private accumulate(route: Route, s: ImuSample): void {
    const key = `${route.wearer}|${route.placement}`;
    let e = this.capture!.sums.get(key);
    if (!e) this.capture!.sums.set(key, (e = { wearer: route.wearer, placement: route.placement, n: 0, g: [0, 0, 0], g2: [0, 0, 0], a: [0, 0, 0] }));
    e.n += 1;
    for (let i = 0; i < 3; i++) {
      e.g[i]! += s.gyro[i]!;
      e.g2[i]! += s.gyro[i]! ** 2;
      e.a[i]! += s.acc[i]!;
    }
  }
}

/** Degrees between a measured gravity direction and the reference's "up" (q_ref applied to +z). */
export function angleToReference(acc: readonly number[], q: readonly number[]): number {
  const [w, x, y, z] = q as [number, number, number, number];
  // third column of the rotation matrix of q: where q sends +z
  const up = [2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)];
  const n = Math.hypot(acc[0]!, acc[1]!, acc[2]!);
  const dot = (acc[0]! * up[0]! + acc[1]! * up[1]! + acc[2]! * up[2]!) / n;
  return (Math.acos(Math.max(-1, Math.min(1, dot))) * 180) / Math.PI;
}
