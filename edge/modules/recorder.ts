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
 * Off (nothing subscribed) when the config has no `recorder` section. With
 * one, it records from start to stop (`autoStart`, the default) and serves
 * `record_start {session?}` / `record_stop`, so an operator can cut a walk
 * into named recordings without restarting the device. One recording at a
 * time; each is a fresh `Recorder` (its own files and counters).
 */
import { z } from "zod";
import { command, type CommandTable } from "../commands/types.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import { fileNamePartSchema, Recorder, type RecorderConfig, type RecorderStats } from "../recording/recorder.js";
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

/** What `record_start` answers. */
export interface RecordStarted {
  /** The name given, else the first file's name without its extension. */
  readonly session: string;
  readonly file: string;
}

/** What `record_stop` answers: every file of the recording, complete on disk. */
export interface RecordStopped {
  readonly session: string;
  readonly files: string[];
  readonly records: number;
  readonly dropped: number;
}

interface Session {
  readonly name: string;
  readonly recorder: Recorder;
}

export class RecorderModule implements Module {
  readonly name = "recorder";
  private session: Session | undefined;
  /** The last recording's counters stay in get_status after record_stop. */
  private last: Recorder | undefined;
  /** Starts and stops run one after another: a record_stop during a record_start waits for it. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly unsubscribes: Array<() => void> = [];

  constructor(
    private readonly config: RecorderConfig | undefined,
    private readonly deps: RecorderModuleDeps,
  ) {}

  async start(): Promise<void> {
    if (!this.config) return;
    const bus = this.deps.bus;
    // The listeners write to whichever recording is open; between recordings they do nothing.
    const rec = (): Recorder | undefined => this.session?.recorder;
    this.unsubscribes.push(
      bus.on("sample", ({ sample }) => rec()?.recordSample(sample)),
      bus.on("angles", ({ message }) => rec()?.recordAngles(message)),
      bus.on("status", (status) => rec()?.recordEvent("status", status)),
      bus.on("connection", ({ state, brokerUrl, reconnects }) =>
        rec()?.recordEvent(state === "connected" ? "broker_up" : "broker_down", { brokerUrl, reconnects }),
      ),
      bus.on("modelChanged", ({ contract }) => {
        const m = contract.manifest;
        rec()?.recordEvent("model", { name: m.name, version: m.version, sha256: m.model.sha256 });
      }),
      bus.on("sourceIssue", ({ source, issue }) => {
        if (RECORDED_ISSUES.has(issue.kind)) rec()?.recordEvent(issue.kind, { source, sensorId: issue.sensorId, message: issue.message });
      }),
    );
    if (this.config.autoStart) await this.startRecording(undefined);
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribes.splice(0)) off();
    await this.queue; // a record_start in flight opens its recording first (the queue never rejects)
    if (this.session) await this.stopRecording();
  }

  /** Opens a new recording; rejects when one is open or recording is off. */
  startRecording(session: string | undefined): Promise<RecordStarted> {
    return this.serialized(async () => {
      const config = this.config;
      if (!config) throw new Error("recording is off: the config has no `recorder` section");
      if (this.session) throw new Error(`already recording session "${this.session.name}"; send record_stop first`);
      const recorder = new Recorder(config, { logger: this.deps.logger });
      await recorder.start({ model: this.deps.model(), ...(session !== undefined ? { session } : {}) });
      const file = recorder.paths()[0] ?? "";
      const name = session ?? baseName(file);
      this.session = { name, recorder };
      this.last = recorder;
      return { session: name, file };
    });
  }

  /** Closes the open recording; resolves when every file is on disk. */
  stopRecording(): Promise<RecordStopped> {
    return this.serialized(async () => {
      const open = this.session;
      if (!open) throw new Error(this.config ? "not recording (send record_start first)" : "recording is off: the config has no `recorder` section");
      this.session = undefined;
      await open.recorder.stop();
      const s = open.recorder.stats();
      return { session: open.name, files: open.recorder.paths(), records: s.records, dropped: s.dropped };
    });
  }

  commands(): CommandTable {
    return {
      record_start: command({
        summary: "start a recording (one at a time); the reply names the session and its first file",
        args: z.object({ session: fileNamePartSchema("session").min(1).optional() }).strict(),
        run: async ({ session }) => this.startRecording(session),
      }),
      record_stop: command({
        summary: "stop the recording; the reply lists the files written, complete on disk",
        args: z.object({}).strict(),
        run: async () => this.stopRecording(),
      }),
    };
  }

  /** The open recording's counters, else the last one's; undefined if there never was one. */
  stats(): RecorderStats | undefined {
    return (this.session?.recorder ?? this.last)?.stats();
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** "dir/pi-7-2024-05-01T12-30-00.000Z.jsonl.gz" -> "pi-7-2024-05-01T12-30-00.000Z" */
function baseName(file: string): string {
  return (file.split(/[\\/]/).pop() ?? file).replace(/\.jsonl(\.gz)?$/, "");
}
