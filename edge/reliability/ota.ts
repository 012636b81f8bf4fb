/**
 * `reliability ota`: the attack suite against a running device. Each bundle
 * below is offered over a real mosquitto to an `EdgeRuntime` (simulator in
 * real time, OTA on, autoInstall) by the same `OtaPublisher` that
 * `gait-edge ota-publish` uses; each must be refused with its reason code,
 * the installed model must stay the running one, and the angle stream must not pause
 * (the largest gap between two angles messages at a subscriber is reported;
 * one stride is 250 ms).
 *
 * The bundles are built from the running model (the shipped one by default) with
 * edge/ota/bundle.ts, one patch version above it, then damaged the way an
 * attacker or a broken transfer would.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectAsync, type MqttClient } from "mqtt";
import { startMosquitto } from "../bench/mosquitto.js";
import type { Logger } from "../log.js";
import { createBundle } from "../ota/bundle.js";
import { runKeygen } from "../ota/cli.js";
import { OtaPublisher, type DeviceOutcome } from "../ota/publisher.js";
import { DEFAULT_MODEL, parseConfig } from "../runtime/config.js";
import { EdgeRuntime } from "../runtime/runtime.js";
import { checkResult, round, sleep, type CheckResult } from "./report.js";

type RawManifest = Record<string, unknown> & { version: string; model: { file: string; sha256: string; bytes: number } };
interface Keys {
  readonly publicKey: string;
  readonly privatePem: string;
}

/** Passes over the suite in the full run (quick: one). */
const FULL_ROUNDS = 5;
/** How long one offer may take to be answered before it counts as not refused. */
const OUTCOME_TIMEOUT_MS = 20_000;

interface Attack {
  readonly name: string;
  readonly code: string;
  /** Builds the bundle folder in `work` and returns it. */
  readonly bundle: (ctx: BundleContext) => Promise<string>;
}

interface BundleContext {
  readonly work: string;
  readonly modelDir: string;
  readonly keys: Keys;
  readonly otherKeys: Keys;
  /** The version an offer carries unless the attack says otherwise: one patch above the running model's. */
  readonly upgrade: string;
}

/** A signed bundle of a copy of the shipped model at `version`, after `edit` of the copy. */
async function signedBundle(
  ctx: BundleContext,
  name: string,
  opts: { version?: string; keys?: Keys; edit?: (m: RawManifest, dir: string) => Promise<void> | void } = {},
): Promise<string> {
  const model = path.join(ctx.work, `${name}-model`);
  await mkdir(model, { recursive: true });
  const raw = JSON.parse(await readFile(path.join(ctx.modelDir, "manifest.json"), "utf8")) as RawManifest;
  for (const f of ["model.int8.onnx", "golden.json"]) await copyFile(path.join(ctx.modelDir, f), path.join(model, f));
  raw.version = opts.version ?? ctx.upgrade;
  await opts.edit?.(raw, model);
  await writeFile(path.join(model, "manifest.json"), JSON.stringify(raw, null, 2) + "\n");
  const out = path.join(ctx.work, name);
  await createBundle({ model, privateKeyPem: (opts.keys ?? ctx.keys).privatePem, out });
  return out;
}

/** The attack suite: what each bundle is and the reason code the device must give. */
export const ATTACKS: readonly Attack[] = [
  {
    name: "unsigned",
    code: "unsigned",
    bundle: async (ctx) => {
      const b = await signedBundle(ctx, "unsigned");
      await rm(path.join(b, "manifest.sig"));
      return b;
    },
  },
  { name: "signed by an untrusted key", code: "untrusted_key", bundle: (ctx) => signedBundle(ctx, "wrong-key", { keys: ctx.otherKeys }) },
  {
    name: "tampered manifest (signature no longer matches)",
    code: "bad_signature",
    bundle: async (ctx) => {
      const b = await signedBundle(ctx, "bad-sig");
      const file = path.join(b, "manifest.json");
      const m = JSON.parse(await readFile(file, "utf8")) as RawManifest;
      m.version = "9.9.9";
      await writeFile(file, JSON.stringify(m, null, 2) + "\n");
      return b;
    },
  },
  {
    name: "tampered model bytes",
    code: "sha256_mismatch",
    bundle: async (ctx) => {
      const b = await signedBundle(ctx, "tampered-model");
      const file = path.join(b, "model.int8.onnx");
      const bytes = await readFile(file);
      bytes[1000] = (bytes[1000] as number) ^ 0xff;
      await writeFile(file, bytes);
      return b;
    },
  },
  {
    name: "truncated model",
    code: "truncated",
    bundle: async (ctx) => {
      const b = await signedBundle(ctx, "truncated");
      await truncate(path.join(b, "model.int8.onnx"), 10_000); // shorter than any model (the tiny test ones: 19 kB)
      return b;
    },
  },
  { name: "downgrade (0.9.0 over the running model, not signed as one)", code: "downgrade", bundle: (ctx) => signedBundle(ctx, "downgrade", { version: "0.9.0" }) },
  {
    name: "incompatible contract (window 40)",
    code: "incompatible",
    bundle: (ctx) =>
      signedBundle(ctx, "window40", {
        edit: (m) => {
          const t = m.tensors as { input: { shape: unknown[] }; output: { shape: unknown[] } };
          Object.assign(m, { window: 40, stride: 20 });
          t.input.shape = ["batch", 40, 18];
          t.output.shape = ["batch", 40, 5];
        },
      }),
  },
  {
    name: "signed garbage model (does not load)",
    code: "load_failed",
    bundle: (ctx) =>
      signedBundle(ctx, "garbage", {
        edit: async (m, dir) => {
          const garbage = Buffer.from("this is not an onnx graph ".repeat(200));
          await writeFile(path.join(dir, "model.int8.onnx"), garbage);
          m.model = { ...m.model, sha256: createHash("sha256").update(garbage).digest("hex"), bytes: garbage.length };
        },
      }),
  },
];

