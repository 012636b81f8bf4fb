/**
 * `reliability ota-crash`: kill -9 the REAL device process during an update
 * and check what it boots afterwards (issue #13, defect 1: a crash during
 * probation used to boot the unproven model for good, 26 of 28 angles null).
 *
 * The device is `gait-edge run` as a child process (simulator in real time,
 * OTA on, autoInstall) on a real mosquitto; the update is offered by the real
 * `OtaPublisher`. The candidate models pass the golden self-test and are
 * wrong on live data (goldenOnlyModel.ts): `nan` answers NaN, `flat` a
 * plausible 10-ish deg on every joint that no output check can tell from a
 * good model, so only its probation (kept long here) stands before `current`.
 *
 * Each scenario is its own device (fresh models directory, fresh device id):
 *
 *   probation  flat candidate, kill -9 a while into its probation
 *   nan-start  nan candidate, kill -9 the moment its probation record appears
 *              (the first live window rolls it back: the kill may come after)
 *   install    flat candidate, kill -9 when the device says `verifying` or
 *              `installing` (files, load, self-test; before probation)
 *   nan-undo   nan candidate, no kill: probation rolls it back; THEN kill -9
 *
 * and is restarted on the same directory. What is checked at every start:
 * the first angles come from the shipped model, none carries a null (NaN)
 * angle; after a kill during probation the device reports, on its own,
 * `rolled_back` / `probation_failed` naming the restart, and does not install
 * that offer again by itself; after a kill that came once probation had
 * rolled the model back, the restarted device holds the still-retained offer
 * (`available`, code `rolled_back_before`: the rollback is on disk,
 * edge/ota/rejections.ts) instead of installing it again.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { startMosquitto, type RunningMosquitto } from "../bench/mosquitto.js";
import type { Logger } from "../log.js";
import { createBundle } from "../ota/bundle.js";
import { runKeygen } from "../ota/cli.js";
import type { OtaStateMessage } from "../ota/messages.js";
import { OtaPublisher } from "../ota/publisher.js";
import { DeviceProcess, DeviceWatcher } from "./deviceProcess.js";
import { DEFAULT_MODEL } from "../runtime/config.js";
import { goldenOnlyModel } from "./goldenOnlyModel.js";
import { checkResult, sleep, type CheckResult } from "./report.js";

/** Long enough that no kill in this check comes after a flat candidate passed (4 strides a second). */
const PROBATION_STRIDES = 2000;
const WAIT_LIMIT_MS = 60_000;

type Candidate = "flat" | "nan";
type KillPoint = { readonly kind: "probation"; readonly afterMs: number } | { readonly kind: "probation_start" } | { readonly kind: "install" } | { readonly kind: "after_rollback" };

interface Scenario {
  readonly name: string;
  readonly candidate: Candidate;
  readonly kill: KillPoint;
}

const QUICK: readonly Scenario[] = [
  { name: "probation", candidate: "flat", kill: { kind: "probation", afterMs: 500 } },
  { name: "install", candidate: "flat", kill: { kind: "install" } },
  { name: "nan-undo", candidate: "nan", kill: { kind: "after_rollback" } },
];
const FULL: readonly Scenario[] = [
  { name: "probation-0.3s", candidate: "flat", kill: { kind: "probation", afterMs: 300 } },
  { name: "probation-1.5s", candidate: "flat", kill: { kind: "probation", afterMs: 1500 } },
  { name: "probation-4s", candidate: "flat", kill: { kind: "probation", afterMs: 4000 } },
  { name: "nan-start-1", candidate: "nan", kill: { kind: "probation_start" } },
  { name: "nan-start-2", candidate: "nan", kill: { kind: "probation_start" } },
  { name: "install-1", candidate: "flat", kill: { kind: "install" } },
  { name: "install-2", candidate: "flat", kill: { kind: "install" } },
  { name: "install-3", candidate: "flat", kill: { kind: "install" } },
  { name: "nan-undo", candidate: "nan", kill: { kind: "after_rollback" } },
];

export interface OtaCrashOptions {
  readonly quick?: boolean;
  readonly model?: string;
  readonly logger: Logger;
  /** Only the scenarios with these names (default: all of the mode's). */
  readonly only?: readonly string[];
  /** Keep the work folder (device configs, logs, models directories) for a post-mortem; its path goes in the notes. */
  readonly keepWorkDir?: boolean;
  /**
   * Runs on the models directory between a kill and the restart: the check's
   * own test uses it to put issue #13's defect back (`current` naming the
   * candidate) and see the check fail. Not for production use.
   */
  readonly beforeRestart?: (otaDir: string) => Promise<void>;
}

