import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CHUNK_HEADER_BYTES, ChunkAssembler, chunkCount, decodeChunk, encodeChunk } from "../../edge/ota/chunkCodec.js";

const ID = "0123456789abcdef0123456789abcdef";

describe("OTA chunk codec", () => {
  it("round-trips header and payload", () => {
    const payload = randomBytes(1000);
    const buf = encodeChunk({ transferId: ID, fileIndex: 2, chunkIndex: 7, totalChunks: 9 }, payload);
    expect(buf.length).toBe(CHUNK_HEADER_BYTES + 1000);
    expect(buf.subarray(0, 4).toString()).toBe("GOTC");
    const d = decodeChunk(buf);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.chunk).toMatchObject({ transferId: ID, fileIndex: 2, chunkIndex: 7, totalChunks: 9 });
    expect(d.chunk.payload.equals(payload)).toBe(true);
  });

  it("names what is wrong instead of throwing", () => {
    const good = encodeChunk({ transferId: ID, fileIndex: 0, chunkIndex: 0, totalChunks: 1 }, Buffer.from("hello world"));
    expect(decodeChunk(good.subarray(0, 10))).toMatchObject({ ok: false, error: expect.stringMatching(/too short/) });
    expect(decodeChunk(good.subarray(0, good.length - 3))).toMatchObject({ ok: false, error: expect.stringMatching(/truncated/) });
    expect(decodeChunk(Buffer.concat([good, Buffer.from("x")]))).toMatchObject({ ok: false, error: expect.stringMatching(/trailing/) });
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1]! ^= 0xff;
    expect(decodeChunk(flipped)).toMatchObject({ ok: false, error: expect.stringMatching(/sha256.*corrupted/) });
    const magic = Buffer.from(good);
    magic[0] = 0;
    expect(decodeChunk(magic)).toMatchObject({ ok: false, error: expect.stringMatching(/not an OTA chunk/) });
    const version = Buffer.from(good);
    version[4] = 9;
    expect(decodeChunk(version)).toMatchObject({ ok: false, error: expect.stringMatching(/version 9/) });
    expect(() => encodeChunk({ transferId: "xyz", fileIndex: 0, chunkIndex: 0, totalChunks: 1 }, Buffer.alloc(1))).toThrow(/32 hex/);
  });

  it("assembles files from chunks in any order, with duplicates, asking for a bounded window", () => {
    const files = [randomBytes(2500), randomBytes(1000)];
    const size = 1024;
    const a = new ChunkAssembler(files.map((f) => f.length), size);
    expect(chunkCount(2500, size)).toBe(3);
    const first = a.nextRequests(2);
    expect(first).toEqual([{ file: 0, chunks: [0, 1] }]);
    expect(a.nextRequests(2)).toEqual([]); // window full
    const chunkOf = (f: number, k: number) => {
      const payload = files[f]!.subarray(k * size, Math.min(files[f]!.length, (k + 1) * size));
      const d = decodeChunk(encodeChunk({ transferId: ID, fileIndex: f, chunkIndex: k, totalChunks: chunkCount(files[f]!.length, size) }, payload));
      if (!d.ok) throw new Error(d.error);
      return d.chunk;
    };
    expect(a.accept(chunkOf(0, 1))).toBe("stored");
    expect(a.accept(chunkOf(0, 1))).toBe("duplicate");
    expect(a.nextRequests(2)).toEqual([{ file: 0, chunks: [2] }]);
    // lost on the way: asked again after forgetting
    a.forgetOutstanding();
    expect(a.nextRequests(8)).toEqual([{ file: 0, chunks: [0, 2] }, { file: 1, chunks: [0] }]);
    for (const [f, k] of [[1, 0], [0, 2], [0, 0]] as const) expect(a.accept(chunkOf(f, k))).toBe("stored");
    expect(a.complete).toBe(true);
    expect(a.progress).toBe(1);
    expect(a.fileData(0).equals(files[0]!)).toBe(true);
    expect(a.fileData(1).equals(files[1]!)).toBe(true);
    // a chunk of the wrong size or file is refused, not stored
    const b = new ChunkAssembler([100], size);
    expect(b.accept({ transferId: ID, fileIndex: 0, chunkIndex: 0, totalChunks: 1, payload: Buffer.alloc(99) })).toEqual({ error: expect.stringMatching(/99 bytes, expected 100/) });
    expect(b.accept({ transferId: ID, fileIndex: 3, chunkIndex: 0, totalChunks: 1, payload: Buffer.alloc(100) })).toEqual({ error: expect.stringMatching(/no file 3/) });
  });
});
