/**
 * A model bundle: what an OTA update carries, as a folder.
 *
 *   manifest.json   the model contract, exact bytes as signed
 *   manifest.sig    ed25519 signature of manifest.json, base64
 *   bundle.json     {format, keyId}: which key signed (informative only)
 *   <model file>, golden.json, variants present in the source folder
 *
 * The manifest holds the sha256 of every file, so the signature covers them.
 * A release that may go BACK to a lower version says so inside the signed
 * manifest (`"ota": {"allowDowngrade": true}`, `--allow-downgrade`), so no one
 * without the key can turn an old bundle into a downgrade.
 */
import { copyFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadManifest } from "../contract/manifest.js";
import { keyIdOf, privateKeyFromPem, signManifest } from "./signature.js";

export const BUNDLE_FORMAT = "gait-ota-bundle/1";

export interface CreateBundleOptions {
  /** Model folder or its manifest.json (verified with loadManifest first). */
  readonly model: string;
  readonly privateKeyPem: string;
  readonly out: string;
  /** Sign `"ota": {"allowDowngrade": true}` into the manifest. */
  readonly allowDowngrade?: boolean;
  /** Copy the manifest's variants (e.g. fp32) too; default true. */
  readonly variants?: boolean;
}

export interface BundleSummary {
  readonly dir: string;
  readonly name: string;
  readonly version: string;
  readonly keyId: string;
  readonly files: readonly { name: string; bytes: number }[];
}

export async function createBundle(opts: CreateBundleOptions): Promise<BundleSummary> {
  const key = privateKeyFromPem(opts.privateKeyPem);
  const contract = await loadManifest(opts.model);
  if (!contract.goldenPath) throw new Error(`${contract.manifestPath}: no golden vectors: a device cannot self-test this model, so it will not install it`);
  let manifestBytes = await readFile(contract.manifestPath);
  if (opts.allowDowngrade) {
    const raw = JSON.parse(manifestBytes.toString("utf8")) as Record<string, unknown>;
    raw.ota = { ...(typeof raw.ota === "object" && raw.ota !== null ? raw.ota : {}), allowDowngrade: true };
    manifestBytes = Buffer.from(JSON.stringify(raw, null, 2) + "\n", "utf8");
  }
  const sources = [contract.modelPath, contract.goldenPath, ...(opts.variants === false ? [] : Object.values(contract.variantPaths))];
  await mkdir(opts.out, { recursive: true });
  const files: { name: string; bytes: number }[] = [];
  for (const src of sources) {
    const name = path.basename(src);
    await copyFile(src, path.join(opts.out, name));
    files.push({ name, bytes: (await stat(src)).size });
  }
  const keyId = keyIdOf(key);
  await writeFile(path.join(opts.out, "manifest.json"), manifestBytes);
  await writeFile(path.join(opts.out, "manifest.sig"), signManifest(manifestBytes, key) + "\n");
  await writeFile(path.join(opts.out, "bundle.json"), JSON.stringify({ format: BUNDLE_FORMAT, keyId }, null, 2) + "\n");
  return { dir: path.resolve(opts.out), name: contract.manifest.name, version: contract.manifest.version, keyId, files };
}

export interface BundleFile {
  readonly name: string;
  readonly path: string;
  readonly bytes: number;
}

export interface Bundle {
  readonly dir: string;
  readonly manifestBytes: Buffer;
  readonly name: string;
  readonly version: string;
  /** Absent: unsigned (the tool still publishes it; devices refuse it). */
  readonly signature?: string;
  readonly keyId?: string;
  readonly files: readonly BundleFile[];
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Reads a bundle as it is on disk, without judging it (that is the device's
 * job): the files the manifest names and that are present.
 */
export async function readBundle(dir: string): Promise<Bundle> {
  const manifestPath = path.join(dir, "manifest.json");
  const manifestBytes = await readFile(manifestPath).catch((err: Error) => {
    throw new Error(`${dir}: not a bundle, cannot read manifest.json (${err.message})`);
  });
  let m: { name?: unknown; version?: unknown; model?: { file?: unknown }; golden?: { file?: unknown }; variants?: Record<string, { file?: unknown }> };
  try {
    m = JSON.parse(manifestBytes.toString("utf8")) as typeof m;
  } catch (err) {
    throw new Error(`${manifestPath}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const names = [m.model?.file, m.golden?.file, ...Object.values(m.variants ?? {}).map((v) => v.file)].filter(
    (f): f is string => typeof f === "string",
  );
  if (typeof m.model?.file !== "string") throw new Error(`${manifestPath}: model.file missing`);
  const files: BundleFile[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const st = await stat(file).catch(() => undefined);
    if (!st) {
      if (name === m.model.file) throw new Error(`${dir}: the model file ${name} is missing`);
      continue;
    }
    files.push({ name, path: file, bytes: st.size });
  }
  const signature = (await readOptional(path.join(dir, "manifest.sig")))?.trim();
  const meta = await readOptional(path.join(dir, "bundle.json"));
  const keyId = meta ? (JSON.parse(meta) as { keyId?: string }).keyId : undefined;
  return {
    dir: path.resolve(dir),
    manifestBytes,
    name: String(m.name),
    version: String(m.version),
    ...(signature ? { signature } : {}),
    ...(keyId ? { keyId } : {}),
    files,
  };
}
