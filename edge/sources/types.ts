/**
 * The contract between every IMU source (replay, serial, BLE, simulator) and the
 * rest of the pipeline. A source turns bytes, notifications or file rows into
 * `ImuSample`s in contract units; it never resamples, filters or windows.
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
    | "no_valid_data" | "valid_data";
  readonly sensorId?: string;
  readonly message: string;
}

export interface SourceHandlers {
  onSample(sample: ImuSample): void;
  onIssue(issue: SourceIssue): void;
  /** Called once when a finite source (replay) has delivered everything. */
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
