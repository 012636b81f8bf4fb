#!/usr/bin/env node
/**
 * gait-edge: run | replay | demo | calibrate | bench | reliability | keygen | bundle | ota-publish | export.
 * Human output on stdout, structured logs on stderr. Argument parsing is
 * commander's; every command answers --help. Exit codes (edge/runtime/exitCodes.ts):
 * 0 ok, 1 runtime failure, 64 bad command line, 78 bad config or input file.
 */
import { access } from "node:fs/promises";
import path from "node:path";
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { exportRecording, EXPORT_FORMATS, type ExportFormat } from "./export/export.js";
import { createLogger, type Logger, type LogLevel } from "./log.js";
import { ConfigError, DEFAULT_MODEL, loadConfig, parseConfig } from "./runtime/config.js";
import { EXIT, errorText, exitCodeFor } from "./runtime/exitCodes.js";
import { EdgeRuntime } from "./runtime/runtime.js";
import type { CheckName } from "./reliability/run.js";

const DEMO_TRIAL = "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz";
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** A commander option parser for a number >= min: a bad value is a usage error (64) naming the option. */
function numberAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number >= ${min}, got "${value}"`);
    return n;
  };
}

const modelOption = (): Option => new Option("--model <manifest.json>", "model manifest (or its folder)").default(DEFAULT_MODEL);
const speedOption = (): Option =>
  new Option("--speed <x>", "playback speed (1 = real time, 0 = as fast as possible)").default(1).argParser(numberAtLeast(0));
const logLevelOption = (): Option => new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info");

function cliLogger(level: LogLevel): Logger {
  return createLogger("gait-edge", { level, format: process.stderr.isTTY ? "pretty" : "json" });
}

/** An input file named on the command line must exist: a clear 78, not a stack trace from deep inside. */
async function requireReadable(file: string, what: string): Promise<void> {
  try {
    await access(file);
  } catch (err) {
    throw new ConfigError(`${what} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
}

