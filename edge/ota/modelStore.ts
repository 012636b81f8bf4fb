/**
 * The models state directory (`ota.dir`):
 *
 *   <dir>/<name>-<version>-<sha8>/   manifest.json, model, golden, variants
 *   <dir>/current                    pointer: the folder to load at start
 *   <dir>/previous                   pointer: the folder to roll back to
 *   <dir>/probation                  record: the model on probation (JSON, see ProbationRecord)
 *   <dir>/rejected                   models rolled back here, newest last (JSON, rejections.ts)
 *
 * A pointer is one line: a folder name inside <dir>, or an absolute path
 * (the model shipped with the config lives outside <dir>).
 *
 * A new model is NOT `current` while it is on probation: it only has the
 * `probation` record. It becomes `current` once it passed (`promote`). A start
 * that finds the record of an unfinished probation (the process died, the
 * device lost power) boots `current` as before, removes the candidate and
 * remembers it (`takeInterruptedProbation`) so the agent reports it: a model
 * that has not proved itself on live data never becomes the boot model by
 * accident.
 *
 * Every file is written atomically (temporary file in the same folder, fsync,
 * rename, fsync of the folder), the manifest last, then the pointers. A
 * process killed at any point leaves `current` naming a folder that was
 * complete before: either the old model or the new one, never half of one.
 * An undone model is added to `rejected` BEFORE the disk forgets it (the
 * probation record removed, or `current` reverted), so a crash between the
 * two leaves either the record (the next start rejects it again) or the
 * entry: never neither, and the retained offer cannot install it again.
 * `loadStartModel` still falls back (current -> previous -> config model)
 * when the disk itself lost or corrupted a file.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { loadManifest, type LoadedContract, type Manifest } from "../contract/manifest.js";
import type { Logger } from "../log.js";
import { formatRejected, parseRejected, withoutRejections, withRejection, type RejectedModel, type RejectionFilter } from "./rejections.js";

/** Points of a write where a test may simulate a crash (the hook throws there). */
export type CrashPoint = "tmp-written" | "renamed" | "files-written" | "previous-written" | "current-written" | "probation-written" | "rejected-written";

export interface AtomicWriteOptions {
  readonly mode?: number;
  readonly crashPoint?: (point: CrashPoint, file: string) => void;
}

const TMP_MARK = ".tmp-";

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } catch (err) {
    // Some file systems cannot fsync a directory; the rename is still atomic there.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EISDIR" && code !== "EPERM") throw err;
  } finally {
    await fh.close();
  }
}

