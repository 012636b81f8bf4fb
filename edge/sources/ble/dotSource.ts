/**
 * Movella DOT IMUs over Bluetooth LE, through noble. The thin I/O layer: it
 * finds the configured sensors, starts Custom mode 5 streaming on each, turns
 * notifications into `ImuSample`s (decoding lives in dotProtocol.ts) and keeps
 * reconnecting lost sensors until stop().
 *
 * noble is an optional dependency that throws at import time on a machine
 * without a Bluetooth adapter, so it is loaded lazily inside start(), never at
 * module load: importing this file is always safe.
 *
 * (Over 400 lines on purpose: scan, connect, configure, notify and reconnect of
 * many sensors share one per-sensor state machine; the protocol's bytes are in
 * dotProtocol.ts and the clock alignment in clockAlign.ts.)
 */

import { z } from "zod";
import { createLogger, type Logger } from "../../log.js";
import { SourceCore, noDataTimeoutMsSchema } from "../core.js";
import type { ImuSample, ImuSource, SourceHandlers, SourceIssue, SourceStats } from "../types.js";
import {
  DOT_STREAMING_RATES_HZ,
  DOT_UUID,
  TimestampUnwrapper,
  decodeCustomMode5,
  normalizeUuid,
  outputRateMessage,
  startStreamingMessage,
  stopStreamingMessage,
} from "./dotProtocol.js";
import { ClockAligner } from "./clockAlign.js";
import type {
  DataListener,
  DisconnectListener,
  NobleCharacteristicLike,
  NobleLike,
  NoblePeripheralLike,
} from "./nobleTypes.js";

export const dotSourceSchema = z
  .object({
    /** The DOTs to stream from; `address` as printed on the sensor/app (D4:22:CD:..) or noble's id. */
    sensors: z
      .array(
        z.object({
          address: z.string().min(1),
          /** sensorId of its samples; the address when absent. */
          name: z.string().min(1).optional(),
        }),
      )
      .min(1),
    /** Report sensors still missing after this long of scanning, then restart the scan. */
    scanTimeoutMs: z.number().int().positive().default(30_000),
    /** First reconnect delay; doubles after every failed attempt up to maxReconnectMs. */
    reconnectMs: z.number().int().positive().default(1_000),
    maxReconnectMs: z.number().int().positive().default(30_000),
    /** A connect or GATT step that hangs longer than this counts as a failed attempt. */
    connectTimeoutMs: z.number().int().positive().default(15_000),
    /** How long start() waits for the adapter to report poweredOn. */
    poweredOnTimeoutMs: z.number().int().positive().default(10_000),
    /** Streaming output rate written before each start; DOT streams at most 60 Hz over BLE. */
    outputRateHz: z.literal(DOT_STREAMING_RATES_HZ).default(60),
    /**
     * "host": each DOT's clock is put on the host's from arrival times, so DOTs
     * whose clocks differ by seconds still pair up (clockAlign.ts, issue #12);
     * "device": tUs is the DOT's own unwrapped clock.
     */
    clockAlignment: z.enum(["host", "device"]).default("host"),
    /** no_valid_data after this long without a valid notification from any DOT; 0 = off. */
    noDataTimeoutMs: noDataTimeoutMsSchema,
  })
  .refine((c) => new Set(c.sensors.map((s) => addressKey(s.address))).size === c.sensors.length, {
    message: "each DOT address may appear only once in sensors",
    path: ["sensors"],
  });

export type DotSourceConfig = z.infer<typeof dotSourceSchema>;

export interface DotSourceDeps {
  /** Returns the noble instance; the default imports @stoprocent/noble. */
  loadNoble?: () => Promise<NobleLike>;
  logger?: Logger;
  /** Host monotonic clock, µs, for clock alignment; tests pass a fake. */
  hostClockUs?: () => number;
}

