/** Model copies and signed bundles for the OTA tests, made from a small v1 test model (test/fixtures/models/tiny-v1). */
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { createBundle } from "../../edge/ota/bundle.js";
import { runKeygen } from "../../edge/ota/cli.js";
import type { DeviceOutcome, OtaPublisher } from "../../edge/ota/publisher.js";
import { waitFor } from "../helpers/waitFor.js";

export { waitFor };

// A gait-features/1 model: the OTA tests stream angles from the first window (no mounting calibration to wait for).
export const MODEL_DIR = "test/fixtures/models/tiny-v1";
export const MODEL = `${MODEL_DIR}/manifest.json`;

export type RawManifest = Record<string, unknown> & { version: string; model: { file: string; sha256: string; bytes: number } };

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `ota-${prefix}-`));
}

/**
 * A copy of the shipped model (int8 + golden; fp32 only with `variants`),
 * its manifest edited by `edit` (file hashes stay valid unless edit changes files).
 */
export async function modelCopy(
  dest: string,
  edit: (m: RawManifest, dir: string) => Promise<void> | void = () => undefined,
  options: { variants?: boolean } = {},
): Promise<string> {
  await mkdir(dest, { recursive: true });
  const raw = JSON.parse(await readFile(path.join(MODEL_DIR, "manifest.json"), "utf8")) as RawManifest;
  for (const f of ["model.int8.onnx", "golden.json", ...(options.variants ? ["model.fp32.onnx"] : [])]) {
    await copyFile(path.join(MODEL_DIR, f), path.join(dest, f));
  }
  await edit(raw, dest);
  await writeFile(path.join(dest, "manifest.json"), JSON.stringify(raw, null, 2) + "\n");
  return dest;
}

export interface Keys {
  privateKey: string;
  publicKey: string;
  privatePem: string;
}

export async function makeKeys(dir: string): Promise<Keys> {
  const k = await runKeygen(dir);
  return { ...k, privatePem: await readFile(k.privateKey, "utf8") };
}

/** Signed bundle of a model copy at `version`, in `<work>/<name>`. */
export async function makeBundle(
  work: string,
  name: string,
  keys: Keys,
  options: {
    version?: string;
    edit?: (m: RawManifest, dir: string) => Promise<void> | void;
    variants?: boolean;
    allowDowngrade?: boolean;
  } = {},
): Promise<string> {
  const model = await modelCopy(
    path.join(work, `${name}-model`),
    async (m, dir) => {
      m.version = options.version ?? "1.0.1";
      await options.edit?.(m, dir);
    },
    { variants: options.variants },
  );
  const out = path.join(work, name);
  await createBundle({ model, privateKeyPem: keys.privatePem, out, allowDowngrade: options.allowDowngrade });
  return out;
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}


/** What the device reported to an `OtaPublisher` (its `done()`), or an error after `timeoutMs`. */
export async function outcomeOf(pub: OtaPublisher, timeoutMs = 15_000): Promise<DeviceOutcome> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      pub.done(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no outcome from the device")), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
