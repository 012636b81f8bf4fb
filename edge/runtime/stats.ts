/**
 * `get_status` and `EdgeRuntime.stats()`: every module's counters in one
 * object. Pure: the runtime hands in each part, this assembles and totals.
 */
import type { StatusChange } from "../core/events.js";
import type { InferencePoolStats } from "../inference/inferencePool.js";
import type { GaitStats } from "../modules/gait.js";
import type { LoadStats } from "../modules/loadWatch.js";
import type { MountingStats } from "../modules/mounting.js";
import type { SourcesStats } from "../modules/sources.js";
import type { CommandTopicStats } from "../mqtt/commandServer.js";
import type { MqttConnectionStats } from "../mqtt/connection.js";
import type { RecorderStats } from "../recording/recorder.js";
import type { OtaAgentStats } from "../ota/agent.js";
import type { OtaStateMessage } from "../ota/messages.js";
import type { PipelineStats } from "./pipeline.js";

export interface RuntimeStats {
  pipelines: Record<string, PipelineStats>;
  sources: Record<string, unknown>;
  mqtt: MqttConnectionStats & { commands: number; commandErrors: number };
  commands: Record<string, CommandTopicStats>;
  sourceIssues: Record<string, number>;
  unroutedSensors: string[];
  status: StatusChange;
  /** Is the device keeping up: the last interval's windows and per-sample outputs, skipped, and the event loop's delay. */
  load: LoadStats;
  recorder?: RecorderStats;
  events: { listenerErrors: Record<string, number> };
  /** Per `<wearer>/<placement>`: the mounting calibration's state, rotation, quality and date. */
  mounting: Record<string, MountingStats>;
  gait: Record<string, GaitStats>;
  /** With `ota` configured: the OTA state (the `ota/state` message: where an update is, the models rolled back here) and its counters. */
  ota?: { state: OtaStateMessage; counts: OtaAgentStats };
  /** With a pool of inference workers (inference.thread worker): the running model's workers, alive, windows by worker, windows lost. */
  inference?: InferencePoolStats;
}

export interface RuntimeStatsParts {
  readonly pipelines: Record<string, PipelineStats>;
  readonly sources: SourcesStats;
  readonly connection: MqttConnectionStats;
  readonly commands: Record<string, CommandTopicStats>;
  readonly status: StatusChange;
  readonly load: LoadStats;
  readonly recorder: RecorderStats | undefined;
  readonly events: { listenerErrors: Record<string, number> };
  readonly mounting: Record<string, MountingStats>;
  readonly gait: Record<string, GaitStats>;
  readonly ota?: { readonly state: OtaStateMessage; readonly counts: OtaAgentStats };
  readonly inference?: InferencePoolStats;
}

export function runtimeStats(p: RuntimeStatsParts): RuntimeStats {
  const topics = Object.values(p.commands);
  return {
    pipelines: p.pipelines,
    ...p.sources,
    mqtt: {
      ...p.connection,
      commands: topics.reduce((n, c) => n + c.requests, 0),
      commandErrors: topics.reduce((n, c) => n + c.errors, 0),
    },
    commands: p.commands,
    status: p.status,
    load: p.load,
    ...(p.recorder ? { recorder: p.recorder } : {}),
    events: p.events,
    mounting: p.mounting,
    gait: p.gait,
    ...(p.ota ? { ota: p.ota } : {}),
    ...(p.inference ? { inference: p.inference } : {}),
  };
}