/** What one scenario found. */
interface ScenarioResult {
  readonly name: string;
  /** Where the kill landed: the probation record was on disk (probation), or not yet (install). */
  readonly killedDuring: "probation" | "install" | "after_rollback" | "not_killed";
  readonly bootVersions: string[];
  readonly nullAnglesAfterRestart: number;
  /** After a kill during probation (rolled_back) or after a rollback (the offer held): the restarted device's own report. */
  readonly reportedAfterRestart: Pick<OtaStateMessage, "state" | "code" | "reason"> | null;
  readonly reinstalledByItself: boolean;
}

async function waitUntil(what: string, probe: () => boolean, limitMs = WAIT_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`ota-crash: timed out after ${limitMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

type RawManifest = Record<string, unknown> & { version: string; model: { file: string; sha256: string; bytes: number } };
interface Golden {
  features: number[][][];
  outputs: Record<string, number[][][]>;
}

/** A signed bundle whose model is the golden-only graph for `candidate`, at `version`. */
async function candidateBundle(work: string, modelDir: string, privatePem: string, candidate: Candidate, version: string, liveDeg: number): Promise<string> {
  const raw = JSON.parse(await readFile(path.join(modelDir, "manifest.json"), "utf8")) as RawManifest;
  const golden = JSON.parse(await readFile(path.join(modelDir, "golden.json"), "utf8")) as Golden;
  const t = raw.tensors as { input: { name: string; shape: [string, number, number] }; output: { name: string; shape: [string, number, number] } };
  const variant = raw.model.file.includes("fp32") ? "fp32" : "int8";
  const outputs = golden.outputs[variant];
  if (!outputs) throw new Error(`${modelDir}/golden.json has no ${variant} outputs`);
  const onnx = goldenOnlyModel({
    inputName: t.input.name,
    outputName: t.output.name,
    window: t.input.shape[1],
    features: t.input.shape[2],
    joints: t.output.shape[2],
    goldenFeatures: golden.features,
    goldenOutputs: outputs,
    liveValue: candidate === "nan" ? Number.NaN : liveDeg,
  });
  const dir = path.join(work, `model-${version}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, raw.model.file), onnx);
  await copyFile(path.join(modelDir, "golden.json"), path.join(dir, "golden.json"));
  raw.version = version;
  raw.model = { ...raw.model, sha256: createHash("sha256").update(onnx).digest("hex"), bytes: onnx.length };
  await writeFile(path.join(dir, "manifest.json"), JSON.stringify(raw, null, 2) + "\n");
  const out = path.join(work, `bundle-${version}`);
  await createBundle({ model: dir, privateKeyPem: privatePem, out });
  return out;
}

