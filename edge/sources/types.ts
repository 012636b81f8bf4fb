/**
 * The contract between every IMU source (replay, serial, BLE, simulator) and the
 * rest of the pipeline. A source turns bytes, notifications or file rows into
 * `ImuSample`s in contract units; it never resamples, filters or windows.
 *
 * Behaviour every source has (docs/sources.md; held by test/sources/sourceSuite.ts,
 * implemented once in core.ts):
 *
 * - start(handlers): opens what it needs. Rejects for a configuration that
 *   cannot work (missing file, no sensor the model needs: `SourceConfigError`,
 *   naming the file or field) or a driver that cannot load; a device that is
 *   merely absent is reported (`disconnected`) and retried, not rejected.
 *   No onSample/onEnd before start() has resolved (issues may come, e.g. a
 *   board absent at start). A source is started once.
 * - stop(): idempotent, safe before start. Once called, no sample is
 *   delivered; once its promise resolves, no handler is called. No onEnd
 *   after stop().
 * - End of stream: finite sources (replay, simulator with durationS) call
 *   onEnd exactly once after the last sample; live sources never call it.
 * - A throwing consumer: if onSample throws, the source does NOT stop or end.
 *   It counts `consumer_error` in stats, reports it through onIssue
 *   rate-limited (the first 3, then one summary per 5 s with the count held
 *   back) and keeps delivering the following samples. Why: the consumer's bug
 *   is about one sample; ending a live stream on it would turn a transient
 *   fault into a dead sensor, and the next sample may well be fine. A throwing
 *   onIssue/onEnd is logged and otherwise ignored.
 * - Bad input (a bad checksum, row or value) never throws and never stops the
 *   source: the item is dropped, reported through onIssue (every one) and
 *   counted in `stats().issues[kind]`; logs are warn level with where it was
 *   (file:line and field, stream byte, sensor), rate-limited per kind.
 * - No valid data: after `noDataTimeoutMs` (default 5000, 0 = off) without a
 *   valid sample, onIssue `no_valid_data` with why (no bytes, bytes but no
 *   frame, every frame rejected); `valid_data` when valid samples come back.
 *   Both once per episode.
 * - stats(): `{ samples, issues }`, samples = samples handed to onSample
 *   (whether or not it threw), issues = every issue by kind, consumer_error
 *   included, including those whose report was rate-limited.
 */

export type Vec3 = readonly [number, number, number];
/** Orientation quaternion, w first, sensor to earth. */
export type Quat = readonly [number, number, number, number];

/** One reading of one IMU, in contract units (docs/contract.md). */
export interface ImuSample {
  /** Source-specific sensor id: serial board id, DOT address, file column prefix. */
  readonly sensorId: string;
  /** Device timestamp in microseconds, from the device clock when it has one. */
  readonly tUs: number;
  /** Device sequence number, when the device sends one (serial, DOT). */
  readonly seq?: number;
  /** Specific force including gravity, m/s², sensor frame. */
  readonly acc: Vec3;
  /** Angular rate, rad/s, sensor frame. */
  readonly gyro: Vec3;
  /** Magnetic field, µT, sensor frame (optional). */
  readonly mag?: Vec3;
  /** Device's own orientation estimate (optional; the runtime runs its own AHRS). */
  readonly quat?: Quat;
}

/** Something a source noticed and counted instead of crashing on. */
export interface SourceIssue {
  readonly kind:
    | "bad_checksum"
    | "bad_frame"
    | "resync"
    | "bad_value"
    | "disconnected"
    | "reconnecting"
    | "reconnected"
    | "io_error"
    /** A device clock restarted or jumped (board reboot, DOT reboot): put back on the host clock with the real gap. */
    | "clock_restart"
    /** onSample threw; the source kept going (reports rate-limited, stats count every one). */
    | "consumer_error"
    | "no_valid_data"
    | "valid_data";
  readonly sensorId?: string;
  readonly message: string;
}

/**
 * A source configuration that cannot produce what is asked of it (a replay
 * file without a needed sensor, or without any sample): thrown by start(), so
 * the CLI can exit with EX_CONFIG (78) instead of running without angles.
 */
export class SourceConfigError extends Error {
  constructor(
    message: string,
    /** The file or config field at fault. */
    readonly where: string,
  ) {
    super(message);
    this.name = "SourceConfigError";
  }
}

export interface SourceHandlers {
  onSample(sample: ImuSample): void;
  onIssue(issue: SourceIssue): void;
  /** Called exactly once when a finite source (replay, timed simulator) has delivered everything. */
  onEnd?(): void;
}

export interface SourceStats {
  readonly samples: number;
  readonly issues: Readonly<Record<string, number>>;
}

/** Every source: constructor stores config, start() opens, stop() closes. */
export interface ImuSource {
  readonly kind: string;
  start(handlers: SourceHandlers): Promise<void>;
  stop(): Promise<void>;
  stats(): SourceStats;
}
