/**
 * The thin I/O wrapper: a serial port (USB CDC board, UART adapter) -> the
 * frame or CSV parser -> the protocol layer -> the runtime's handlers.
 *
 * Unplugging a board is normal operation on a body-worn device, so a closed
 * port is not an error that ends the source: it reports `disconnected`, tries
 * to reopen every `reconnectMs` (one `reconnecting` issue per outage, each
 * failed attempt only logged at debug), and reports `reconnected` when the
 * board is back. The protocol state (clock unwrapping, sequence) survives the
 * outage, so timestamps stay monotonic across it.
 *
 * `serialport` is imported lazily: it loads a native binding, and processes
 * that never open a serial source (replay, BLE, tests) should not pay for or
 * depend on it.
 */

import type { Transform } from "node:stream";
import type { SerialPort } from "serialport";
import { z } from "zod";
import { createLogger, type Logger } from "../../log.js";
import { SourceCore, noDataTimeoutMsSchema } from "../core.js";
import type { ImuSource, SourceHandlers, SourceIssue, SourceStats } from "../types.js";
import { CsvLineParser } from "./csvLine.js";
import { withEofGuard } from "./eofGuard.js";
import type { ImuFrame } from "./frame.js";
import { FrameParser } from "./parser.js";
import { DEFAULT_VALUE_LIMITS, SerialProtocol, valueLimitsSchema } from "./protocol.js";

export const serialSourceSchema = z.object({
  /** Device path, e.g. /dev/ttyACM0 or a stable /dev/serial/by-id/... link. */
  path: z.string().min(1),
  /** Ignored by USB CDC boards; real UARTs need it (see docs for the byte budget). */
  baudRate: z.number().int().positive().default(115200),
  mode: z.enum(["binary", "csv"]).default("binary"),
  reconnectMs: z.number().int().min(10).default(1000),
  /** Board sensor id -> sensor name, e.g. { "3": "femur_r" }; default name "serial:<id>". */
  sensorNames: z.record(z.string().regex(/^\d{1,3}$/, "sensor id must be 0..255"), z.string().min(1)).optional(),
  limits: valueLimitsSchema.default(DEFAULT_VALUE_LIMITS),
  /** no_valid_data after this long without a valid frame (wrong mode, silent board, bad cable); 0 = off. */
  noDataTimeoutMs: noDataTimeoutMsSchema,
});
export type SerialSourceConfig = z.infer<typeof serialSourceSchema>;

export interface SerialSourceDeps {
  readonly logger?: Logger;
  /** Host monotonic clock in ms (arrival times splice a restarted board clock); tests may pass a fake. */
  readonly now?: () => number;
}

type SerialPortClass = typeof SerialPort;
type PortBinding = (typeof SerialPort)["binding"];

export class SerialSource implements ImuSource {
  readonly kind = "serial";
  private readonly log: Logger;
  private readonly core: SourceCore;
  private readonly now: () => number;
  private protocol: SerialProtocol | undefined;
  private SerialPortClass: SerialPortClass | undefined;
  private binding: PortBinding | undefined;
  private port: SerialPort | undefined;
  private parser: Transform | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** True from a lost (or never opened) port until it opens again. */
  private outage = false;
  /** One `reconnecting` issue per outage, not one per attempt. */
  private reconnectingReported = false;

  constructor(
    private readonly config: SerialSourceConfig,
    deps: SerialSourceDeps = {},
  ) {
    this.log = deps.logger ?? createLogger("source:serial");
    this.now = deps.now ?? (() => performance.now());
    this.core = new SourceCore({
      name: `serial ${config.path}`,
      logger: this.log,
      noDataTimeoutMs: config.noDataTimeoutMs,
      unit: "frame",
      countsBytes: true,
      now: this.now,
    });
  }

  /**
   * Loads `serialport` and makes the first open attempt. Resolves whether or
   * not the board is there (a missing board is reported and retried); rejects
   * only when `serialport` itself cannot be loaded.
   */
  async start(handlers: SourceHandlers): Promise<void> {
    if (this.running) throw new Error(`serial source ${this.config.path} already started`);
    const { SerialPort } = await import("serialport");
    this.SerialPortClass = SerialPort;
    this.binding = withEofGuard(SerialPort.binding);
    this.protocol = new SerialProtocol(
      { sensorNames: this.config.sensorNames ?? {}, limits: this.config.limits },
      { onSample: (s) => this.core.deliver(s), onIssue: (i) => this.emitIssue(i) },
    );
    this.running = true;
    this.core.begin(handlers);
    await this.open();
  }

