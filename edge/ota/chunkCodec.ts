/**
 * The binary chunk of an OTA transfer (docs/ota.md, "Chunks"). Pure codec:
 * `decodeChunk` never throws, it names what is wrong, so the receiver counts
 * the bad chunk and asks for it again.
 *
 *   offset size  field
 *   0      4     magic "GOTC"
 *   4      1     format version (1)
 *   5      1     file index (into the offer's `files`)
 *   6      2     reserved, 0
 *   8      16    transfer id (the offer's `transferId`, 32 hex digits)
 *   24     4     chunk index, uint32 big endian
 *   28     4     total chunks of this file, uint32 BE
 *   32     4     payload length, uint32 BE
 *   36     32    sha256 of the payload
 *   68     n     payload
 */
import { createHash } from "node:crypto";

export const CHUNK_MAGIC = Buffer.from("GOTC", "ascii");
export const CHUNK_VERSION = 1;
export const CHUNK_HEADER_BYTES = 68;

export interface ChunkHeader {
  /** 32 lowercase hex digits. */
  readonly transferId: string;
  readonly fileIndex: number;
  readonly chunkIndex: number;
  readonly totalChunks: number;
}

export interface Chunk extends ChunkHeader {
  readonly payload: Buffer;
}

export type DecodedChunk = { ok: true; chunk: Chunk } | { ok: false; error: string };

export const TRANSFER_ID = /^[0-9a-f]{32}$/;

export function encodeChunk(header: ChunkHeader, payload: Buffer): Buffer {
  if (!TRANSFER_ID.test(header.transferId)) throw new RangeError(`transfer id must be 32 hex digits, got ${header.transferId}`);
  if (!(header.fileIndex >= 0 && header.fileIndex <= 255)) throw new RangeError(`file index ${header.fileIndex} out of 0..255`);
  if (!(header.chunkIndex >= 0 && header.chunkIndex < header.totalChunks)) {
    throw new RangeError(`chunk index ${header.chunkIndex} out of 0..${header.totalChunks - 1}`);
  }
  const out = Buffer.alloc(CHUNK_HEADER_BYTES + payload.length);
  CHUNK_MAGIC.copy(out, 0);
  out.writeUInt8(CHUNK_VERSION, 4);
  out.writeUInt8(header.fileIndex, 5);
  Buffer.from(header.transferId, "hex").copy(out, 8);
  out.writeUInt32BE(header.chunkIndex, 24);
  out.writeUInt32BE(header.totalChunks, 28);
  out.writeUInt32BE(payload.length, 32);
  createHash("sha256").update(payload).digest().copy(out, 36);
  payload.copy(out, CHUNK_HEADER_BYTES);
  return out;
}

export function decodeChunk(buf: Buffer): DecodedChunk {
  if (buf.length < CHUNK_HEADER_BYTES) return { ok: false, error: `chunk too short: ${buf.length} bytes, the header alone is ${CHUNK_HEADER_BYTES}` };
  if (!buf.subarray(0, 4).equals(CHUNK_MAGIC)) return { ok: false, error: `not an OTA chunk (magic ${buf.subarray(0, 4).toString("hex")})` };
  const version = buf.readUInt8(4);
  if (version !== CHUNK_VERSION) return { ok: false, error: `unsupported chunk format version ${version} (this device reads ${CHUNK_VERSION})` };
  const fileIndex = buf.readUInt8(5);
  const transferId = buf.subarray(8, 24).toString("hex");
  const chunkIndex = buf.readUInt32BE(24);
  const totalChunks = buf.readUInt32BE(28);
  const length = buf.readUInt32BE(32);
  const where = `chunk ${chunkIndex} of file ${fileIndex}`;
  if (chunkIndex >= totalChunks) return { ok: false, error: `${where}: index beyond the file's ${totalChunks} chunks` };
  const available = buf.length - CHUNK_HEADER_BYTES;
  if (available !== length) {
    return { ok: false, error: `${where}: header says ${length} payload bytes, ${available} arrived (${available < length ? "truncated" : "trailing bytes"})` };
  }
  const payload = buf.subarray(CHUNK_HEADER_BYTES);
  const sha = createHash("sha256").update(payload).digest();
  if (!sha.equals(buf.subarray(36, 68))) return { ok: false, error: `${where}: sha256 of the payload does not match its header (corrupted)` };
  return { ok: true, chunk: { transferId, fileIndex, chunkIndex, totalChunks, payload } };
}