export async function runOtaCrash(opts: OtaCrashOptions): Promise<CheckResult> {
  const t0 = performance.now();
  const work = await mkdtemp(path.join(tmpdir(), "gait-ota-crash-"));
  const broker: RunningMosquitto = await startMosquitto();
  const scenarios = (opts.quick ? QUICK : FULL).filter((s) => !opts.only || opts.only.includes(s.name));
  const results: ScenarioResult[] = [];
  let shippedVersion = "";
  try {
    const k = await runKeygen(path.join(work, "keys"));
    const privatePem = await readFile(k.privateKey, "utf8");
    const manifest = path.resolve(opts.model ?? DEFAULT_MODEL);
    shippedVersion = (JSON.parse(await readFile(manifest, "utf8")) as RawManifest).version;
    let n = 0;
    for (const scenario of scenarios) {
      n++;
      const version = `${shippedVersion.split(".").slice(0, 2).join(".")}.${100 + n}`;
      // Each candidate's bytes differ (its live angle), so no two scenarios share a model hash.
      const bundle = await candidateBundle(work, path.dirname(manifest), privatePem, scenario.candidate, version, 10 + n);
      results.push(
        await runScenario(scenario, { work, broker, manifest, publicKey: k.publicKey, bundle, shippedVersion, logger: opts.logger, index: n, beforeRestart: opts.beforeRestart }),
      );
    }
  } finally {
    await broker.stop();
    if (!opts.keepWorkDir) await rm(work, { recursive: true, force: true });
  }

  const during = (what: ScenarioResult["killedDuring"]): ScenarioResult[] => results.filter((r) => r.killedDuring === what);
  const probationKills = during("probation");
  const boots = results.flatMap((r) => r.bootVersions);
  const figures = {
    scenarios: results.length,
    kills_during_probation: probationKills.length,
    kills_during_install: during("install").length,
    kills_after_rollback: during("after_rollback").length,
    boots: boots.length,
    boots_on_unproven_model: boots.filter((v) => v !== shippedVersion).length,
    null_angles_after_restart: results.reduce((s, r) => s + r.nullAnglesAfterRestart, 0),
    probation_kills_reported_rolled_back: probationKills.filter((r) => r.reportedAfterRestart?.state === "rolled_back" && r.reportedAfterRestart.code === "probation_failed").length,
    reinstalled_after_probation_kill: probationKills.filter((r) => r.reinstalledByItself).length,
    reinstalled_after_rollback: during("after_rollback").filter((r) => r.reinstalledByItself).length,
    rollbacks_held_after_restart: during("after_rollback").filter((r) => r.reportedAfterRestart?.code === "rolled_back_before").length,
  };
  const ok =
    figures.boots_on_unproven_model === 0 &&
    figures.null_angles_after_restart === 0 &&
    figures.reinstalled_after_probation_kill === 0 &&
    figures.reinstalled_after_rollback === 0 &&
    figures.rollbacks_held_after_restart === figures.kills_after_rollback &&
    figures.kills_during_probation >= 1 &&
    figures.probation_kills_reported_rolled_back === figures.kills_during_probation;
  return checkResult("ota-crash", t0, opts, {
    ok,
    figures,
    targets: {
      kills_during_probation: ">= 1 (a kill that came after the candidate was rolled back counts as after_rollback)",
      boots_on_unproven_model: "0 (every start runs the shipped model)",
      null_angles_after_restart: "0",
      probation_kills_reported_rolled_back: "= kills_during_probation (rolled_back / probation_failed, said by the restarted device)",
      reinstalled_after_probation_kill: "0 (the probation record names the offer for the next start)",
      reinstalled_after_rollback: "0 (the rollback is on disk, <ota.dir>/rejected: the retained offer is held, not installed again)",
      rollbacks_held_after_restart: "= kills_after_rollback (available / rolled_back_before, said by the restarted device)",
    },
    notes: [
      "the device is `gait-edge run` as a child process; candidates pass the golden self-test and answer NaN (nan) or a plausible constant (flat) on live data",
      `probationStrides ${PROBATION_STRIDES}: a flat candidate is still on probation at every kill`,
      ...(opts.keepWorkDir ? [`work folder kept: ${work}`] : []),
    ],
    detail: results,
  });
}

interface ScenarioContext {
  readonly work: string;
  readonly broker: RunningMosquitto;
  readonly manifest: string;
  readonly publicKey: string;
  readonly bundle: string;
  readonly shippedVersion: string;
  readonly logger: Logger;
  readonly index: number;
  readonly beforeRestart: ((otaDir: string) => Promise<void>) | undefined;
}