  async stop(): Promise<void> {
    this.running = false;
    // First: bytes still in the parser must not reach the consumer once stop() resolves.
    this.core.halt();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const port = this.port;
    this.port = undefined;
    this.parser?.destroy();
    this.parser = undefined;
    if (port?.isOpen) {
      await new Promise<void>((resolve) => {
        port.close((err) => {
          if (err) this.log.warn("closing serial port failed", { path: this.config.path, error: err.message });
          resolve();
        });
      });
    }
  }

  stats(): SourceStats {
    return this.core.stats();
  }

  private open(): Promise<void> {
    const SerialPortClass = this.SerialPortClass;
    if (!SerialPortClass || !this.running) return Promise.resolve();
    const { path, baudRate } = this.config;
    return new Promise<void>((resolve) => {
      // `binding` is not in SerialPort's option type, but its constructor lets
      // it override the detected one: that is how the EOF guard gets in.
      const options = { path, baudRate, autoOpen: false, binding: this.binding };
      const port = new SerialPortClass(options);
      port.open((err) => {
        if (err) {
          this.onOpenFailed(err);
        } else if (!this.running) {
          // stop() ran while the port was opening.
          port.close(() => undefined);
        } else {
          this.attach(port);
        }
        resolve();
      });
    });
  }

  private attach(port: SerialPort): void {
    this.port = port;
    const parser = this.createParser();
    this.parser = parser;
    // The host arrival time goes with each frame: it is the only clock that
    // survives a board restart (protocol.ts splices the new board clock on it).
    parser.on("data", (frame: ImuFrame) => this.protocol?.handle(frame, Math.round(this.now() * 1000)));
    parser.on("error", (err: Error) => this.emitIssue({ kind: "io_error", message: `serial parser failed: ${err.message}` }));
    port.on("data", (chunk: Buffer) => {
      this.core.noteBytes(chunk.length);
      parser.write(chunk);
    });
    port.on("error", (err: Error) => {
      this.emitIssue({ kind: "io_error", message: `serial ${this.config.path}: ${err.message}` });
      // Read errors on a tty do not recover; closing leads to the reconnect path.
      if (port.isOpen) port.close((closeErr) => closeErr && this.log.warn("closing serial port failed", { error: closeErr.message }));
    });
    port.on("close", (err?: Error | null) => this.onClosed(port, err ?? undefined));

    if (this.outage) {
      this.outage = false;
      this.emitIssue({ kind: "reconnected", message: `serial ${this.config.path} reopened` });
    }
    this.log.info("serial port open", { path: this.config.path, baudRate: this.config.baudRate, mode: this.config.mode });
  }

  private createParser(): Transform {
    const onIssue = (issue: SourceIssue): void => this.emitIssue(issue);
    return this.config.mode === "csv" ? new CsvLineParser({ onIssue }) : new FrameParser({ onIssue });
  }

  private onOpenFailed(err: Error): void {
    if (this.outage) {
      this.log.debug(() => `reopen of ${this.config.path} failed: ${err.message}`);
    } else {
      this.beginOutage(`cannot be opened (${err.message})`);
    }
    this.scheduleReopen();
  }

  private onClosed(port: SerialPort, err: Error | undefined): void {
    if (port !== this.port) return;
    this.port = undefined;
    this.parser?.destroy();
    this.parser = undefined;
    if (!this.running) return;
    this.beginOutage(`closed${err ? ` (${err.message})` : ""}`);
    this.scheduleReopen();
  }

  private beginOutage(what: string): void {
    this.outage = true;
    this.reconnectingReported = false;
    this.emitIssue({
      kind: "disconnected",
      message: `serial ${this.config.path} ${what}; retrying every ${this.config.reconnectMs} ms`,
    });
  }

  private scheduleReopen(): void {
    if (!this.running || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.reconnectingReported) {
        this.reconnectingReported = true;
        this.emitIssue({ kind: "reconnecting", message: `serial ${this.config.path}: trying to reopen` });
      }
      void this.open().catch((e: unknown) => {
        // open() does not reject today; if it ever does, keep retrying and say why.
        this.emitIssue({ kind: "io_error", message: `serial ${this.config.path}: reopen failed: ${String(e)}` });
        this.scheduleReopen();
      });
    }, this.config.reconnectMs);
  }

  // Handlers run inside the parser's transform: the core catches a throwing
  // consumer (one would otherwise leave the stream stuck mid-chunk).
  private emitIssue(issue: SourceIssue): void {
    if (!this.running) return; // nothing after stop(), not even the close it caused
    this.core.issue(issue);
  }
}
