/**
 * SerialSource over a real pseudo-terminal pair made by socat: the source
 * opens end `a` like a board's tty, the test writes bytes into end `b` like
 * the board would. Killing socat is the closest thing to pulling the USB cable.
 * socat is required (CI installs it): without it this file fails, it does not skip.
 */

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../../../edge/log.js";
import { encodeFrame } from "../../../edge/sources/serial/frame.js";
import { SerialSource, serialSourceSchema, type SerialSourceConfig } from "../../../edge/sources/serial/serialSource.js";
import type { ImuSample, SourceIssue } from "../../../edge/sources/types.js";
import { frameAt } from "./helpers.js";

let dir: string;
let boardEnd: string;
let hostEnd: string;
let socat: ChildProcess | undefined;
let source: SerialSource | undefined;
let writer: number | undefined;

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function startSocat(): Promise<void> {
  const child = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${hostEnd}`, `pty,raw,echo=0,link=${boardEnd}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  socat = child;
  await waitFor(() => fs.existsSync(hostEnd) && fs.existsSync(boardEnd), `socat links (socat said: ${log})`);
}

async function stopSocat(): Promise<void> {
  const child = socat;
  socat = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

/** Opens the board end for writing, as the board's firmware would. */
function openBoard(): number {
  return fs.openSync(boardEnd, fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
}

function closeBoard(): void {
  if (writer !== undefined) fs.closeSync(writer);
  writer = undefined;
}

function collect(): { samples: ImuSample[]; issues: SourceIssue[]; handlers: { onSample(s: ImuSample): void; onIssue(i: SourceIssue): void } } {
  const samples: ImuSample[] = [];
  const issues: SourceIssue[] = [];
  return { samples, issues, handlers: { onSample: (s) => samples.push(s), onIssue: (i) => issues.push(i) } };
}

function config(overrides: Partial<SerialSourceConfig> = {}): SerialSourceConfig {
  return serialSourceSchema.parse({ path: hostEnd, reconnectMs: 100, ...overrides });
}

describe("serialSourceSchema", () => {
  it("fills in defaults and rejects a bad sensor name key", () => {
    expect(serialSourceSchema.parse({ path: "/dev/ttyACM0" })).toMatchObject({
      path: "/dev/ttyACM0",
      baudRate: 115200,
      mode: "binary",
      reconnectMs: 1000,
      limits: { gyroRadS: 35 },
    });
    expect(() => serialSourceSchema.parse({ path: "/dev/ttyACM0", sensorNames: { femur: "x" } })).toThrow(/sensor id/);
  });
});

describe("SerialSource over a socat pty pair", () => {
  beforeAll(() => {
    const probe = spawnSync("socat", ["-V"], { encoding: "utf8" });
    if (probe.error || probe.status !== 0) {
      throw new Error(
        "socat is not on PATH (apt-get install socat): the serial integration test needs it to make a real " +
          `pseudo-terminal pair. (${probe.error?.message ?? `exit ${probe.status}`})`,
      );
    }
  });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gait-serial-"));
    hostEnd = path.join(dir, "host");
    boardEnd = path.join(dir, "board");
    await startSocat();
  });

  afterEach(async () => {
    await source?.stop();
    source = undefined;
    closeBoard();
    await stopSocat();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("delivers binary frames written on the other end, garbage and all", async () => {
    const got = collect();
    source = new SerialSource(config({ sensorNames: { "3": "femur_r" } }), { logger: memoryLogger() });
    await source.start(got.handlers);
    writer = openBoard();
    const bytes = Buffer.concat([
      Buffer.from([0x13, 0x37, 0xa5]), // a partial frame, as when a port opens mid-stream
      ...Array.from({ length: 20 }, (_, n) => encodeFrame(frameAt(n))),
    ]);
    fs.writeSync(writer, bytes);
    await waitFor(() => got.samples.length === 20, "20 samples");
    expect(got.samples.map((s) => s.seq)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(got.samples[0]).toMatchObject({ sensorId: "femur_r", tUs: 1_000_000 });
    expect(got.issues.map((i) => i.kind)).toEqual(["resync"]);
    expect(source.stats()).toEqual({ samples: 20, issues: { resync: 1 } });
  });

  it("keeps reading when the onSample handler throws, and reports it", async () => {
    const got = collect();
    const log = memoryLogger();
    source = new SerialSource(config(), { logger: log });
    await source.start({
      onSample: (s) => {
        if (s.seq === 1) throw new Error("consumer bug");
        got.handlers.onSample(s);
      },
      onIssue: got.handlers.onIssue,
    });
    writer = openBoard();
    fs.writeSync(writer, Buffer.concat([0, 1, 2, 3].map((n) => encodeFrame(frameAt(n)))));
    await waitFor(() => got.samples.length === 3, "the samples around the throw");
    expect(got.samples.map((s) => s.seq)).toEqual([0, 2, 3]);
    expect(got.issues).toEqual([expect.objectContaining({ kind: "consumer_error", message: expect.stringMatching(/onSample threw for serial:3 .*: consumer bug/) })]);
    expect(source.stats().issues).toEqual({ consumer_error: 1 });
    expect(log.lines.some((l) => l.includes("consumer bug"))).toBe(true);
  });

  it("splices a board restart on the host clock: the real silence becomes a gap in tUs", async () => {
    const got = collect();
    source = new SerialSource(config(), { logger: memoryLogger() });
    await source.start(got.handlers);
    writer = openBoard();
    fs.writeSync(writer, Buffer.concat([500, 501, 502].map((n) => encodeFrame(frameAt(n, { tUs: 9_000_000 + (n - 500) * 10_000 })))));
    await waitFor(() => got.samples.length === 3, "3 samples before the reboot");
    const rebootStart = performance.now();
    await new Promise((r) => setTimeout(r, 150)); // the board reboots
    const silenceUs = (performance.now() - rebootStart) * 1000;
    fs.writeSync(writer, Buffer.concat([0, 1, 2].map((n) => encodeFrame(frameAt(n, { tUs: 1_000 + n * 10_000 })))));
    // Seq 0 comes as a suspect clock (dropped): seq 1 confirms the restart (protocol.ts).
    await waitFor(() => got.samples.length === 5, "samples after the reboot");
    const t = got.samples.map((s) => s.tUs);
    expect(got.samples.map((s) => s.seq)).toEqual([500, 501, 502, 1, 2]);
    // Before issue #10 this step was one sample period (10 ms), whatever the silence.
    expect((t[3] ?? 0) - (t[2] ?? 0)).toBeGreaterThanOrEqual(silenceUs);
    expect(t[4]! - t[3]!).toBe(10_000);
    expect(got.issues.map((i) => i.kind)).toEqual(["bad_value", "clock_restart"]);
  });

  describe("no valid data for noDataTimeoutMs", () => {
    /** Writes `bytes` every 20 ms until `until()` holds: the board keeps talking. */
    async function keepWriting(bytes: () => Buffer | string, until: () => boolean): Promise<void> {
      while (!until()) {
        const chunk = bytes();
        if (typeof chunk === "string") fs.writeSync(writer!, chunk);
        else fs.writeSync(writer!, chunk);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const noData = (got: ReturnType<typeof collect>) => got.issues.find((i) => i.kind === "no_valid_data");

    it("reports a board sending nothing, and valid data when frames come", async () => {
      const got = collect();
      source = new SerialSource(config({ noDataTimeoutMs: 100 }), { logger: memoryLogger() });
      await source.start(got.handlers);
      writer = openBoard();
      await waitFor(() => noData(got) !== undefined, "no_valid_data");
      expect(noData(got)?.message).toMatch(new RegExp(`^serial ${hostEnd}: no bytes for \\d`));
      fs.writeSync(writer, encodeFrame(frameAt(0)));
      await waitFor(() => got.issues.some((i) => i.kind === "valid_data"), "valid_data");
      expect(got.issues.map((i) => i.kind)).toEqual(["no_valid_data", "valid_data"]);
      expect(got.samples).toHaveLength(1);
    });

    it("reports bytes that never form a frame (a board in CSV mode read as binary)", async () => {
      const got = collect();
      source = new SerialSource(config({ noDataTimeoutMs: 150 }), { logger: memoryLogger() });
      await source.start(got.handlers);
      writer = openBoard();
      await keepWriting(() => "3,0,1000,0,0,9.8,0,0,0\n", () => noData(got) !== undefined);
      expect(noData(got)?.message).toMatch(/bytes but no valid frame for .* \(wrong mode\? \d+ bytes, 0 frames\)/);
    });

    it("reports frames that all fail the checksum", async () => {
      const got = collect();
      source = new SerialSource(config({ noDataTimeoutMs: 150 }), { logger: memoryLogger() });
      await source.start(got.handlers);
      writer = openBoard();
      let n = 0;
      const corrupt = (): Buffer => {
        const frame = encodeFrame(frameAt(n++));
        frame[frame.length - 1] = (frame[frame.length - 1] ?? 0) ^ 0xff;
        return frame;
      };
      await keepWriting(corrupt, () => noData(got) !== undefined);
      expect(noData(got)?.message).toMatch(/all \d+ frames failed the checksum/);
      expect(source.stats().issues.bad_checksum).toBeGreaterThan(0);
    });
  });

  it("delivers CSV lines in csv mode and reports bad ones", async () => {
    const got = collect();
    source = new SerialSource(config({ mode: "csv" }), { logger: memoryLogger() });
    await source.start(got.handlers);
    writer = openBoard();
    fs.writeSync(writer, "sensorId,seq,t_us,ax,ay,az,gx,gy,gz\n3,0,1000,0,0,9.8,0,0,0\n3,1,11000,0,0,9.8,oops,0,0\n");
    fs.writeSync(writer, "3,2,21000,0,0,9.8,0,0,0,20,0,-40\n");
    await waitFor(() => got.samples.length === 2, "2 csv samples");
    expect(got.samples.map((s) => [s.sensorId, s.seq, s.tUs])).toEqual([
      ["serial:3", 0, 1000],
      ["serial:3", 2, 21000],
    ]);
    expect(got.samples[1]?.mag).toEqual([20, 0, -40]);
    await waitFor(() => got.issues.length >= 2, "the bad line and the gap it leaves");
    expect(got.issues.map((i) => i.message)).toEqual([
      expect.stringMatching(/csv line 3: gx "oops" is not a number/),
      expect.stringMatching(/sequence gap, 1 frame\(s\) missing/),
    ]);
  });

  it("reports a board that is absent at start and opens it once it appears", async () => {
    await stopSocat();
    await waitFor(() => !fs.existsSync(hostEnd), "socat to remove its links");
    const got = collect();
    source = new SerialSource(config(), { logger: memoryLogger() });
    await source.start(got.handlers);
    expect(got.issues[0]).toMatchObject({ kind: "disconnected", message: expect.stringMatching(/cannot be opened/) });
    await startSocat();
    await waitFor(() => got.issues.some((i) => i.kind === "reconnected"), "reconnected");
    writer = openBoard();
    fs.writeSync(writer, encodeFrame(frameAt(0)));
    await waitFor(() => got.samples.length === 1, "a sample after the late open");
  });

  it("reports an unplugged board as disconnected and reconnects when it is back", async () => {
    const got = collect();
    source = new SerialSource(config(), { logger: memoryLogger() });
    await source.start(got.handlers);
    writer = openBoard();
    fs.writeSync(writer, Buffer.concat([0, 1, 2].map((n) => encodeFrame(frameAt(n)))));
    await waitFor(() => got.samples.length === 3, "3 samples before the unplug");

    closeBoard();
    await stopSocat(); // the cable is pulled
    await waitFor(() => got.issues.some((i) => i.kind === "disconnected"), "disconnected");
    await waitFor(() => got.issues.some((i) => i.kind === "reconnecting"), "reconnecting");
    await new Promise((r) => setTimeout(r, 350)); // a few failed attempts while the board is away

    await startSocat(); // ... and plugged back in
    await waitFor(() => got.issues.some((i) => i.kind === "reconnected"), "reconnected");
    writer = openBoard();
    fs.writeSync(writer, Buffer.concat([3, 4].map((n) => encodeFrame(frameAt(n)))));
    await waitFor(() => got.samples.length === 5, "samples after reconnecting");

    expect(got.samples.map((s) => s.seq)).toEqual([0, 1, 2, 3, 4]);
    const tUs = got.samples.map((s) => s.tUs);
    expect(tUs).toEqual([...tUs].sort((a, b) => a - b));
    // One of each per outage, however many reopen attempts failed in between.
    expect(got.issues.map((i) => i.kind)).toEqual(["disconnected", "reconnecting", "reconnected"]);
    expect(source.stats().issues).toEqual({ disconnected: 1, reconnecting: 1, reconnected: 1 });
  });

  it("notices a hang-up before the first byte, and stops retrying after stop()", async () => {
    const got = collect();
    source = new SerialSource(config(), { logger: memoryLogger() });
    await source.start(got.handlers);
    // Hanging up right after the open makes reads return 0 bytes (EOF) rather
    // than wake the poller: without eofGuard.ts serialport spins on them forever.
    await stopSocat();
    await waitFor(() => got.issues.some((i) => i.kind === "disconnected"), "disconnected");
    await source.stop();
    const seen = got.issues.length;
    await startSocat();
    await new Promise((r) => setTimeout(r, 300));
    expect(got.issues.length).toBe(seen);
  });
});