/** Chunks a file of `bytes` is cut into. */
export function chunkCount(bytes: number, chunkSize: number): number {
  return Math.ceil(bytes / chunkSize);
}

/**
 * Receiver's bookkeeping for one transfer: which chunks arrived, which are
 * asked for, what to ask for next. Pure (no timers, no I/O): the agent decides
 * when to ask.
 */
export class ChunkAssembler {
  private readonly files: { data: Buffer; have: Uint8Array; total: number; received: number }[];
  private readonly outstanding = new Set<string>();
  private receivedBytes = 0;
  private readonly totalBytes: number;

  constructor(
    sizes: readonly number[],
    private readonly chunkSize: number,
  ) {
    this.files = sizes.map((bytes) => {
      const total = chunkCount(bytes, chunkSize);
      return { data: Buffer.alloc(bytes), have: new Uint8Array(total), total, received: 0 };
    });
    this.totalBytes = sizes.reduce((a, b) => a + b, 0);
  }

  get complete(): boolean {
    return this.files.every((f) => f.received === f.total);
  }

  /** 0..1 by bytes. */
  get progress(): number {
    return this.totalBytes === 0 ? 1 : this.receivedBytes / this.totalBytes;
  }

  get outstandingCount(): number {
    return this.outstanding.size;
  }

  /** Store a decoded chunk of this transfer: "stored", "duplicate", or what is wrong with it. */
  accept(chunk: Chunk): "stored" | "duplicate" | { error: string } {
    const f = this.files[chunk.fileIndex];
    const where = `chunk ${chunk.chunkIndex} of file ${chunk.fileIndex}`;
    if (!f) return { error: `${where}: the offer has no file ${chunk.fileIndex}` };
    if (chunk.totalChunks !== f.total) return { error: `${where}: says ${chunk.totalChunks} chunks, the offer makes it ${f.total}` };
    const start = chunk.chunkIndex * this.chunkSize;
    const expected = Math.min(this.chunkSize, f.data.length - start);
    if (chunk.payload.length !== expected) return { error: `${where}: ${chunk.payload.length} bytes, expected ${expected}` };
    this.outstanding.delete(`${chunk.fileIndex}:${chunk.chunkIndex}`);
    if (f.have[chunk.chunkIndex]) return "duplicate";
    chunk.payload.copy(f.data, start);
    f.have[chunk.chunkIndex] = 1;
    f.received += 1;
    this.receivedBytes += expected;
    return "stored";
  }

  /**
   * Missing chunks not yet asked for, up to `inFlight` outstanding in all,
   * grouped per file; they count as outstanding from now on.
   */
  nextRequests(inFlight: number): { file: number; chunks: number[] }[] {
    const out: { file: number; chunks: number[] }[] = [];
    let budget = inFlight - this.outstanding.size;
    for (let i = 0; i < this.files.length && budget > 0; i++) {
      const f = this.files[i]!;
      const chunks: number[] = [];
      for (let k = 0; k < f.total && budget > 0; k++) {
        const key = `${i}:${k}`;
        if (f.have[k] || this.outstanding.has(key)) continue;
        this.outstanding.add(key);
        chunks.push(k);
        budget -= 1;
      }
      if (chunks.length) out.push({ file: i, chunks });
    }
    return out;
  }

  /** Forget what was asked for (lost on the way): the next `nextRequests` asks again. */
  forgetOutstanding(): void {
    this.outstanding.clear();
  }

  fileData(index: number): Buffer {
    const f = this.files[index];
    if (!f) throw new RangeError(`no file ${index}`);
    return f.data;
  }
}
