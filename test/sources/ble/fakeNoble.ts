/**
 * An in-memory noble for tests: EventEmitter-based fakes of the adapter,
 * peripherals and characteristics, implementing the interfaces of
 * edge/sources/ble/nobleTypes.ts. Every GATT call is recorded in `journal` so
 * tests can assert the order the spec asks for (subscribe before start, etc.).
 */

import { EventEmitter } from "node:events";
import { DOT_UUID } from "../../../edge/sources/ble/dotProtocol.js";
import type {
  NobleCharacteristicLike,
  NobleLike,
  NoblePeripheralLike,
} from "../../../edge/sources/ble/nobleTypes.js";

/** Builds one Custom mode 5 notification (44 bytes, little-endian). */
export function customMode5Frame(f: {
  timestampUs: number;
  quat?: readonly [number, number, number, number];
  acc: readonly [number, number, number];
  gyroDeg: readonly [number, number, number];
}): Buffer {
  const buf = Buffer.alloc(44);
  buf.writeUInt32LE(f.timestampUs, 0);
  [...(f.quat ?? [1, 0, 0, 0]), ...f.acc, ...f.gyroDeg].forEach((v, i) => buf.writeFloatLE(v, 4 + 4 * i));
  return buf;
}

export class FakeCharacteristic extends EventEmitter implements NobleCharacteristicLike {
  readonly writes: Buffer[] = [];
  subscribed = false;

  constructor(
    readonly uuid: string,
    private readonly journal: string[],
  ) {
    super();
  }

  async subscribeAsync(): Promise<void> {
    this.subscribed = true;
    this.journal.push(`subscribe ${this.uuid.slice(4, 8)}`);
  }

  async unsubscribeAsync(): Promise<void> {
    this.subscribed = false;
    this.journal.push(`unsubscribe ${this.uuid.slice(4, 8)}`);
  }

  async writeAsync(data: Buffer, withoutResponse: boolean): Promise<void> {
    this.writes.push(Buffer.from(data));
    this.journal.push(`write ${this.uuid.slice(4, 8)} ${data.toString("hex")}${withoutResponse ? " (no response)" : ""}`);
  }

  /** The sensor sends a notification. */
  notify(data: Buffer): void {
    if (this.subscribed) this.emit("data", data, true);
  }
}

export class FakePeripheral extends EventEmitter implements NoblePeripheralLike {
  readonly journal: string[] = [];
  readonly advertisement = { localName: "Movella DOT" };
  readonly control = new FakeCharacteristic(DOT_UUID.measurementControl, this.journal);
  readonly payload = new FakeCharacteristic(DOT_UUID.longPayload, this.journal);
  readonly deviceControl = new FakeCharacteristic(DOT_UUID.deviceControl, this.journal);
  connected = false;
  connects = 0;
  /** Number of upcoming connectAsync calls that fail. */
  failConnects = 0;

  constructor(
    readonly address: string,
    readonly id: string = address.replace(/:/g, ""),
  ) {
    super();
  }

  async connectAsync(): Promise<void> {
    this.connects++;
    this.journal.push("connect");
    if (this.failConnects > 0) {
      this.failConnects--;
      throw new Error("Command Disallowed (0x0c)");
    }
    this.connected = true;
  }

  async disconnectAsync(): Promise<void> {
    this.journal.push("disconnect");
    this.dropLink("local");
  }

  async discoverSomeServicesAndCharacteristicsAsync(
    _services: string[],
    characteristicUUIDs: string[],
  ): Promise<{ characteristics: FakeCharacteristic[] }> {
    const all = [this.control, this.payload, this.deviceControl];
    return { characteristics: all.filter((c) => characteristicUUIDs.includes(c.uuid)) };
  }

  /** The link is lost (out of range, battery): noble emits "disconnect". */
  dropLink(reason = "connection timeout"): void {
    if (!this.connected) return;
    this.connected = false;
    this.control.subscribed = false;
    this.payload.subscribed = false;
    this.emit("disconnect", reason);
  }
}

export class FakeNoble extends EventEmitter implements NobleLike {
  scanning = false;
  scanStarts = 0;
  /** Peripherals that advertise while we scan. */
  readonly inRange: FakePeripheral[] = [];

  constructor(public state: string = "poweredOn") {
    super();
  }

  setState(state: string): void {
    this.state = state;
    this.emit("stateChange", state);
  }

  async startScanningAsync(): Promise<void> {
    if (this.state !== "poweredOn") throw new Error(`Could not start scanning, state is ${this.state}`);
    this.scanning = true;
    this.scanStarts++;
    // Advertisements arrive a little after the scan starts, like on a real adapter.
    setTimeout(() => {
      for (const p of this.inRange) if (this.scanning && !p.connected) this.emit("discover", p);
    }, 1);
  }

  async stopScanningAsync(): Promise<void> {
    this.scanning = false;
  }
}
