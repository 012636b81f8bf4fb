import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { withEofGuard } from "../../../edge/sources/serial/eofGuard.js";

/** A stand-in for bindings-cpp's unix port: a real fd, a poller that is never needed for files. */
function fakeBinding(file: string) {
  const port = {
    fd: fs.openSync(file, "r") as number | null,
    get isOpen() {
      return this.fd !== null;
    },
    poller: { once: (_event: "readable", _cb: (err: Error | null) => void) => undefined },
    read: async (_buffer: Buffer, _offset: number, _length: number): Promise<{ buffer: Buffer; bytesRead: number }> => {
      throw new Error("the unguarded read must not be called");
    },
  };
  return { port, binding: { list: async () => [], open: async (_options: unknown) => port } };
}

let dir: string | undefined;
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function tempFile(content: string): string {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gait-eof-"));
  const file = path.join(dir, "tty");
  fs.writeFileSync(file, content);
  return file;
}

describe("withEofGuard", () => {
  it("reads bytes through the guarded read", async () => {
    const { binding, port } = fakeBinding(tempFile("abc"));
    const opened = (await withEofGuard(binding).open({}));
    const buffer = Buffer.alloc(8);
    await expect(opened.read(buffer, 0, 8)).resolves.toMatchObject({ bytesRead: 3 });
    expect(buffer.subarray(0, 3).toString()).toBe("abc");
    fs.closeSync(port.fd as number);
  });

  it("turns a 0-byte read (hung-up tty) into a disconnect error instead of spinning", async () => {
    const { binding, port } = fakeBinding(tempFile(""));
    const opened = (await withEofGuard(binding).open({}));
    await expect(opened.read(Buffer.alloc(8), 0, 8)).rejects.toMatchObject({ disconnect: true, message: expect.stringMatching(/hung up/) });
    fs.closeSync(port.fd as number);
  });

  it("reports a read on a closed port as canceled (a close, not a disconnect)", async () => {
    const { binding, port } = fakeBinding(tempFile("abc"));
    const opened = (await withEofGuard(binding).open({}));
    fs.closeSync(port.fd as number);
    port.fd = null;
    await expect(opened.read(Buffer.alloc(8), 0, 8)).rejects.toMatchObject({ canceled: true });
  });

  it("keeps the binding's other members and leaves the original binding alone", async () => {
    const { binding, port } = fakeBinding(tempFile(""));
    const originalOpen = binding.open;
    const guarded = withEofGuard(binding);
    await expect(guarded.list()).resolves.toEqual([]);
    expect(binding.open).toBe(originalOpen);
    fs.closeSync(port.fd as number);
  });
});