async function runScenario(scenario: Scenario, ctx: ScenarioContext): Promise<ScenarioResult> {
  const deviceId = `reliability-ota-crash-${ctx.index}`;
  const otaDir = path.join(ctx.work, `device-${ctx.index}`);
  const record = path.join(otaDir, "probation");
  const configFile = path.join(ctx.work, `device-${ctx.index}.json`);
  await writeFile(
    configFile,
    JSON.stringify({
      model: ctx.manifest,
      sources: [{ kind: "simulator", realtime: true, seed: 7 }],
      sensors: { "w1:femur_r": "femur_r", "w1:calcn_r": "calcn_r" },
      mqtt: { url: ctx.broker.url, deviceId },
      ota: { dir: otaDir, publicKeys: [ctx.publicKey], autoInstall: true, probationStrides: PROBATION_STRIDES },
      log: { level: "info", format: "json" },
    }),
  );
  const watcher = await DeviceWatcher.start(ctx.broker.url, deviceId);
  const device = new DeviceProcess(configFile, path.join(ctx.work, `device-${ctx.index}.log`));
  const publisher = new OtaPublisher({ bundleDir: ctx.bundle, brokerUrl: ctx.broker.url, target: { deviceId } }, { logger: ctx.logger.child("ota-publish") });
  const bootVersions: string[] = [];
  /**
   * Starts the device and waits for its first `model` message and angles. The
   * first `model` a process publishes names the model it booted (an update
   * resumed right after the start swaps in later, and says so again).
   */
  const boot = async (): Promise<number> => {
    if (killedAtMs !== undefined) {
      // The broker publishes the dead process's will only after it has read
      // all that process sent: everything the watcher gets from now on is the new one's.
      const at = killedAtMs;
      await waitUntil(`${scenario.name}: the killed device's last will`, () => watcher.wills.some((t) => t >= at), 20_000);
    }
    device.start();
    const since = device.startedAtMs;
    await waitUntil(`${scenario.name}: the device's first model message and angles`, () => watcher.models.some((m) => m.atMs >= since) && watcher.angles.some((a) => a.atMs >= since));
    bootVersions.push(watcher.models.find((m) => m.atMs >= since)!.version);
    return since;
  };
  const stateSince = (since: number, want: (s: OtaStateMessage) => boolean): OtaStateMessage | undefined =>
    watcher.states.find((s) => s.atMs >= since && want(s.state))?.state;
  let killedDuring: ScenarioResult["killedDuring"];
  let killedAtMs: number | undefined;
  const kill9 = async (): Promise<void> => {
    killedAtMs = Date.now();
    await device.kill9();
  };
  try {
    const firstStart = await boot();
    await publisher.start();

    if (scenario.kill.kind === "install") {
      await waitUntil(`${scenario.name}: verifying/installing`, () =>
        stateSince(firstStart, (s) => s.state === "verifying" || (s.state === "installing" && !existsSync(record))) !== undefined || existsSync(record),
      );
      await kill9();
      killedDuring = existsSync(record) ? "probation" : "install";
    } else if (scenario.kill.kind === "after_rollback") {
      const outcome = await Promise.race([publisher.done(), sleep(WAIT_LIMIT_MS).then(() => undefined)]);
      if (!outcome) throw new Error(`${scenario.name}: no outcome from the device within ${WAIT_LIMIT_MS} ms`);
      if (outcome.state.state !== "rolled_back") throw new Error(`${scenario.name}: expected the nan candidate rolled back, the device says ${outcome.state.state} (${outcome.state.reason ?? ""})`);
      await kill9();
      killedDuring = "after_rollback";
    } else {
      await waitUntil(`${scenario.name}: the probation record`, () => existsSync(record));
      if (scenario.kill.kind === "probation") await sleep(scenario.kill.afterMs);
      await kill9();
      killedDuring = existsSync(record) ? "probation" : "after_rollback";
    }

    await ctx.beforeRestart?.(otaDir);
    const restart = await boot();
    let reported: ScenarioResult["reportedAfterRestart"] = null;
    // A device that booted something else has failed already; its report is not worth waiting for.
    if (killedDuring === "probation" && bootVersions.at(-1) === ctx.shippedVersion) {
      await waitUntil(`${scenario.name}: the restarted device's report`, () => stateSince(restart, (s) => s.state === "rolled_back") !== undefined, 20_000).catch(
        () => undefined,
      );
      const s = stateSince(restart, (x) => x.state === "rolled_back");
      if (s) reported = { state: s.state, code: s.code, reason: s.reason };
    } else if (killedDuring === "after_rollback" && bootVersions.at(-1) === ctx.shippedVersion) {
      const held = (x: OtaStateMessage): boolean => x.code === "rolled_back_before";
      await waitUntil(`${scenario.name}: the restarted device holding the offer`, () => stateSince(restart, held) !== undefined, 20_000).catch(() => undefined);
      const s = stateSince(restart, held);
      if (s) reported = { state: s.state, code: s.code, reason: s.reason };
    }
    // A few strides on the restarted device: angles must be numbers, and an undone model must stay undone.
    await sleep(2000);
    const reinstalledByItself = killedDuring !== "install" && (existsSync(record) || stateSince(restart, (s) => s.state === "installing") !== undefined);
    const nullAnglesAfterRestart = watcher.angles.filter((a) => a.atMs >= restart && a.nulls).length;
    return { name: scenario.name, killedDuring, bootVersions, nullAnglesAfterRestart, reportedAfterRestart: reported, reinstalledByItself };
  } finally {
    await device.stop().catch(() => undefined);
    await publisher.stop().catch(() => undefined);
    await watcher.stop().catch(() => undefined);
  }
}
