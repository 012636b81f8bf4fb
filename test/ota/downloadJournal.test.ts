/** The partial download on disk: what a restart finds, and when it is thrown away. */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { DownloadJournal, JOURNAL_FOLDER } from "../../edge/ota/downloadJournal.js";
import type { VerifiedOffer } from "../../edge/ota/offerEvaluation.js";
import { tempDir } from "./helpers.js";

function offer(sha = "aa"): VerifiedOffer {
  return {
    transferId: "0".repeat(32),
    topic: "t",
    manifestBytes: Buffer.from("{}"),
    manifest: {} as VerifiedOffer["manifest"],
    chunkSize: 4,
    files: [
      { name: "model.onnx", bytes: 10, sha256: sha },
      { name: "golden.json", bytes: 4, sha256: "bb" },
    ],
    recalibrate: [],
  };
}

describe("DownloadJournal", () => {
  it("gives back exactly the chunks recorded, for the same files; a different layout starts over", async () => {
    const dir = await tempDir("journal");
    const first = new DownloadJournal(dir, offer(), memoryLogger());
    expect(await first.open()).toEqual([]);
    first.record(0, 2, Buffer.from("ij"));
    first.record(1, 0, Buffer.from("wxyz"));
    await first.close();

    const logger = memoryLogger();
    const again = new DownloadJournal(dir, { ...offer(), transferId: "1".repeat(32) }, logger);
    const kept = await again.open();
    expect(kept.map((c) => [c.fileIndex, c.chunkIndex, c.payload.toString()])).toEqual([
      [0, 2, "ij"],
      [1, 0, "wxyz"],
    ]);
    await again.close();

    const other = new DownloadJournal(dir, offer("cc"), memoryLogger());
    expect(await other.open()).toEqual([]);
    await other.discard();
    expect(await readdir(dir)).not.toContain(JOURNAL_FOLDER);
  });

  it("a journal that cannot be written is off with a warning, never an error", async () => {
    const dir = await tempDir("journal-ro");
    const logger = memoryLogger();
    // a FILE where the journal's folder should be: nothing can be created under it
    const { writeFile } = await import("node:fs/promises");
    await writeFile(path.join(dir, "blocker"), "x");
    const journal = new DownloadJournal(path.join(dir, "blocker"), offer(), logger);
    expect(await journal.open()).toEqual([]);
    journal.record(0, 0, Buffer.from("abcd"));
    await journal.close();
    expect(logger.lines.join("\n")).toMatch(/cannot keep the partial download on disk .*a restart will start it over/);
  });
});
