/**
 * The two ends of a device under test as a separate process (`reliability
 * ota-crash`): `DeviceProcess` runs `gait-edge run --config` as a child
 * (killable with -9, as a power cut or a crash would), and `DeviceWatcher`
 * is a subscriber that records what the device says on MQTT, with arrival
 * times: angles, the `model` it runs, its OTA states and its last will.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connectAsync, type MqttClient } from "mqtt";
import type { AnglesMessage } from "../mqtt/topics.js";
import type { OtaStateMessage } from "../ota/messages.js";

/** The CLI next to this module: edge/cli.ts from a checkout (run through tsx), dist/edge/cli.js when built. */
const SHIPPED_CLI = fileURLToPath(new URL(`../cli${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** The device's MQTT surface as the check watches it: angles and OTA states, with arrival times. */
export class DeviceWatcher {
  readonly angles: { atMs: number; version: string; nulls: boolean }[] = [];
  /** The `model` topic as each process publishes it: its first one names the model it booted. */
  readonly models: { atMs: number; version: string }[] = [];
  /** Arrival times of the device's last will ("offline", "connection lost"): the broker saw a process die. */
  readonly wills: number[] = [];
  readonly states: { atMs: number; state: OtaStateMessage }[] = [];
  private constructor(private readonly client: MqttClient) {}

  static async start(url: string, deviceId: string): Promise<DeviceWatcher> {
    const client = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 200, clientId: `${deviceId}-watch` });
    const w = new DeviceWatcher(client);
    client.on("message", (topic, payload, packet) => {
      if (payload.length === 0) return;
      const now = Date.now();
      if (topic.endsWith("/status")) {
        const status = JSON.parse(payload.toString()) as { state?: string; reason?: string };
        if (!packet.retain && status.state === "offline" && status.reason === "connection lost") w.wills.push(now);
      } else if (topic.endsWith("/model")) {
        if (!packet.retain) w.models.push({ atMs: now, version: (JSON.parse(payload.toString()) as { version: string }).version });
      } else if (topic.endsWith("/angles")) {
        const m = JSON.parse(payload.toString()) as AnglesMessage;
        w.angles.push({ atMs: now, version: m.model.version, nulls: m.angles.some((row) => row.some((a) => a === null)) });
      } else if (!packet.retain) {
        // Retained states are an earlier process's words; only live ones count.
        w.states.push({ atMs: now, state: JSON.parse(payload.toString()) as OtaStateMessage });
      }
    });
    await client.subscribeAsync([`gait/${deviceId}/angles`, `gait/${deviceId}/model`, `gait/${deviceId}/status`, `gait/${deviceId}/ota/state`], { qos: 1 });
    return w;
  }

  stop(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** `gait-edge run --config` as a child process, its output in a log file. */
export class DeviceProcess {
  private child: ChildProcess | undefined;
  startedAtMs = 0;
  constructor(
    private readonly configFile: string,
    private readonly logFile: string,
  ) {}

  start(): void {
    const ts = SHIPPED_CLI.endsWith(".ts");
    const args = [...(ts ? ["--import", "tsx"] : []), SHIPPED_CLI, "run", "--config", this.configFile];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    const log = createWriteStream(this.logFile, { flags: "a" });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.child = child;
    this.startedAtMs = Date.now();
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** kill -9, and wait until it is gone (nothing it held survives but the disk). */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
