/**
 * The chunks of the download in progress, on disk, so a device that restarts
 * (power cut, crash, `systemctl restart`) resumes instead of starting over:
 *
 *   <ota.dir>/.partial/transfer.json   which files, sizes, sha256s, chunk size
 *   <ota.dir>/.partial/<i>.data        file i, each chunk written at its offset
 *   <ota.dir>/.partial/<i>.have        one byte per chunk of file i: 1 = on disk
 *
 * A chunk's data is synced before its `have` byte is written (and synced), so
 * `have` never claims a chunk that is not on disk. One download at a time:
 * opening a journal for another transfer replaces the old one. A journal is
 * reused for an offer with the same chunk size and the same files (name, size,
 * sha256 from the signed manifest), whatever its transfer id: the bytes are the
 * same. Whatever it holds is checked again with the sha256 of every file after
 * the download (install.ts), so a disk that lies costs a failed update, not a
 * bad model.
 *
 * Best effort: a journal that cannot be written is closed with a warning and
 * the download goes on in memory.
 */
import { mkdir, open, readFile, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "../log.js";
import { chunkCount } from "./chunkCodec.js";
import { atomicWriteFile } from "./modelStore.js";
import type { VerifiedOffer } from "./offerEvaluation.js";

export const JOURNAL_FOLDER = ".partial";

const layoutSchema = z.object({
  chunkSize: z.number().int().positive(),
  files: z.array(z.object({ name: z.string(), bytes: z.number().int().min(0), sha256: z.string() })),
});
type Layout = z.infer<typeof layoutSchema>;

export interface JournalChunk {
  readonly fileIndex: number;
  readonly chunkIndex: number;
  readonly payload: Buffer;
}

function layoutOf(offer: VerifiedOffer): Layout {
  return { chunkSize: offer.chunkSize, files: offer.files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })) };
}

const sameLayout = (a: Layout, b: Layout): boolean => JSON.stringify(a) === JSON.stringify(b);

export class DownloadJournal {
  private readonly dir: string;
  private readonly layout: Layout;
  private handles: { data: FileHandle; have: FileHandle }[] = [];
  /** Writes run one after the other. */
  private queue: Promise<void> = Promise.resolve();
  /** No new records (closing, closed, or off); writes already queued still run unless `off`. */
  private closed = false;
  /** A write or the open failed: nothing more is written. */
  private off = false;

  constructor(
    storeDir: string,
    offer: VerifiedOffer,
    private readonly logger: Logger,
  ) {
    this.dir = path.join(storeDir, JOURNAL_FOLDER);
    this.layout = layoutOf(offer);
  }

  /**
   * Opens the journal for this offer: the chunks already on disk when it is the
   * same download, else none (and a fresh journal). Never throws: a journal
   * that cannot be opened is off, the download runs in memory.
   */
  async open(): Promise<JournalChunk[]> {
    try {
      const restored = await this.reuse();
      if (restored) return restored;
      await this.create();
      return [];
    } catch (err) {
      this.disable(`cannot keep the partial download on disk (${(err as Error).message}); a restart will start it over`);
      return [];
    }
  }

  /** Keeps a stored chunk (queued; returns at once). */
  record(fileIndex: number, chunkIndex: number, payload: Buffer): void {
    if (this.closed) return;
    this.queue = this.queue.then(async () => {
      const h = this.handles[fileIndex];
      if (this.off || !h) return;
      try {
        await h.data.write(payload, 0, payload.length, chunkIndex * this.layout.chunkSize);
        await h.data.datasync();
        await h.have.write(Buffer.of(1), 0, 1, chunkIndex);
        await h.have.datasync();
      } catch (err) {
        this.disable(`writing the partial download failed (${(err as Error).message}); it goes on in memory`);
      }
    });
  }

  /** Stops writing and closes the files; what is on disk stays for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await this.closeHandles();
  }

  /** The download is over (complete, or not to be resumed): remove it from disk. */
  async discard(): Promise<void> {
    await this.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async reuse(): Promise<JournalChunk[] | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, "transfer.json"), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const parsed = layoutSchema.safeParse(JSON.parse(text));
    if (!parsed.success || !sameLayout(parsed.data, this.layout)) return undefined;
    const chunks: JournalChunk[] = [];
    const { chunkSize } = this.layout;
    for (const [i, f] of this.layout.files.entries()) {
      const data = await readFile(path.join(this.dir, `${i}.data`));
      const have = await readFile(path.join(this.dir, `${i}.have`));
      if (data.length !== f.bytes || have.length !== chunkCount(f.bytes, chunkSize)) return undefined;
      for (let k = 0; k < have.length; k++) {
        if (have[k] === 1) chunks.push({ fileIndex: i, chunkIndex: k, payload: data.subarray(k * chunkSize, Math.min(f.bytes, (k + 1) * chunkSize)) });
      }
    }
    await this.openHandles();
    this.logger.info(`resuming the download from disk: ${chunks.length} chunks kept`);
    return chunks;
  }

  private async create(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true });
    for (const [i, f] of this.layout.files.entries()) {
      const data = await open(path.join(this.dir, `${i}.data`), "w");
      await data.truncate(f.bytes);
      await data.close();
      const have = await open(path.join(this.dir, `${i}.have`), "w");
      await have.truncate(chunkCount(f.bytes, this.layout.chunkSize));
      await have.close();
    }
    // Last: a folder without it is not a journal (the next open starts over).
    await atomicWriteFile(path.join(this.dir, "transfer.json"), JSON.stringify(this.layout) + "\n");
    await this.openHandles();
  }

  private async openHandles(): Promise<void> {
    for (const i of this.layout.files.keys()) {
      this.handles.push({ data: await open(path.join(this.dir, `${i}.data`), "r+"), have: await open(path.join(this.dir, `${i}.have`), "r+") });
    }
  }

  private async closeHandles(): Promise<void> {
    const handles = this.handles;
    this.handles = [];
    for (const h of handles) {
      await h.data.close();
      await h.have.close();
    }
  }

  private disable(message: string): void {
    if (this.off) return;
    this.off = true;
    this.closed = true;
    this.logger.warn(message);
    // The handles close after the writes queued so far (each of which now returns at once).
    this.queue = this.queue.then(() => this.closeHandles()).catch((err: Error) => this.logger.warn(`closing the partial download: ${err.message}`));
  }
}
