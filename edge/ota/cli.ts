/** `gait-edge keygen | bundle | ota-publish`: the operator's side of OTA updates. */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log.js";
import { ConfigError } from "../runtime/config.js";
import { createBundle, type BundleSummary } from "./bundle.js";
import { Deadline } from "./deadline.js";
import { DEFAULT_STEP_S, OtaPublisher, type DeviceOutcome } from "./publisher.js";
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

/** After the --timeout, at most this long to withdraw the offer and disconnect. */
const STOP_GRACE_S = 5;

/**
 * Device: resolves with its outcome. Fleet: serves until timeout or interrupt,
 * resolves with every outcome. With --timeout every wait (connect, subscribe,
 * the offer, the device) shares that budget and a wait that runs out says
 * what it was waiting for; stopping gets a short grace on top.
 */
export async function runOtaPublish(o: OtaPublishCliOptions): Promise<DeviceOutcome[]> {
  if (!o.device === !o.fleet) throw new ConfigError("ota-publish needs exactly one of --device <id> or --fleet <id>");
  if (o.timeoutS !== undefined && !(o.timeoutS > 0)) throw new ConfigError(`--timeout must be a positive number of seconds, got ${o.timeoutS}`);
  const password = mqttPassword(o);
  const publisher = new OtaPublisher(
    {
      bundleDir: o.bundle,
      brokerUrl: o.broker,
      prefix: o.prefix,
      target: o.device ? { deviceId: o.device } : { fleetId: o.fleet! },
      ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(password !== undefined ? { password } : {}),
    },
    { logger: o.logger },
  );
  const deadline = o.timeoutS ? new Deadline(o.timeoutS) : undefined;
  let failure: unknown;
  let stopFailure: unknown;
  let outcomes: ReturnType<typeof publisher.stats>["outcomes"];
  try {
    await publisher.start(deadline ?? new Deadline(DEFAULT_STEP_S));
    const interrupted = o.interrupted.then(() => "interrupted" as const);
    if (o.device) {
      const device = o.device;
      const outcome = publisher.done();
      await Promise.race([deadline ? deadline.race(outcome, () => silenceOf(publisher, device)) : outcome, interrupted]);
    } else if (deadline) {
      // A fleet is served until the time is up: that is the normal end, not a failure.
      await Promise.race([deadline.race(new Promise<never>(() => undefined), "serving the fleet").catch(() => "served" as const), interrupted]);
    } else {
      await interrupted;
    }
    outcomes = publisher.stats().outcomes;
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    try {
      await publisher.stop({ deadline: new Deadline(Math.min(STOP_GRACE_S, o.timeoutS ?? STOP_GRACE_S)) });
    } catch (err) {
      // Never thrown from here: a throw in `finally` would replace the publish's own error.
      if (failure === undefined) stopFailure = err;
      else o.logger.error(`also: ${(err as Error).message} (the retained offer may still be on the broker)`);
    }
  }
  if (stopFailure !== undefined) {
    throw new Error(`${(stopFailure as Error).message}: the retained offer may still be on the broker`, { cause: stopFailure });
  }
  return outcomes;
}

/** MQTT 3.1.1 sends a password only with a user name; a broker drops a connection with one alone. */
function mqttPassword(o: OtaPublishCliOptions): string | undefined {
  if (o.password === undefined || o.username !== undefined) return o.password;
  if (o.password === "") {
    o.logger.warn("GAIT_MQTT_PASSWORD is set but empty and --username is not given: connecting without credentials");
    return undefined;
  }
  throw new ConfigError("GAIT_MQTT_PASSWORD is set but --username is not: MQTT sends a password only with a user name");
}

/** What the device said before it went quiet, for the timeout message. */
function silenceOf(publisher: OtaPublisher, device: string): string {
  const p = publisher.progressOf(device);
  if (p.chunkRequests === 0 && !p.lastState) {
    return `no chunk request and no state from ${device} (is it online, with \`ota\` configured, listening on ${publisher.offerTopic}?)`;
  }
  const last = p.lastState ? `last state ${p.lastState.state} ${Math.round(p.lastState.progress * 100)}%` : "no state yet";
  return `${device} asked for chunks ${p.chunkRequests} times but reported no outcome (${last})`;
}