/** Addresses compare without separators or case: "D4:22:CD:00:A6:83" is noble id "d422cd00a683". */
function addressKey(address: string): string {
  return address.replace(/[:-]/g, "").toLowerCase();
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function importNoble(): Promise<NobleLike> {
  // A non-literal specifier keeps TypeScript (and bundlers) from resolving the
  // optional package at build time; a clone without it still compiles.
  const specifier = "@stoprocent/noble";
  const mod: unknown = await import(specifier);
  const candidate: unknown = (mod as { default?: unknown }).default ?? mod;
  if (
    typeof candidate !== "object" ||
    candidate === null ||
    typeof (candidate as Record<string, unknown>).startScanningAsync !== "function"
  ) {
    throw new Error(`${specifier} did not export a noble instance`);
  }
  return candidate as NobleLike;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * searching: wanted, waiting for an advertisement; backoff: waiting before the
 * next attempt; connecting: one attempt in progress; streaming: delivering.
 */
type LinkState = "searching" | "backoff" | "connecting" | "streaming";

interface SensorLink {
  readonly key: string;
  readonly sensorId: string;
  state: LinkState;
  peripheral?: NoblePeripheralLike;
  control?: NobleCharacteristicLike;
  payload?: NobleCharacteristicLike;
  onData?: DataListener;
  onDisconnect?: DisconnectListener;
  /** Consecutive failed attempts; drives the reconnect backoff. */
  failures: number;
  everStreamed: boolean;
  retryTimer?: NodeJS.Timeout;
  /** Kept across reconnects: the DOT clock keeps running while we are away. */
  readonly clock: TimestampUnwrapper;
  /** Device clock -> host clock; kept across reconnects for the same reason. */
  readonly aligner: ClockAligner<ImuSample>;
}

export class DotSource implements ImuSource {
  readonly kind = "ble-dot";
  private readonly loadNoble: () => Promise<NobleLike>;
  private readonly hostClockUs: () => number;
  private readonly log: Logger;
  private noble: NobleLike | undefined;
  private readonly core: SourceCore;
  private readonly links = new Map<string, SensorLink>();
  private running = false;
  private scanning = false;
  private scanTimer: NodeJS.Timeout | undefined;
  /** Connect attempts run one at a time: BLE adapters handle one connection setup at a time. */
  private connectQueue: Promise<void> = Promise.resolve();

  constructor(
    private readonly config: DotSourceConfig,
    deps: DotSourceDeps = {},
  ) {
    this.loadNoble = deps.loadNoble ?? importNoble;
    this.hostClockUs = deps.hostClockUs ?? (() => Math.round(performance.now() * 1000));
    this.log = deps.logger ?? createLogger("source:ble-dot");
    this.core = new SourceCore({
      name: "ble-dot",
      logger: this.log,
      noDataTimeoutMs: config.noDataTimeoutMs,
      unit: "notification",
    });
  }

  async start(handlers: SourceHandlers): Promise<void> {
    if (this.running) throw new Error("DotSource.start() called twice");
    let noble: NobleLike;
    try {
      noble = await this.loadNoble();
    } catch (err) {
      throw new Error(
        `Bluetooth LE source unavailable: ${reasonOf(err)}. Install @stoprocent/noble and check the adapter (hciconfig)`,
        { cause: err },
      );
    }
    this.noble = noble;
    this.links.clear();
    for (const sensor of this.config.sensors) {
      const key = addressKey(sensor.address);
      this.links.set(key, {
        key,
        sensorId: sensor.name ?? sensor.address,
        state: "searching",
        failures: 0,
        everStreamed: false,
        clock: new TimestampUnwrapper(),
        aligner: new ClockAligner<ImuSample>(),
      });
    }
    noble.on("stateChange", this.onStateChange);
    noble.on("discover", this.onDiscover);
    this.running = true;
    this.core.begin(handlers);
    try {
      await this.waitForPoweredOn(noble);
    } catch (err) {
      this.running = false;
      this.core.halt();
      noble.removeListener("stateChange", this.onStateChange);
      noble.removeListener("discover", this.onDiscover);
      throw err;
    }
    this.log.info("adapter powered on, scanning for DOTs", { sensors: this.config.sensors.length });
    await this.ensureScanning();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.core.halt(); // first: nothing reaches the consumer while the links close
    clearTimeout(this.scanTimer);
    for (const link of this.links.values()) clearTimeout(link.retryTimer);
    await this.stopScanning();
    // Let an attempt in progress settle so its peripheral is disconnected below,
    // but never hang shutdown on a connect that the adapter never answers.
    await withTimeout(this.connectQueue, this.config.connectTimeoutMs, "pending connect").catch((err: unknown) =>
      this.log.warn("stopping with a connect still pending", { reason: reasonOf(err) }),
    );
    await Promise.all([...this.links.values()].map((link) => this.closeLink(link)));
    this.noble?.removeListener("stateChange", this.onStateChange);
    this.noble?.removeListener("discover", this.onDiscover);
    this.log.info("stopped", { samples: this.core.stats().samples });
  }

  stats(): SourceStats {
    return this.core.stats();
  }

  // ---- adapter and scanning -------------------------------------------------

  private waitForPoweredOn(noble: NobleLike): Promise<void> {
    if (noble.state === "poweredOn") return Promise.resolve();
    const ms = this.config.poweredOnTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const onState = (state: string): void => {
        if (state !== "poweredOn") return;
        clearTimeout(timer);
        noble.removeListener("stateChange", onState);
        resolve();
      };
      const timer = setTimeout(() => {
        noble.removeListener("stateChange", onState);
        reject(
          new Error(
            `Bluetooth LE adapter is "${noble.state}", not poweredOn, after ${ms} ms. Check the adapter (hciconfig, rfkill)`,
          ),
        );
      }, ms);
      noble.on("stateChange", onState);
    });
  }

  private readonly onStateChange = (state: string): void => {
    if (!this.running) return;
    if (state === "poweredOn") {
      this.log.info("adapter powered on again");
      this.scanning = false;
      this.ensureScanningInBackground();
    } else {
      this.scanning = false;
      this.issue({ kind: "io_error", message: `Bluetooth adapter state changed to "${state}"` });
    }
  };

  /** Scans while some sensor is searching; a no-op otherwise. Never rejects. */
  private async ensureScanning(): Promise<void> {
    const noble = this.noble;
    if (!this.running || this.scanning || !noble) return;
    if (![...this.links.values()].some((l) => l.state === "searching")) return;
    this.scanning = true;
    try {
      // No service filter: DOTs advertise their name, not the measurement service.
      await noble.startScanningAsync([], false);
    } catch (err) {
      this.scanning = false;
      this.issue({ kind: "io_error", message: `could not start scanning: ${reasonOf(err)}` });
      clearTimeout(this.scanTimer);
      this.scanTimer = setTimeout(() => this.ensureScanningInBackground(), this.config.reconnectMs);
      return;
    }
    clearTimeout(this.scanTimer);
    this.scanTimer = setTimeout(() => this.onScanTimeout(), this.config.scanTimeoutMs);
  }

  private ensureScanningInBackground(): void {
    void this.ensureScanning().catch((err: unknown) =>
      this.issue({ kind: "io_error", message: `scanning failed: ${reasonOf(err)}` }),
    );
  }

  private onScanTimeout(): void {
    if (!this.running) return;
    for (const link of this.links.values()) {
      if (link.state !== "searching") continue;
      this.issue({
        kind: "io_error",
        sensorId: link.sensorId,
        message: `${link.sensorId}: not found after ${this.config.scanTimeoutMs} ms of scanning (is it on and not connected elsewhere?); still scanning`,
      });
    }
    // Restarting the scan also clears noble's list of already-reported devices.
    void this.stopScanning()
      .then(() => this.ensureScanning())
      .catch((err: unknown) => this.issue({ kind: "io_error", message: `scan restart failed: ${reasonOf(err)}` }));
  }

  private async stopScanning(): Promise<void> {
    clearTimeout(this.scanTimer);
    if (!this.scanning || !this.noble) return;
    this.scanning = false;
    try {
      await this.noble.stopScanningAsync();
    } catch (err) {
      this.log.warn("could not stop scanning", { reason: reasonOf(err) });
    }
  }

  private readonly onDiscover = (peripheral: NoblePeripheralLike): void => {
    if (!this.running) return;
    const link = this.links.get(addressKey(peripheral.address)) ?? this.links.get(addressKey(peripheral.id));
    if (!link || link.state !== "searching") return;
    link.state = "connecting";
    this.log.info("found DOT", {
      sensorId: link.sensorId,
      address: peripheral.address,
      localName: peripheral.advertisement.localName,
    });
    this.connectQueue = this.connectQueue.then(() => this.connect(link, peripheral));
  };

  // ---- one sensor ---------------------------------------------------------

  /** One connection attempt; never rejects (failures schedule a retry). */
  private async connect(link: SensorLink, peripheral: NoblePeripheralLike): Promise<void> {
    if (!this.running) {
      link.state = "searching";
      return;
    }
    // HCI adapters (the Raspberry Pi's included) often refuse to open a
    // connection while scanning, so scanning pauses during each attempt.
    await this.stopScanning();
    const ms = this.config.connectTimeoutMs;
    try {
      link.peripheral = peripheral;
      const onDisconnect: DisconnectListener = (reason) => this.onDisconnect(link, peripheral, reason);
      link.onDisconnect = onDisconnect;
      peripheral.once("disconnect", onDisconnect);
      await withTimeout(peripheral.connectAsync(), ms, "connect");
      const { characteristics } = await withTimeout(
        peripheral.discoverSomeServicesAndCharacteristicsAsync(
          [DOT_UUID.configurationService, DOT_UUID.measurementService],
          [DOT_UUID.deviceControl, DOT_UUID.measurementControl, DOT_UUID.longPayload],
        ),
        ms,
        "service discovery",
      );
      const find = (uuid: string): NobleCharacteristicLike | undefined =>
        characteristics.find((c) => normalizeUuid(c.uuid) === uuid);
      const control = find(DOT_UUID.measurementControl);
      const payload = find(DOT_UUID.longPayload);
      if (!control || !payload) {
        throw new Error("measurement control or long payload characteristic missing: not a Movella DOT?");
      }
      const deviceControl = find(DOT_UUID.deviceControl);
      if (deviceControl) {
        await withTimeout(deviceControl.writeAsync(outputRateMessage(this.config.outputRateHz), false), ms, "set output rate");
      } else {
        this.log.warn("device control characteristic missing; output rate left as set on the sensor", {
          sensorId: link.sensorId,
        });
      }
      link.control = control;
      link.payload = payload;
      const onData: DataListener = (data) => this.onNotification(link, data);
      link.onData = onData;
      payload.on("data", onData);
      // Spec 3.1: enable notifications before writing the start action.
      await withTimeout(payload.subscribeAsync(), ms, "subscribe");
      await withTimeout(control.writeAsync(startStreamingMessage(), false), ms, "start streaming");
      link.state = "streaming";
      link.failures = 0;
      if (!this.running) return; // stop() is waiting to close this link
      if (link.everStreamed) {
        this.issue({ kind: "reconnected", sensorId: link.sensorId, message: `${link.sensorId}: streaming again` });
      } else {
        this.log.info("streaming", { sensorId: link.sensorId, rateHz: this.config.outputRateHz });
      }
      link.everStreamed = true;
    } catch (err) {
      if (!this.running) return;
      this.issue({
        kind: "io_error",
        sensorId: link.sensorId,
        message: `${link.sensorId}: connection attempt failed: ${reasonOf(err)}`,
      });
      await this.dropPeripheral(link);
      this.scheduleRetry(link);
    } finally {
      await this.ensureScanning();
    }
  }

  private onNotification(link: SensorLink, data: Buffer): void {
    if (link.state !== "streaming") return;
    const result = decodeCustomMode5(data);
    if (!result.ok) {
      this.issue({
        kind: "bad_frame",
        sensorId: link.sensorId,
        message: `${link.sensorId}: bad notification: ${result.reason}`,
      });
      return;
    }
    const m = result.measurement;
    const deviceUs = link.clock.unwrap(m.timestampUs);
    const sample: ImuSample = { sensorId: link.sensorId, tUs: deviceUs, acc: m.acc, gyro: m.gyro, quat: m.quat };
    // The core catches a throwing consumer: a throw here would surface inside noble's event loop and kill the process.
    if (this.config.clockAlignment === "device") {
      this.core.deliver(sample);
      return;
    }
    const step = link.aligner.push(sample, deviceUs, this.hostClockUs());
    if (step.jump) {
      this.issue({
        kind: "clock_restart",
        sensorId: link.sensorId,
        message:
          `${link.sensorId}: clock offset to the host changed by ${Math.round(step.jump.byUs / 1000)} ms ` +
          `(DOT restarted, or its clock jumped); re-aligned on arrival times`,
      });
    }
    for (const { item, tUs } of step.out) this.core.deliver(tUs === item.tUs ? item : { ...item, tUs });
  }

  private onDisconnect(link: SensorLink, peripheral: NoblePeripheralLike, reason: unknown): void {
    link.onDisconnect = undefined; // `once` already removed it
    // While connecting, the pending GATT step fails and the attempt handles it.
    if (!this.running || link.peripheral !== peripheral || link.state !== "streaming") return;
    this.detach(link);
    this.issue({
      kind: "disconnected",
      sensorId: link.sensorId,
      message: `${link.sensorId}: disconnected${reason === undefined ? "" : ` (${reason instanceof Error ? reason.message : JSON.stringify(reason)})`}`,
    });
    this.scheduleRetry(link);
  }

  private scheduleRetry(link: SensorLink): void {
    if (!this.running) return;
    const delay = Math.min(this.config.reconnectMs * 2 ** link.failures, this.config.maxReconnectMs);
    link.failures++;
    link.state = "backoff";
    this.issue({
      kind: "reconnecting",
      sensorId: link.sensorId,
      message: `${link.sensorId}: reconnecting in ${delay} ms (attempt ${link.failures})`,
    });
    clearTimeout(link.retryTimer);
    link.retryTimer = setTimeout(() => {
      link.retryTimer = undefined;
      if (!this.running) return;
      link.state = "searching";
      this.ensureScanningInBackground();
    }, delay);
  }

  /** Forgets the peripheral's listeners and characteristics; does no I/O. */
  private detach(link: SensorLink): void {
    if (link.payload && link.onData) link.payload.removeListener("data", link.onData);
    if (link.peripheral && link.onDisconnect) link.peripheral.removeListener("disconnect", link.onDisconnect);
    link.onData = undefined;
    link.onDisconnect = undefined;
    link.control = undefined;
    link.payload = undefined;
    link.peripheral = undefined;
  }

  private async dropPeripheral(link: SensorLink): Promise<void> {
    const peripheral = link.peripheral;
    this.detach(link);
    if (!peripheral) return;
    try {
      await withTimeout(peripheral.disconnectAsync(), this.config.connectTimeoutMs, "disconnect");
    } catch (err) {
      this.log.warn("disconnect after a failed attempt failed", { sensorId: link.sensorId, reason: reasonOf(err) });
    }
  }

  /** stop(): stop measurement, then disable notification, then disconnect (spec 3.8). */
  private async closeLink(link: SensorLink): Promise<void> {
    const { control, payload, peripheral } = link;
    const wasStreaming = link.state === "streaming";
    link.state = "searching";
    if (!peripheral) return;
    const ms = this.config.connectTimeoutMs;
    const attempt = async (what: string, op: () => Promise<void>): Promise<void> => {
      try {
        await withTimeout(op(), ms, what);
      } catch (err) {
        this.log.warn(`${what} failed while stopping`, { sensorId: link.sensorId, reason: reasonOf(err) });
      }
    };
    if (wasStreaming && control) await attempt("stop streaming", () => control.writeAsync(stopStreamingMessage(), false));
    if (payload) await attempt("unsubscribe", () => payload.unsubscribeAsync());
    this.detach(link);
    await attempt("disconnect", () => peripheral.disconnectAsync());
  }

  /** Counted, logged (warn; bad frames rate-limited) and forwarded by the core. */
  private issue(issue: SourceIssue): void {
    if (!this.running) return; // nothing after stop()
    this.core.issue(issue);
  }
}
