#!/usr/bin/env node
/**
 * gait-edge: run | replay | demo | calibrate | bench | keygen | bundle | ota-publish.
 * Human output on stdout, structured logs on stderr.
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { createLogger, type LogLevel } from "./log.js";
import { ConfigError, DEFAULT_MODEL, loadConfig, parseConfig } from "./runtime/config.js";
import { EdgeRuntime } from "./runtime/runtime.js";

const USAGE = `usage: gait-edge <command> [options]

commands:
  run --config <file.json>          run the device: sources -> angles on MQTT until stopped
  replay <file> [--speed 1] [--model m] [--broker url] [--device-id id] [--record dir]
                                    replay a recording (Camargo CSV, Xsens .txt, own .jsonl)
  demo [--trial f] [--speed 1]      replay a real AB06 trial with the shipped model, print
                                    the angles live and the RMSE against mocap
  calibrate --broker url [--device-id id] [--prefix gait] [--duration 2] [--username u]
                                    ask a running device for a static calibration
  bench [--json out] [--quick]      measure latency, memory and capacity (real mosquitto)
  keygen --out <dir>                make an ed25519 signing key pair for OTA updates
                                    (private.pem, mode 0600, and public.pem for device configs)
  bundle --model <folder> --key <private.pem> --out <dir> [--allow-downgrade]
                                    sign a model folder into an OTA bundle
  ota-publish --bundle <dir> --broker url (--device <id> | --fleet <id>) [--prefix gait] [--username ops]
                                    (password from GAIT_MQTT_PASSWORD)
              [--chunk-size 65536] [--timeout s]
                                    offer a bundle over MQTT and serve it until the device
                                    reports (fleet: until --timeout or Ctrl-C); see docs/ota.md

common: --model <manifest.json> (default ${DEFAULT_MODEL}), --log-level debug|info|warn|error`;

const DEMO_TRIAL = "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      model: { type: "string", default: DEFAULT_MODEL },
      speed: { type: "string", default: "1" },
      broker: { type: "string" },
      "device-id": { type: "string", default: "gait-edge" },
      username: { type: "string" },
      prefix: { type: "string", default: "gait" },
      record: { type: "string" },
      trial: { type: "string", default: DEMO_TRIAL },
      duration: { type: "string", default: "2" },
      json: { type: "string" },
      quick: { type: "boolean", default: false },
      // OTA (edge/ota/cli.ts)
      out: { type: "string" },
      key: { type: "string" },
      bundle: { type: "string" },
      device: { type: "string" },
      fleet: { type: "string" },
      "chunk-size": { type: "string" },
      timeout: { type: "string" },
      "allow-downgrade": { type: "boolean", default: false },
      "log-level": { type: "string", default: "info" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (!command || values.help || command === "help") {
    process.stdout.write(USAGE + "\n");
    return command ? 0 : 2;
  }
  const level = values["log-level"] as LogLevel;
  const logger = createLogger("gait-edge", { level, format: process.stderr.isTTY ? "pretty" : "json" });
  const speed = Number(values.speed);
  if (!(speed >= 0)) throw new ConfigError(`--speed must be a number >= 0 (0 = as fast as possible), got ${values.speed}`);

  switch (command) {
    case "run": {
      if (!values.config) throw new ConfigError("run needs --config <file.json> (see deploy/config/gait-edge.json)");
      const config = await loadConfig(values.config);
      const runtime = new EdgeRuntime(config, { logger: createLogger("gait-edge", { level: config.log.level, format: config.log.format }) });
      await runtime.start();
      await untilSignal();
      await runtime.stop();
      return 0;
    }
    case "replay": {
      const file = positionals[0];
      if (!file) throw new ConfigError("replay needs a file: gait-edge replay <trial_imu.csv.gz | .txt | .jsonl>");
      const config = parseConfig({
        model: values.model,
        sources: [{ kind: "replay", file, speed }],
        mqtt: { url: values.broker, deviceId: values["device-id"], prefix: values.prefix, embedded: { host: "127.0.0.1", port: 0 } },
        recorder: values.record ? { dir: values.record, deviceId: values["device-id"] } : undefined,
      }, "command line");
      let finish!: () => void;
      const ended = new Promise<void>((r) => (finish = r));
      const runtime = new EdgeRuntime(config, { logger, onEnd: () => finish() });
      await runtime.start();
      await Promise.race([ended, untilSignal()]);
      const stats = runtime.stats();
      await runtime.stop();
      process.stdout.write(JSON.stringify(stats, null, 2) + "\n");
      return 0;
    }
    case "demo": {
      const { runDemo } = await import("./runtime/demo.js");
      await runDemo({ trial: path.resolve(values.trial), model: values.model, speed, logger });
      return 0;
    }
    case "calibrate": {
      if (!values.broker) throw new ConfigError("calibrate needs --broker mqtt://host:port of the running device");
      const { sendCommand, RemoteCommandError } = await import("./runtime/remote.js");
      let reply;
      try {
        reply = await sendCommand(values.broker, values.prefix, values["device-id"], {
          command: "calibrate",
          args: { durationS: Number(values.duration) },
        }, (Number(values.duration) + 10) * 1000, { username: values.username, password: process.env.GAIT_MQTT_PASSWORD });
      } catch (err) {
        // No reply, or a malformed one: say what came back, not a stack trace.
        if (!(err instanceof RemoteCommandError)) throw err;
        process.stderr.write(`gait-edge calibrate: ${err.message}\n`);
        return 1;
      }
      process.stdout.write(JSON.stringify(reply, null, 2) + "\n");
      return reply.status === "ok" ? 0 : 1;
    }
    case "bench": {
      const { runBench } = await import("./bench/bench.js");
      await runBench({ model: values.model, json: values.json, quick: values.quick, logger });
      return 0;
    }
    // ---- OTA model updates (edge/ota, docs/ota.md)
    case "keygen": {
      if (!values.out) throw new ConfigError("keygen needs --out <dir>");
      const { runKeygen } = await import("./ota/cli.js");
      const r = await runKeygen(values.out);
      process.stdout.write(`private key ${r.privateKey} (keep it secret), public key ${r.publicKey} (key id ${r.keyId})\n`);
      return 0;
    }
    case "bundle": {
      if (!values.key || !values.out) throw new ConfigError("bundle needs --model <folder> --key <private.pem> --out <dir>");
      const { runBundle } = await import("./ota/cli.js");
      const b = await runBundle({ model: values.model, key: values.key, out: values.out, allowDowngrade: values["allow-downgrade"] });
      process.stdout.write(`bundle ${b.dir}: ${b.name} ${b.version}, signed by key ${b.keyId}\n`);
      return 0;
    }
    case "ota-publish": {
      if (!values.bundle || !values.broker) throw new ConfigError("ota-publish needs --bundle <dir> --broker url and --device <id> or --fleet <id>");
      const { runOtaPublish } = await import("./ota/cli.js");
      const outcomes = await runOtaPublish({
        bundle: values.bundle,
        broker: values.broker,
        prefix: values.prefix,
        device: values.device,
        fleet: values.fleet,
        chunkSize: values["chunk-size"] ? Number(values["chunk-size"]) : undefined,
        username: values.username,
        password: process.env.GAIT_MQTT_PASSWORD,
        timeoutS: values.timeout ? Number(values.timeout) : undefined,
        logger,
        interrupted: untilSignal(),
      });
      process.stdout.write(JSON.stringify(outcomes, null, 2) + "\n");
      return outcomes.every((o) => o.ok) ? 0 : 1;
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as Error;
    // Configuration and contract problems are the user's to fix: message only, no stack.
    const known = e.name === "ConfigError" || e.name === "ContractError";
    process.stderr.write(`gait-edge: ${known ? e.message : (e.stack ?? String(e))}\n`);
    // 78 (EX_CONFIG): systemd's RestartPreventExitStatus stops a restart loop on a bad config.
    process.exit(known ? 78 : 1);
  },
);
