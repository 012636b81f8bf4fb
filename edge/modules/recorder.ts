/**
 * The local recording (docs/recording-format.md): every routed sample, every
 * published angles message and the notable events, from the bus. Events:
 *
 *   broker_up / broker_down        the MQTT connection came / went
 *   status                         the device turned online / degraded
 *   model                          OTA swapped the model in
 *   disconnected, io_error,        what a source said (only these; the rest
 *   no_valid_data, valid_data      are counters in get_status)
 *
 * Off (nothing subscribed) when the config has no `recorder` section.
 */
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import { Recorder, type RecorderConfig, type RecorderStats } from "../recording/recorder.js";
import type { SourceIssue } from "../sources/types.js";

export interface RecorderModuleDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  /** The running model, written in the recording's header. */
  readonly model: () => { name: string; version: string };
}

const RECORDED_ISSUES: ReadonlySet<SourceIssue["kind"]> = new Set([
  "disconnected",
  "io_error",
  "no_valid_data",
  "valid_data",
  "clock_restart",
  "consumer_error",
]);

export class RecorderModule implements Module {
  readonly name = "recorder";
  private recorder: Recorder | undefined;
  private readonly unsubscribes: Array<() => void> = [];

  constructor(
    private readonly config: RecorderConfig | undefined,
    private readonly deps: RecorderModuleDeps,
  ) {}

  async start(): Promise<void> {
    if (!this.config) return;
    const recorder = new Recorder(this.config, { logger: this.deps.logger });
    await recorder.start({ model: this.deps.model() });
    this.recorder = recorder;
    const bus = this.deps.bus;
    this.unsubscribes.push(
      bus.on("sample", ({ sample }) => recorder.recordSample(sample)),
      bus.on("angles", ({ message }) => recorder.recordAngles(message)),
      bus.on("status", (status) => recorder.recordEvent("status", status)),
      bus.on("connection", ({ state, brokerUrl, reconnects }) =>
        recorder.recordEvent(state === "connected" ? "broker_up" : "broker_down", { brokerUrl, reconnects }),
      ),
      bus.on("modelChanged", ({ contract }) => {
        const m = contract.manifest;
        recorder.recordEvent("model", { name: m.name, version: m.version, sha256: m.model.sha256 });
      }),
      bus.on("sourceIssue", ({ source, issue }) => {
        if (RECORDED_ISSUES.has(issue.kind)) recorder.recordEvent(issue.kind, { source, sensorId: issue.sensorId, message: issue.message });
      }),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribes.splice(0)) off();
    const recorder = this.recorder;
    this.recorder = undefined;
    await recorder?.stop();
  }

  stats(): RecorderStats | undefined {
    return this.recorder?.stats();
  }
}
