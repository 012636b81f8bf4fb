/**
 * Atomic writes and the models state directory: whatever step a crash
 * interrupts, the next start loads a complete model (old or new).
 */
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadManifest } from "../../edge/contract/manifest.js";
import { memoryLogger } from "../../edge/log.js";
import { atomicWriteFile, ModelStore, type CrashPoint } from "../../edge/ota/modelStore.js";
import { MODEL, MODEL_DIR, modelCopy, tempDir } from "./helpers.js";

class SimulatedCrash extends Error {}

async function filesOf(dir: string): Promise<{ manifestBytes: Buffer; files: { name: string; data: Buffer }[] }> {
  return {
    manifestBytes: await readFile(path.join(dir, "manifest.json")),
    files: await Promise.all(["golden.json", "model.int8.onnx"].map(async (name) => ({ name, data: await readFile(path.join(dir, name)) }))),
  };
}

/** A store with 1.0.1 installed and committed over the configured 1.0.0 (tiny-v1). */
async function storeWith101(): Promise<{ dir: string; work: string; v101: string }> {
  const work = await tempDir("store");
  const dir = path.join(work, "models");
  const store = new ModelStore(dir, { logger: memoryLogger() });
  await store.recover();
  const src = await modelCopy(path.join(work, "src-101"), (m) => void (m.version = "1.0.1"));
  const c = await loadManifest(src);
  const { manifestBytes, files } = await filesOf(src);
  const v101 = await store.install(manifestBytes, c.manifest, files);
  await store.commit(v101, path.resolve(MODEL_DIR));
  return { dir, work, v101 };
}

describe("atomicWriteFile", () => {
  it("replaces the content, leaves no temporary file, honours the mode", async () => {
    const dir = await tempDir("atomic");
    const file = path.join(dir, "private.pem");
    await atomicWriteFile(file, "old");
    await atomicWriteFile(file, "new", { mode: 0o600 });
    expect(await readFile(file, "utf8")).toBe("new");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["private.pem"]);
  });

  it("a crash before the rename leaves the old content and a temp file that recover() removes", async () => {
    const dir = await tempDir("atomic-crash");
    const file = path.join(dir, "current");
    await atomicWriteFile(file, "old\n");
    const crash = (p: CrashPoint): void => {
      if (p === "tmp-written") throw new SimulatedCrash(p);
    };
    await expect(atomicWriteFile(file, "new\n", { crashPoint: crash })).rejects.toThrow(SimulatedCrash);
    expect(await readFile(file, "utf8")).toBe("old\n");
    expect((await readdir(dir)).length).toBe(2);
    await new ModelStore(dir, { logger: memoryLogger() }).recover();
    expect(await readdir(dir)).toEqual(["current"]);
  });
});