/** Write `file` so that a reader (or a reboot) sees the old content or the new, never a mix. */
export async function atomicWriteFile(file: string, data: Buffer | string, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}${TMP_MARK}${process.pid}-${randomBytes(4).toString("hex")}`);
  const fh = await open(tmp, "wx", options.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  options.crashPoint?.("tmp-written", file);
  await rename(tmp, file);
  options.crashPoint?.("renamed", file);
  await fsyncDir(dir);
}

export interface ModelStoreDeps {
  readonly logger: Logger;
  /** Tests: throw at a point to simulate the process dying there (nothing is cleaned up). */
  readonly crashPoint?: (point: CrashPoint, file: string) => void;
  readonly now?: () => Date; // the clock of a rejection's `at` (tests)
}

export type PointerName = "current" | "previous";

/** The candidate on probation: enough to finish its promotion, or to report and forget it after a crash. */
export const probationRecordSchema = z.object({
  /** Absolute folder of the candidate (inside the store). */
  folder: z.string().min(1),
  /** The folder running when it was swapped in: `previous` once the candidate is promoted. */
  running: z.string().min(1),
  name: z.string(),
  version: z.string(),
  modelSha256: z.string(),
  /** The offer it came from, so the publisher tool waiting for it learns the outcome. */
  transferId: z.string().nullable(),
});
export type ProbationRecord = z.infer<typeof probationRecordSchema>;

/** Why a probation found unfinished at start counts as failed (state reason and rejection). */
export const INTERRUPTED_PROBATION = "device restarted during probation";

const PROBATION_FILE = "probation";
const REJECTED_FILE = "rejected";

export class ModelStore {
  readonly dir: string;
  /** Found by `recover()`: a probation that never finished. Kept until the agent takes it. */
  private interrupted: ProbationRecord | undefined;
  /** `<dir>/rejected` as last read or written (newest last); read by the first `recover()`. */
  private rejectedModels: RejectedModel[] | undefined;
  /** Writes of `rejected`, one after the other; each writes the list as it is when its turn comes. */
  private rejectedWrites: Promise<void> = Promise.resolve();

  constructor(
    dir: string,
    private readonly deps: ModelStoreDeps,
  ) {
    this.dir = path.resolve(dir);
  }

  /**
   * Creates the folder, removes temporary files a crash left behind, and
   * settles a probation record left by a process that died: a promotion that
   * got as far as `current` is finished; any other candidate is removed and
   * kept for `takeInterruptedProbation()`. Idempotent.
   */
  async recover(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.removeTemporaryFiles();
    await this.loadRejected();
    await this.settleProbationRecord();
  }

  /** The probation a crash interrupted (once: the agent reports it), if `recover()` found one. */
  takeInterruptedProbation(): ProbationRecord | undefined {
    const r = this.interrupted;
    this.interrupted = undefined;
    return r;
  }

  private async removeTemporaryFiles(): Promise<void> {
    const removeTmp = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.isFile() && e.name.includes(TMP_MARK)) {
          this.deps.logger.info(`removing ${path.join(dir, e.name)}, left by an interrupted write`);
          await unlink(path.join(dir, e.name));
        } else if (e.isDirectory() && dir === this.dir) {
          await removeTmp(path.join(dir, e.name));
        }
      }
    };
    await removeTmp(this.dir);
  }

  private async settleProbationRecord(): Promise<void> {
    let record: ProbationRecord | undefined;
    try {
      record = await this.readProbation();
    } catch (err) {
      // Unreadable: nothing to finish; the candidate folder goes with the next prune.
      this.deps.logger.warn(`OTA store: the probation record is unreadable, removing it: ${(err as Error).message}`);
      await this.removeProbationRecord();
      return;
    }
    if (!record) return;
    if ((await this.readPointer("current")) === path.resolve(record.folder)) {
      // Died inside promote(), after `current`: finish it.
      await this.promote(record);
      return;
    }
    this.deps.logger.warn(`OTA store: ${record.name} ${record.version} was on probation when the process stopped; starting the previous model and discarding it`, {
      folder: record.folder,
    });
    // Rejected before the record goes: a crash in between finds the record again.
    const rejection = { name: record.name, version: record.version, digest: record.modelSha256, transferId: record.transferId };
    await this.reject({ ...rejection, reason: `failed its probation: ${INTERRUPTED_PROBATION}`, code: "probation_failed" }).catch((err: Error) =>
      // The device must still start; this process keeps the rejection.
      this.deps.logger.error(`OTA store: cannot record ${record.name} ${record.version} as rolled back; after another restart it may be installed again: ${err.message}`),
    );
    await this.removeProbationRecord();
    await this.remove(record.folder);
    this.interrupted ??= record;
  }

  /** The models rolled back on this device (newest last, at most REJECTED_KEPT): an offer of one is not installed by itself. */
  rejected(): readonly RejectedModel[] {
    return this.rejectedModels ?? [];
  }

  /**
   * Remembers an undone model, durably (atomic write) before it resolves. On a
   * write failure the entry is still kept for this process and the error thrown:
   * the caller says that a restart may forget it.
   */
  async reject(entry: Omit<RejectedModel, "at">): Promise<void> {
    this.rejectedModels = withRejection(this.rejected(), { ...entry, at: (this.deps.now?.() ?? new Date()).toISOString() });
    await this.writeRejected();
  }

  /** Forgets rejections (`forget_rejected`, `accept`); resolves once that is on disk. Returns how many were forgotten. */
  async forgetRejected(filter: RejectionFilter): Promise<number> {
    const before = this.rejected();
    this.rejectedModels = withoutRejections(before, filter);
    const forgotten = before.length - this.rejectedModels.length;
    if (forgotten > 0) await this.writeRejected();
    return forgotten;
  }

  private writeRejected(): Promise<void> {
    const file = path.join(this.dir, REJECTED_FILE);
    const write = async (): Promise<void> => atomicWriteFile(file, formatRejected(this.rejected()), { crashPoint: this.deps.crashPoint });
    const next = this.rejectedWrites.then(write).then(() => this.deps.crashPoint?.("rejected-written", file));
    this.rejectedWrites = next.catch(() => undefined); // the caller of each write hears of its failure
    return next;
  }

  /** Missing: none yet. Unreadable or malformed (a disk fault: it is written atomically): an error logged, read as empty, so the device starts. */
  private async loadRejected(): Promise<void> {
    if (this.rejectedModels) return; // read once: this process's list is newer than the file when a write failed
    this.rejectedModels = [];
    const file = path.join(this.dir, REJECTED_FILE);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      this.deps.logger.error(`OTA store: cannot read ${file}; models rolled back before may be installed again: ${(err as Error).message}`);
      return;
    }
    try {
      this.rejectedModels = parseRejected(text, file);
    } catch (err) {
      this.deps.logger.error(`OTA store: ignoring a malformed list of rolled-back models; they may be installed again: ${(err as Error).message}`);
    }
  }

  async readProbation(): Promise<ProbationRecord | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, PROBATION_FILE), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return probationRecordSchema.parse(JSON.parse(text));
  }

  /** Before the swap: the candidate is on probation. `current` is untouched, so a crash from here boots the running model. */
  async beginProbation(record: ProbationRecord): Promise<void> {
    await atomicWriteFile(path.join(this.dir, PROBATION_FILE), JSON.stringify(record) + "\n", { crashPoint: this.deps.crashPoint });
    this.deps.crashPoint?.("probation-written", path.join(this.dir, PROBATION_FILE));
  }

  /**
   * The candidate passed: it becomes `current` and the model it replaced
   * `previous`. `current` first: from then on a crash is finished by
   * `recover()` from the record, which goes last.
   */
  async promote(record: ProbationRecord): Promise<void> {
    await this.writePointer("current", record.folder);
    await this.writePointer("previous", record.running);
    await this.removeProbationRecord();
  }

  /** The candidate failed (or was rolled back by command): forget it; `current` never named it. */
  async abandonProbation(record: ProbationRecord): Promise<void> {
    await this.removeProbationRecord();
    await this.remove(record.folder);
  }

  private async removeProbationRecord(): Promise<void> {
    await unlink(path.join(this.dir, PROBATION_FILE)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await fsyncDir(this.dir);
  }

  /** The model to run at start: `current`, else `previous`, else the configured model. */
  async loadStartModel(configModel: string): Promise<LoadedContract> {
    await this.recover();
    for (const name of ["current", "previous"] as const) {
      const target = await this.readPointer(name);
      if (!target) continue;
      try {
        const contract = await loadManifest(target);
        this.deps.logger.info(`loading model from the OTA store (${name} -> ${target})`);
        return contract;
      } catch (err) {
        this.deps.logger.warn(`OTA store: ${name} -> ${target} does not load, trying the next candidate: ${(err as Error).message}`);
      }
    }
    return loadManifest(configModel);
  }

  /** Absolute folder a pointer names, or undefined when there is none. */
  async readPointer(name: PointerName): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, name), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const target = text.trim();
    return target ? path.resolve(this.dir, target) : undefined;
  }

  async writePointer(name: PointerName, folder: string, point: CrashPoint = name === "current" ? "current-written" : "previous-written"): Promise<void> {
    const absolute = path.resolve(folder);
    const inside = path.dirname(absolute) === this.dir;
    await atomicWriteFile(path.join(this.dir, name), `${inside ? path.basename(absolute) : absolute}\n`, {
      crashPoint: this.deps.crashPoint,
    });
    this.deps.crashPoint?.(point, path.join(this.dir, name));
  }

  async removePointer(name: PointerName): Promise<void> {
    await unlink(path.join(this.dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await fsyncDir(this.dir);
  }

  /** Folder a manifest installs into. */
  folderFor(manifest: Manifest): string {
    const safe = `${manifest.name}-${manifest.version}`.replace(/[^A-Za-z0-9._-]/g, "_");
    return path.join(this.dir, `${safe}-${manifest.model.sha256.slice(0, 8)}`);
  }

  /** Writes a verified bundle into its folder, manifest last. Pointers are untouched. */
  async install(manifestBytes: Buffer, manifest: Manifest, files: readonly { name: string; data: Buffer }[]): Promise<string> {
    const folder = this.folderFor(manifest);
    for (const [name, named] of await this.namedFolders()) {
      if (named === folder) throw new Error(`${folder} is the ${name} model's folder: refusing to overwrite it`);
    }
    await mkdir(folder, { recursive: true });
    await fsyncDir(this.dir);
    for (const f of files) {
      if (f.name === "manifest.json" || f.name !== path.basename(f.name)) throw new Error(`bundle file name not allowed: ${f.name}`);
      await atomicWriteFile(path.join(folder, f.name), f.data, { crashPoint: this.deps.crashPoint });
    }
    this.deps.crashPoint?.("files-written", folder);
    // The manifest makes the folder a model: written last, so a folder without it is an interrupted install.
    await atomicWriteFile(path.join(folder, "manifest.json"), manifestBytes, { crashPoint: this.deps.crashPoint });
    return folder;
  }

  /** Make `folder` the model to start with, keeping `running` for rollback. */
  async commit(folder: string, running: string): Promise<void> {
    // previous first: a crash between the two writes leaves current on the running model.
    await this.writePointer("previous", running);
    await this.writePointer("current", folder);
  }

  /** After a rollback to `folder`: it is current again and nothing is kept to roll "back" to the undone one. */
  async revert(folder: string): Promise<void> {
    await this.writePointer("current", folder);
    await this.removePointer("previous");
  }

  /** Remove an installed folder that no pointer names (a failed install, an undone update). */
  async remove(folder: string): Promise<void> {
    const absolute = path.resolve(folder);
    if (path.dirname(absolute) !== this.dir) return; // never touch models outside the store
    for (const [, named] of await this.namedFolders()) if (named === absolute) return;
    await rm(absolute, { recursive: true, force: true });
  }

  /** Folders something names: the pointers, and the candidate on probation. */
  private async namedFolders(): Promise<[string, string][]> {
    const named: [string, string][] = [];
    for (const name of ["current", "previous"] as const) {
      const target = await this.readPointer(name);
      if (target) named.push([name, target]);
    }
    const probation = await this.readProbation().catch(() => undefined);
    if (probation) named.push(["probation", path.resolve(probation.folder)]);
    return named;
  }

  /** Remove every model folder no pointer (nor the probation record) names. */
  async prune(): Promise<void> {
    const keep = new Set((await this.namedFolders()).map(([, folder]) => folder));
    for (const e of await readdir(this.dir, { withFileTypes: true })) {
      const folder = path.join(this.dir, e.name);
      // Dot folders are not models (the partial download, downloadJournal.ts).
      if (e.isDirectory() && !e.name.startsWith(".") && !keep.has(folder)) await rm(folder, { recursive: true, force: true });
    }
  }
}
