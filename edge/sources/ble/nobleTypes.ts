/**
 * The part of the noble API (npm `@stoprocent/noble`) that the DOT source
 * uses, as plain interfaces. The source depends on these instead of on noble's
 * own types so that (1) noble stays an optional dependency loaded lazily, and
 * (2) tests drive the source with an EventEmitter fake at exactly this boundary.
 * The method names and argument orders are noble's (index.d.ts of 1.9.2-26).
 */

export type NobleState =
  | "unknown"
  | "resetting"
  | "unsupported"
  | "unauthorized"
  | "poweredOff"
  | "poweredOn";

export type DataListener = (data: Buffer, isNotification: boolean) => void;
export type DisconnectListener = (reason?: unknown) => void;

export interface NobleCharacteristicLike {
  /** Lower case, no dashes, as noble reports it. */
  readonly uuid: string;
  subscribeAsync(): Promise<void>;
  unsubscribeAsync(): Promise<void>;
  /** `withoutResponse = false` asks for a write with response (acknowledged). */
  writeAsync(data: Buffer, withoutResponse: boolean): Promise<void>;
  on(event: "data", listener: DataListener): unknown;
  removeListener(event: "data", listener: DataListener): unknown;
}

export interface NoblePeripheralLike {
  /** noble's id: the address without colons on Linux, a UUID on macOS. */
  readonly id: string;
  /** Bluetooth address "d4:22:cd:..", lower case; empty on macOS. */
  readonly address: string;
  readonly advertisement: { readonly localName?: string };
  connectAsync(): Promise<void>;
  disconnectAsync(): Promise<void>;
  discoverSomeServicesAndCharacteristicsAsync(
    serviceUUIDs: string[],
    characteristicUUIDs: string[],
  ): Promise<{ readonly characteristics: readonly NobleCharacteristicLike[] }>;
  once(event: "disconnect", listener: DisconnectListener): unknown;
  removeListener(event: "disconnect", listener: DisconnectListener): unknown;
}

export interface NobleLike {
  /** Reading it also initialises noble's HCI bindings, like noble itself does. */
  readonly state: string;
  on(event: "stateChange", listener: (state: string) => void): unknown;
  on(event: "discover", listener: (peripheral: NoblePeripheralLike) => void): unknown;
  removeListener(event: "stateChange", listener: (state: string) => void): unknown;
  removeListener(event: "discover", listener: (peripheral: NoblePeripheralLike) => void): unknown;
  startScanningAsync(serviceUUIDs?: string[], allowDuplicates?: boolean): Promise<void>;
  stopScanningAsync(): Promise<void>;
}
