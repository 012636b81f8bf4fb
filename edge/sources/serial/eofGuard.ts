/**
 * Works around serialport/bindings-cpp#162 (open as of bindings-cpp 13.0.0):
 * on Linux/macOS its `unixRead` treats a 0-byte read as "try again" and
 * recurses at once. A tty whose device is gone (USB unplugged, pty master
 * closed) reads 0 bytes forever, so a hang-up that lands while a read is in
 * flight (rather than parked in the poller) spins the CPU and grows the stack
 * instead of closing the port: the source would never see the unplug.
 *
 * The guard wraps the platform binding so each opened port gets a read that
 * treats 0 bytes as end of file and fails with a disconnect error; the
 * stream then closes the port with `disconnected`, and SerialSource's normal
 * reconnect path takes over. Ports without a unix fd (Windows) are untouched.
 * Remove this file when upstream fixes the bug (PR #164 had the same idea).
 */

import fs from "node:fs";
import { promisify } from "node:util";

const readAsync = promisify(fs.read);

interface Readable {
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
}

/** The parts of bindings-cpp's unix port binding the guarded read needs. */
interface UnixPortBinding extends Readable {
  fd: number | null;
  readonly isOpen: boolean;
  readonly poller: { once(event: "readable", callback: (err: Error | null) => void): unknown };
}

function isUnixPort(port: unknown): port is UnixPortBinding {
  if (typeof port !== "object" || port === null) return false;
  const p = port as Partial<UnixPortBinding>;
  return "fd" in p && typeof p.read === "function" && typeof p.poller?.once === "function";
}

type PortError = Error & { code?: string; errno?: number; disconnect?: boolean; canceled?: boolean };

const RETRY = new Set(["EAGAIN", "EWOULDBLOCK", "EINTR"]);
/** The codes bindings-cpp itself treats as a vanished device, plus EIO (hung-up tty). */
const DISCONNECT = new Set(["EBADF", "ENXIO", "EIO", "UNKNOWN"]);

function throwIfClosed(port: UnixPortBinding): void {
  if (!port.isOpen || port.fd === null) {
    // `canceled` tells the stream this is a close in progress, not a disconnect.
    throw Object.assign(new Error("Port is not open"), { canceled: true });
  }
}

function guardedRead(port: UnixPortBinding): Readable["read"] {
  return async (buffer, offset, length) => {
    for (;;) {
      throwIfClosed(port);
      let bytesRead: number;
      try {
        ({ bytesRead } = await readAsync(port.fd as number, buffer, offset, length, null));
      } catch (e) {
        const err = e as PortError;
        if (err.code !== undefined && RETRY.has(err.code)) {
          // The port may have been closed while the read was in the thread pool;
          // polling a destroyed poller crashes the process (native), so check first.
          throwIfClosed(port);
          await new Promise<void>((resolve, reject) => port.poller.once("readable", (pollErr) => (pollErr ? reject(pollErr) : resolve())));
          continue;
        }
        if ((err.code !== undefined && DISCONNECT.has(err.code)) || err.errno === -1) err.disconnect = true;
        throw err;
      }
      if (bytesRead === 0) {
        throw Object.assign(new Error("end of file: the device hung up"), { disconnect: true });
      }
      return { buffer, bytesRead };
    }
  };
}

/**
 * Returns a binding that opens ports like `binding` does, with the guarded
 * read installed on each unix port it opens.
 */
export function withEofGuard<B extends { open(options: never): Promise<unknown> }>(binding: B): B {
  const open = binding.open.bind(binding) as (options: unknown) => Promise<unknown>;
  const guarded = Object.create(binding) as B;
  Object.defineProperty(guarded, "open", {
    value: async (options: unknown): Promise<unknown> => {
      const port = await open(options);
      if (isUnixPort(port)) port.read = guardedRead(port);
      return port;
    },
  });
  return guarded;
}