async function outcomeOf(pub: OtaPublisher): Promise<DeviceOutcome | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([pub.done(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), OUTCOME_TIMEOUT_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}

export interface OtaCheckOptions {
  readonly quick?: boolean;
  readonly model?: string;
  readonly logger: Logger;
}

export async function runOtaAttacks(opts: OtaCheckOptions): Promise<CheckResult> {
  const t0 = performance.now();
  const work = await mkdtemp(path.join(tmpdir(), "gait-ota-attack-"));
  const broker = await startMosquitto();
  const deviceId = "reliability-ota";
  let runtime: EdgeRuntime | undefined;
  let sub: MqttClient | undefined;
  try {
    const k = await runKeygen(path.join(work, "keys"));
    const o = await runKeygen(path.join(work, "other-keys"));
    const keys = { publicKey: k.publicKey, privatePem: await readFile(k.privateKey, "utf8") };
    const otherKeys = { publicKey: o.publicKey, privatePem: await readFile(o.privateKey, "utf8") };
    const manifest = path.resolve(opts.model ?? DEFAULT_MODEL);
    const running = (JSON.parse(await readFile(manifest, "utf8")) as RawManifest).version;
    const ctx: BundleContext = { work, modelDir: path.dirname(manifest), keys, otherKeys, upgrade: nextPatch(running) };

    const config = parseConfig({
      model: manifest,
      sources: [{ kind: "simulator", realtime: true, seed: 7 }],
      sensors: { "w1:femur_r": "femur_r", "w1:calcn_r": "calcn_r" },
      mqtt: { url: broker.url, deviceId },
      ota: { dir: path.join(work, "device-models"), publicKeys: [keys.publicKey], autoInstall: true },
    });
    runtime = new EdgeRuntime(config, { logger: opts.logger });
    const arrivals: number[] = [];
    sub = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `${deviceId}-watch` });
    sub.on("message", () => arrivals.push(performance.now()));
    await sub.subscribeAsync(`gait/${deviceId}/angles`, { qos: 0 });
    await runtime.start();
    const deadline = Date.now() + 20_000;
    while (arrivals.length < 4 && Date.now() < deadline) await sleep(20);
    const firstMeasured = arrivals.length;

    const results: { name: string; expected: string; code: string | null; refused: boolean }[] = [];
    // Full: the suite several times over, so the angle stream is watched for longer than one pass.
    const rounds = opts.quick ? 1 : FULL_ROUNDS;
    const bundles = new Map<string, string>();
    for (let pass = 0; pass < rounds; pass++) {
      for (const attack of ATTACKS) {
        const bundleDir = bundles.get(attack.name) ?? (await attack.bundle(ctx));
        bundles.set(attack.name, bundleDir);
        const pub = new OtaPublisher({ bundleDir, brokerUrl: broker.url, target: { deviceId } }, { logger: opts.logger.child("ota-publish") });
        await pub.start();
        const outcome = await outcomeOf(pub);
        await pub.stop();
        const code = outcome?.state.code ?? null;
        results.push({ name: attack.name, expected: attack.code, code, refused: outcome !== undefined && !outcome.ok && code === attack.code });
      }
    }
    // Two more strides, so a pause at the very end would show as a gap too.
    await sleep(600);
    const version = runtime.contract.manifest.version;
    const installs = runtime.ota?.stats().installs ?? -1;
    const measured = arrivals.slice(Math.max(0, firstMeasured - 1));
    const gaps = measured.slice(1).map((t, i) => t - measured[i]!);
    const figures = {
      attacks: ATTACKS.length,
      offers: results.length,
      refused_with_right_code: results.filter((r) => r.refused).length,
      refused_pct: round((100 * results.filter((r) => r.refused).length) / results.length, 1),
      installs,
      installed_version_after: version,
      angles_messages_during: measured.length,
      max_angles_gap_ms: round(Math.max(0, ...gaps), 1),
    };
    return checkResult("ota", t0, opts, {
      ok: figures.refused_with_right_code === results.length && installs === 0 && measured.length > 1,
      figures,
      targets: {
        refused_pct: "100 (each with its reason code)",
        installs: "0",
        installed_version_after: `${running} (the running model)`,
        max_angles_gap_ms: "close to one stride (250 ms): the stream never paused",
      },
      notes: [`the suite ${rounds} time(s) over (full: ${FULL_ROUNDS}, quick: 1)`],
      detail: results,
    });
  } finally {
    await runtime?.stop().catch(() => undefined);
    await sub?.endAsync(true).catch(() => undefined);
    await broker.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Pure: "2.0.0" -> "2.0.1" (a semantic version's next patch; a pre-release or build suffix is dropped). */
export function nextPatch(version: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) throw new Error(`model version "${version}" is not a semantic version (major.minor.patch)`);
  return `${m[1]}.${m[2]}.${Number(m[3]) + 1}`;
}
