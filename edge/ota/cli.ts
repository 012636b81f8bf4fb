/** `gait-edge keygen | bundle | ota-publish`: the operator's side of OTA updates. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log.js";
import { ConfigError } from "../runtime/config.js";
import { createBundle, type BundleSummary } from "./bundle.js";
import { OtaPublisher, type DeviceOutcome } from "./publisher.js";
import { generateSigningKeys, keyIdOf, privateKeyFromPem } from "./signature.js";

/** Writes `private.pem` (mode 0600, never overwritten) and `public.pem` into `out`. */
export async function runKeygen(out: string): Promise<{ privateKey: string; publicKey: string; keyId: string }> {
  await mkdir(out, { recursive: true });
  const keys = generateSigningKeys();
  const privateKey = path.join(out, "private.pem");
  const publicKey = path.join(out, "public.pem");
  try {
    await writeFile(privateKey, keys.privatePem, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new ConfigError(`${privateKey} exists already: refusing to overwrite a signing key`);
    throw err;
  }
  await writeFile(publicKey, keys.publicPem, { mode: 0o644 });
  return { privateKey, publicKey, keyId: keyIdOf(privateKeyFromPem(keys.privatePem)) };
}

export async function runBundle(opts: { model: string; key: string; out: string; allowDowngrade?: boolean }): Promise<BundleSummary> {
  const pem = await readFile(opts.key, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`--key ${opts.key}: cannot read the private key (${err.code ?? err.message})`);
  });
  return createBundle({ model: opts.model, privateKeyPem: pem, out: opts.out, allowDowngrade: opts.allowDowngrade });
}

export interface OtaPublishCliOptions {
  readonly username?: string;
  /** From the environment (GAIT_MQTT_PASSWORD), never the command line: argv is visible in `ps`. */
  readonly password?: string;
  readonly bundle: string;
  readonly broker: string;
  readonly prefix: string;
  readonly device?: string;
  readonly fleet?: string;
  readonly chunkSize?: number;
  /** Fleet: serve this long (s); device: give up after this long. */
  readonly timeoutS?: number;
  readonly logger: Logger;
  /** Resolves when the operator interrupts (SIGINT/SIGTERM). */
  readonly interrupted: Promise<void>;
}

/** Device: resolves with its outcome. Fleet: serves until timeout or interrupt, resolves with every outcome. */
export async function runOtaPublish(o: OtaPublishCliOptions): Promise<DeviceOutcome[]> {
  if (!o.device === !o.fleet) throw new ConfigError("ota-publish needs exactly one of --device <id> or --fleet <id>");
  const publisher = new OtaPublisher(
    {
      bundleDir: o.bundle,
      brokerUrl: o.broker,
      prefix: o.prefix,
      target: o.device ? { deviceId: o.device } : { fleetId: o.fleet! },
      ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
    },
    { logger: o.logger },
  );
  await publisher.start();
  let timer: NodeJS.Timeout | undefined;
  const timeout = o.timeoutS ? new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), o.timeoutS! * 1000))) : new Promise<never>(() => undefined);
  try {
    const waitFor = o.device ? publisher.done() : new Promise<never>(() => undefined);
    const first = await Promise.race([waitFor, timeout, o.interrupted.then(() => "interrupted" as const)]);
    if (first === "timeout" && o.device) throw new Error(`no outcome from ${o.device} within ${o.timeoutS} s`);
    return publisher.stats().outcomes;
  } finally {
    clearTimeout(timer);
    await publisher.stop();
  }
}