/** Builds the command tree; each action resolves to its exit code. */
function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("gait-edge")
    .description("wearable gait sensing: thigh + foot IMUs -> int8 LSTM -> hip/knee/ankle angles on MQTT")
    // Commander throws instead of exiting, so main() picks the exit code (64 for usage errors).
    .exitOverride()
    // A mistyped option or command prints that command's usage under the error.
    .showHelpAfterError()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
    });

  program
    .command("run")
    .description("run the device: sources -> angles on MQTT until stopped (SIGINT/SIGTERM)")
    .requiredOption("--config <file.json>", "runtime config (see deploy/config/gait-edge.json)")
    .action(async (o: { config: string }) => {
      const config = await loadConfig(o.config);
      const runtime = new EdgeRuntime(config, { logger: createLogger("gait-edge", { level: config.log.level, format: config.log.format }) });
      await runtime.start();
      await untilSignal();
      await runtime.stop();
      setExit(EXIT.ok);
    });

  program
    .command("replay")
    .description("replay a recording (Camargo CSV, Xsens .txt, own .jsonl) through the pipeline; prints the stats")
    .argument("<file>", "trial_imu.csv.gz | .txt | .jsonl[.gz]")
    .addOption(speedOption())
    .addOption(modelOption())
    .option("--broker <url>", "publish to this broker (default: an embedded one)")
    .option("--device-id <id>", "device id in the topics", "gait-edge")
    .option("--prefix <prefix>", "topic prefix", "gait")
    .option("--record <dir>", "also record to this directory")
    .option("--calibration <file>", "calibration.file: loaded at start; the mounting calibrations found from the walking are saved into it")
    .addOption(new Option("--walk-s <s>", "mounting: seconds of walking per judgement (10-120; default 20)").argParser(numberAtLeast(10)))
    .addOption(logLevelOption())
    .action(async (file: string, o: { speed: number; model: string; broker?: string; deviceId: string; prefix: string; record?: string; calibration?: string; walkS?: number; logLevel: LogLevel }) => {
      await requireReadable(file, "replay:");
      const config = parseConfig(
        {
          model: o.model,
          sources: [{ kind: "replay", file, speed: o.speed }],
          mqtt: { url: o.broker, deviceId: o.deviceId, prefix: o.prefix, embedded: { host: "127.0.0.1", port: 0 } },
          recorder: o.record ? { dir: o.record, deviceId: o.deviceId } : undefined,
          calibration: o.calibration ? { file: path.resolve(o.calibration) } : undefined,
          mounting: o.walkS !== undefined ? { walkS: o.walkS } : undefined,
        },
        "command line",
      );
      let finish!: () => void;
      const ended = new Promise<void>((r) => (finish = r));
      const runtime = new EdgeRuntime(config, { logger: cliLogger(o.logLevel), onEnd: () => finish() });
      await runtime.start();
      await Promise.race([ended, untilSignal()]);
      const stats = runtime.stats();
      await runtime.stop();
      process.stdout.write(JSON.stringify(stats, null, 2) + "\n");
      setExit(EXIT.ok);
    });

  program
    .command("demo")
    .description("replay a real AB06 trial with the shipped model, print the angles live and the RMSE against mocap")
    .option("--trial <file>", "Camargo *_imu.csv[.gz] trial", DEMO_TRIAL)
    .addOption(speedOption())
    .addOption(modelOption())
    .option("--calibration <file>", "start from this calibration.file (default for a gait-features/2 model: calibration.json next to the trial)")
    .addOption(logLevelOption())
    .action(async (o: { trial: string; speed: number; model: string; calibration?: string; logLevel: LogLevel }) => {
      await requireReadable(o.trial, "demo: --trial");
      if (o.calibration !== undefined) await requireReadable(o.calibration, "demo: --calibration");
      const { runDemo } = await import("./runtime/demo.js");
      await runDemo({ trial: path.resolve(o.trial), model: o.model, speed: o.speed, logger: cliLogger(o.logLevel), ...(o.calibration !== undefined ? { calibration: path.resolve(o.calibration) } : {}) });
      setExit(EXIT.ok);
    });

  program
    .command("calibrate")
    .description("ask a running device for a static calibration (password from GAIT_MQTT_PASSWORD)")
    .requiredOption("--broker <url>", "broker of the running device (mqtt://host:port)")
    .option("--device-id <id>", "device id", "gait-edge")
    .option("--prefix <prefix>", "topic prefix", "gait")
    .addOption(new Option("--duration <s>", "seconds of standing still").default(2).argParser(numberAtLeast(0)))
    .option("--username <user>", "MQTT user name")
    .action(async (o: { broker: string; deviceId: string; prefix: string; duration: number; username?: string }) => {
      const { sendCommand, RemoteCommandError } = await import("./runtime/remote.js");
      try {
        const reply = await sendCommand(o.broker, o.prefix, o.deviceId, { command: "calibrate", args: { durationS: o.duration } }, (o.duration + 10) * 1000, {
          username: o.username,
          password: process.env.GAIT_MQTT_PASSWORD,
        });
        process.stdout.write(JSON.stringify(reply, null, 2) + "\n");
        setExit(reply.status === "ok" ? EXIT.ok : EXIT.failure);
      } catch (err) {
        // No reply, or a malformed one: say what came back, not a stack trace.
        if (!(err instanceof RemoteCommandError)) throw err;
        process.stderr.write(`gait-edge calibrate: ${err.message}\n`);
        setExit(EXIT.failure);
      }
    });

  program
    .command("bench")
    .description("measure latency, memory and capacity (real mosquitto)")
    .option("--json <out>", "also write the results as JSON")
    .option("--quick", "shorter runs", false)
    .addOption(modelOption())
    .addOption(logLevelOption())
    .action(async (o: { json?: string; quick: boolean; model: string; logLevel: LogLevel }) => {
      const { runBench } = await import("./bench/bench.js");
      await runBench({ model: o.model, json: o.json, quick: o.quick, logger: cliLogger(o.logLevel) });
      setExit(EXIT.ok);
    });

  program
    .command("reliability")
    .description("the attack run as benchmarks: serial fuzz, broker outage, OTA attacks, kills during an update, memory soak, hostile device (docs/reliability.md)")
    // The same names as CHECKS in edge/reliability/run.ts (imported lazily, so not used here).
    .addArgument(new Argument("<check>", "which check").choices(["fuzz", "outage", "ota", "ota-crash", "soak", "hostile", "all"]))
    .option("--quick", "short runs (the smoke test in make test)", false)
    .option("--json <out>", `write the results as JSON (all: default reports/reliability.json)`)
    .addOption(new Option("--minutes <m>", "soak: wall minutes (default 30, --quick 1)").argParser(numberAtLeast(0.05)))
    .addOption(new Option("--seconds <s>", "outage: seconds each broker failure lasts (default 60, --quick 3)").argParser(numberAtLeast(1)))
    .addOption(new Option("--frames <n>", "fuzz: frames per serial mode through the parsers (default 1000000, --quick 20000)").argParser(numberAtLeast(10)))
    .addOption(modelOption())
    // The checks provoke warnings on purpose (refused updates, lost brokers): errors only, by default.
    .addOption(logLevelOption().default("error"))
    .action(async (check: string, o: { quick: boolean; json?: string; minutes?: number; seconds?: number; frames?: number; model: string; logLevel: LogLevel }) => {
      const { runReliability } = await import("./reliability/run.js");
      const report = await runReliability(check as CheckName | "all", {
        quick: o.quick,
        json: o.json,
        minutes: o.minutes,
        seconds: o.seconds,
        frames: o.frames === undefined ? undefined : Math.round(o.frames),
        model: o.model,
        logger: cliLogger(o.logLevel),
      });
      setExit(report.ok ? EXIT.ok : EXIT.failure);
    });

  // ---- OTA model updates (edge/ota, docs/ota.md)
  program
    .command("keygen")
    .description("make an ed25519 signing key pair for OTA updates (private.pem, mode 0600, and public.pem for device configs)")
    .requiredOption("--out <dir>", "where to write the keys")
    .action(async (o: { out: string }) => {
      const { runKeygen } = await import("./ota/cli.js");
      const r = await runKeygen(o.out);
      process.stdout.write(`private key ${r.privateKey} (keep it secret), public key ${r.publicKey} (key id ${r.keyId})\n`);
      setExit(EXIT.ok);
    });

  program
    .command("bundle")
    .description("sign a model folder into an OTA bundle")
    .addOption(modelOption())
    .requiredOption("--key <private.pem>", "signing key (gait-edge keygen)")
    .requiredOption("--out <dir>", "bundle directory to write")
    .option("--allow-downgrade", "let devices install it over a newer version", false)
    .action(async (o: { model: string; key: string; out: string; allowDowngrade: boolean }) => {
      const { runBundle } = await import("./ota/cli.js");
      const b = await runBundle({ model: o.model, key: o.key, out: o.out, allowDowngrade: o.allowDowngrade });
      process.stdout.write(`bundle ${b.dir}: ${b.name} ${b.version}, signed by key ${b.keyId}\n`);
      setExit(EXIT.ok);
    });

  program
    .command("ota-publish")
    .description("offer a bundle over MQTT and serve it until the device reports (fleet: until --timeout or Ctrl-C); see docs/ota.md. Password from GAIT_MQTT_PASSWORD")
    .requiredOption("--bundle <dir>", "bundle directory (gait-edge bundle)")
    .requiredOption("--broker <url>", "broker (mqtt://host:port)")
    .addOption(new Option("--device <id>", "one device").conflicts("fleet"))
    .addOption(new Option("--fleet <id>", "every device of a fleet").conflicts("device"))
    .option("--prefix <prefix>", "topic prefix", "gait")
    .option("--username <user>", "MQTT user name", undefined)
    .addOption(new Option("--chunk-size <bytes>", "chunk size").argParser(numberAtLeast(1)))
    .addOption(new Option("--timeout <s>", "device: give up after; fleet: serve this long").argParser(numberAtLeast(0)))
    .addOption(logLevelOption())
    .action(async (o: OtaPublishOptions, cmd: Command) => {
      // Commander checks that they conflict, not that one is given. cmd.error throws a
      // CommanderError (a "commander." code), which main() maps to 64 like commander's own.
      if (!o.device === !o.fleet) cmd.error("error: ota-publish needs one of --device <id> or --fleet <id>", { exitCode: EXIT.usage, code: "commander.missingTarget" });
      const { runOtaPublish } = await import("./ota/cli.js");
      const outcomes = await runOtaPublish({
        bundle: o.bundle,
        broker: o.broker,
        prefix: o.prefix,
        device: o.device,
        fleet: o.fleet,
        chunkSize: o.chunkSize,
        username: o.username,
        password: process.env.GAIT_MQTT_PASSWORD,
        timeoutS: o.timeout,
        logger: cliLogger(o.logLevel),
        interrupted: untilSignal(),
      });
      process.stdout.write(JSON.stringify(outcomes, null, 2) + "\n");
      setExit(outcomes.every((x) => x.ok) ? EXIT.ok : EXIT.failure);
    });

  program
    .command("export")
    .description("turn a recording into OpenSim .mot angles, OpenSense .sto orientations and CSV (docs/export.md)")
    .argument("<recording...>", "a recording file, or every part of a rotated one (.jsonl[.gz])")
    .option("--out <dir>", "where to write (default: next to the recording)")
    .addOption(new Option("--formats <list>", `comma-separated: ${EXPORT_FORMATS.join(",")}`).default([...EXPORT_FORMATS], EXPORT_FORMATS.join(",")).argParser(parseFormats))
    .addOption(modelOption())
    .option("--config <file.json>", "runtime config whose `sensors` map names the recording's sensor ids")
    .action(async (files: string[], o: { out?: string; formats: ExportFormat[]; model: string; config?: string }) => {
      const sensors = o.config ? (await loadConfig(o.config)).sensors : undefined;
      const r = await exportRecording({ files, outDir: o.out, formats: o.formats, model: o.model, ...(sensors ? { sensors } : {}) });
      for (const w of r.warnings) process.stderr.write(`gait-edge export: ${w}\n`);
      for (const f of r.written) process.stdout.write(`${f}\n`);
      setExit(EXIT.ok);
    });

  return program;
}

function parseFormats(value: string): ExportFormat[] {
  const list = value.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((f) => !(EXPORT_FORMATS as readonly string[]).includes(f));
  if (bad.length || list.length === 0) throw new InvalidArgumentError(`expected some of ${EXPORT_FORMATS.join(",")}, got "${value}"`);
  return [...new Set(list)] as ExportFormat[];
}

interface OtaPublishOptions {
  bundle: string;
  broker: string;
  device?: string;
  fleet?: string;
  prefix: string;
  username?: string;
  chunkSize?: number;
  timeout?: number;
  logLevel: LogLevel;
}

async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    const text = errorText(err);
    if (text !== undefined) process.stderr.write(`gait-edge: ${text}\n`);
    return exitCodeFor(err);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  // main() catches everything; this is the last line of defence.
  (err: unknown) => {
    process.stderr.write(`gait-edge: ${errorText(err) ?? String(err)}\n`);
    process.exit(EXIT.failure);
  },
);