describe("ModelStore", () => {
  it("starts with the configured model until something is installed, then with `current`", async () => {
    const work = await tempDir("store-start");
    const store = new ModelStore(path.join(work, "models"), { logger: memoryLogger() });
    expect((await store.loadStartModel(MODEL)).manifest.version).toBe("1.0.0");
    const { dir } = await storeWith101();
    const again = new ModelStore(dir, { logger: memoryLogger() });
    expect((await again.loadStartModel(MODEL)).manifest.version).toBe("1.0.1");
    expect(await again.readPointer("previous")).toBe(path.resolve(MODEL_DIR));
    // pointers inside the store are relative, so the folder can move
    expect((await readFile(path.join(dir, "current"), "utf8")).trim()).not.toContain("/");
  });

  // Every point of installing 1.0.2 over 1.0.1 where the process may die.
  const points: CrashPoint[] = ["tmp-written", "renamed", "files-written", "previous-written", "current-written"];
  for (const point of points) {
    it(`a crash at "${point}" while installing 1.0.2 leaves a loadable model at the next start`, async () => {
      const { dir, work } = await storeWith101();
      const src = await modelCopy(path.join(work, "src-102"), (m) => void (m.version = "1.0.2"));
      const c = await loadManifest(src);
      const { manifestBytes, files } = await filesOf(src);
      let hit = false;
      const store = new ModelStore(dir, {
        logger: memoryLogger(),
        crashPoint: (p) => {
          if (p === point && !hit) {
            hit = true;
            throw new SimulatedCrash(p);
          }
        },
      });
      await expect(
        (async () => {
          const folder = await store.install(manifestBytes, c.manifest, files);
          await store.commit(folder, path.join(dir, (await readFile(path.join(dir, "current"), "utf8")).trim()));
        })(),
      ).rejects.toThrow(SimulatedCrash);
      // "next start": a fresh store over the same directory
      const logger = memoryLogger();
      const started = await new ModelStore(dir, { logger }).loadStartModel(MODEL);
      expect(started.manifest.version).toBe(point === "current-written" ? "1.0.2" : "1.0.1");
      expect(logger.lines.join("\n")).not.toMatch(/does not load/);
      const leftovers = (await readdir(dir, { recursive: true })).filter((f) => String(f).includes(".tmp-"));
      expect(leftovers).toEqual([]);
    });
  }

  it("a partial temporary model file and no rename: the previous model still loads", async () => {
    const { dir, work } = await storeWith101();
    const src = await modelCopy(path.join(work, "src-102"), (m) => void (m.version = "1.0.2"));
    const c = await loadManifest(src);
    const store = new ModelStore(dir, { logger: memoryLogger() });
    const folder = store.folderFor(c.manifest);
    const { mkdir } = await import("node:fs/promises");
    await mkdir(folder, { recursive: true });
    const model = await readFile(path.join(src, "model.int8.onnx"));
    await writeFile(path.join(folder, `.model.int8.onnx.tmp-999-deadbeef`), model.subarray(0, model.length >> 1));
    expect((await new ModelStore(dir, { logger: memoryLogger() }).loadStartModel(MODEL)).manifest.version).toBe("1.0.1");
    expect(await readdir(folder)).toEqual([]);
  });

  it("falls back to previous, then the configured model, when the current folder is corrupted on disk", async () => {
    const { dir, v101 } = await storeWith101();
    const file = path.join(v101, "model.int8.onnx");
    const bytes = await readFile(file);
    bytes[100]! ^= 0xff;
    await writeFile(file, bytes);
    const logger = memoryLogger();
    const started = await new ModelStore(dir, { logger }).loadStartModel(MODEL);
    expect(started.manifest.version).toBe("1.0.0");
    expect(logger.lines.join("\n")).toMatch(/current -> .* does not load.*sha256 mismatch/);
  });

  it("revert points current back and forgets previous; prune keeps only what pointers name", async () => {
    const { dir, v101 } = await storeWith101();
    const store = new ModelStore(dir, { logger: memoryLogger() });
    const shipped = path.resolve(MODEL_DIR);
    await store.revert(shipped);
    expect(await store.readPointer("current")).toBe(shipped);
    expect(await store.readPointer("previous")).toBeUndefined();
    await store.prune();
    expect((await readdir(dir)).sort()).toEqual(["current"]);
    expect(v101.startsWith(dir)).toBe(true);
    // never removes models outside the store
    await store.remove(shipped);
    expect((await stat(shipped)).isDirectory()).toBe(true);
  });

  describe("probation record (issue #13: a crash during probation must not boot the candidate)", () => {
    async function candidate102(dir: string, work: string, crashPoint?: (p: CrashPoint) => void) {
      const store = new ModelStore(dir, { logger: memoryLogger(), ...(crashPoint ? { crashPoint } : {}) });
      const src = await modelCopy(path.join(work, "src-102"), (m) => void (m.version = "1.0.2"));
      const c = await loadManifest(src);
      const { manifestBytes, files } = await filesOf(src);
      const folder = await store.install(manifestBytes, c.manifest, files);
      const running = (await store.readPointer("current"))!;
      const record = { folder, running, name: c.manifest.name, version: "1.0.2", modelSha256: c.manifest.model.sha256, transferId: "ab".repeat(16) };
      await store.beginProbation(record);
      return { store, record };
    }

    it("a start during probation boots `current`, discards the candidate and reports it once", async () => {
      const { dir, work } = await storeWith101();
      const { record } = await candidate102(dir, work);
      const logger = memoryLogger();
      const next = new ModelStore(dir, { logger });
      expect((await next.loadStartModel(MODEL)).manifest.version).toBe("1.0.1");
      expect(next.takeInterruptedProbation()).toEqual(record);
      expect(next.takeInterruptedProbation()).toBeUndefined();
      await expect(stat(record.folder)).rejects.toThrow(/ENOENT/);
      expect(await next.readProbation()).toBeUndefined();
      expect(logger.lines.join("\n")).toMatch(/1\.0\.2 was on probation when the process stopped/);
    });

    it("promote makes the candidate current and the running model previous", async () => {
      const { dir, work, v101 } = await storeWith101();
      const { store, record } = await candidate102(dir, work);
      await store.promote(record);
      expect(await store.readPointer("current")).toBe(record.folder);
      expect(await store.readPointer("previous")).toBe(v101);
      expect(await store.readProbation()).toBeUndefined();
      expect((await new ModelStore(dir, { logger: memoryLogger() }).loadStartModel(MODEL)).manifest.version).toBe("1.0.2");
    });

    it("a crash inside promote, once `current` is written, is finished by the next start", async () => {
      const { dir, work, v101 } = await storeWith101();
      let armed = false;
      const { store, record } = await candidate102(dir, work, (p) => {
        if (armed && p === "current-written") throw new SimulatedCrash(p);
      });
      armed = true;
      await expect(store.promote(record)).rejects.toThrow(SimulatedCrash);
      const next = new ModelStore(dir, { logger: memoryLogger() });
      expect((await next.loadStartModel(MODEL)).manifest.version).toBe("1.0.2");
      expect(next.takeInterruptedProbation()).toBeUndefined();
      expect(await next.readPointer("previous")).toBe(v101);
      expect(await next.readProbation()).toBeUndefined();
    });

    it("prune and install leave the candidate alone; abandon removes it", async () => {
      const { dir, work } = await storeWith101();
      const { store, record } = await candidate102(dir, work);
      await store.prune();
      expect((await stat(record.folder)).isDirectory()).toBe(true);
      await store.abandonProbation(record);
      await expect(stat(record.folder)).rejects.toThrow(/ENOENT/);
      expect((await store.loadStartModel(MODEL)).manifest.version).toBe("1.0.1");
      expect(store.takeInterruptedProbation()).toBeUndefined();
    });
  });
});
