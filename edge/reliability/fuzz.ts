/**
 * `reliability fuzz`: valid IMU frames with injected faults, through the same
 * parsing layers a board's bytes go through (docs/serial-protocol.md), in both
 * serial modes:
 *
 *   binary  FrameParser (sync, length, CRC-16) -> SerialProtocol (seq, clock, values)
 *   csv     CsvLineParser (fields, numbers)    -> SerialProtocol
 *
 * Two runs: the pure layers in-process (fast: the 10^6 frames), and a shorter
 * one through a real socat pty and `SerialSource` (the I/O path: chunking by
 * the tty, the port, the reconnect logic around it).
 *
 * Every frame sent is known, so every sample that comes out is checked against
 * what was sent under its sequence number:
 *
 *   intact        values, ids and the time step equal what was sent
 *   false accept  a sample that differs (a corrupted frame taken as valid)
 *   lost          sent, never delivered; each must be COUNTED by the receiver
 *                 (a reported sequence gap, or a dropped bad value)
 *   crash         a throw or an 'error' out of the parsers or the source
 *
 * CSV has no checksum: a digit turned into another digit is a valid line with
 * a wrong value, which no receiver can tell. Those are reported as
 * `csv_undetectable_value_changes`, separately from false accepts that a
 * receiver could have caught (ids, sequence, time), and are why docs/serial-
 * protocol.md recommends the binary mode outside bring-up.
 *
 * The frames, faults and the per-sample accounting are in fuzzFrames.ts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Transform } from "node:stream";
import { memoryLogger } from "../log.js";
import { CsvLineParser } from "../sources/serial/csvLine.js";
import type { ImuFrame } from "../sources/serial/frame.js";
import { FrameParser } from "../sources/serial/parser.js";
import { SerialProtocol } from "../sources/serial/protocol.js";
import { SerialSource, serialSourceSchema } from "../sources/serial/serialSource.js";
import { Accountant, FAULT_RATE, FAULTS, STEP_US, faultedStream, prng, type FuzzTally, type SerialMode } from "./fuzzFrames.js";
import { checkResult, round, sleep, type CheckResult } from "./report.js";

export { FAULTS, type Fault, type FuzzTally, type SerialMode } from "./fuzzFrames.js";

/** The pure layers in-process: parser Transform -> SerialProtocol, fed in random chunks. */
export async function fuzzLayers(mode: SerialMode, frames: number, seed = 1): Promise<FuzzTally> {
  const account = new Accountant(mode, frames);
  let hostNowUs = 0;
  const protocol = new SerialProtocol({}, { onSample: account.onSample, onIssue: account.onIssue });
  const parser: Transform = mode === "binary" ? new FrameParser({ onIssue: account.onIssue }) : new CsvLineParser({ onIssue: account.onIssue });
  parser.on("data", (frame: ImuFrame) => {
    try {
      protocol.handle(frame, hostNowUs);
    } catch {
      account.tally.crashes++;
    }
  });
  parser.on("error", () => account.tally.crashes++);
  const chunkRand = prng(seed + 1000);
  for (const { bytes, lastN } of faultedStream(mode, frames, seed, account)) {
    // The host sees a batch arrive when its last frame was sent, plus a little buffering.
    hostNowUs = lastN * STEP_US + 2000;
    try {
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(chunkRand() * 128);
        parser.write(bytes.subarray(at, at + size));
        at += size;
      }
    } catch {
      account.tally.crashes++;
    }
    // Let buffered 'data' events run before the host clock moves on.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  parser.end();
  await once(parser, "end").catch(() => account.tally.crashes++);
  return account.finish();
}

/** The I/O path: a socat pty pair, `SerialSource` on the host end, the faulted stream written to the board end. */
export async function fuzzPty(mode: SerialMode, frames: number, seed = 2): Promise<FuzzTally> {
  const account = new Accountant(mode, frames);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gait-fuzz-"));
  const host = path.join(dir, "host");
  const board = path.join(dir, "board");
  const socat = spawn("socat", [`pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${board}`], { stdio: "ignore" });
  let writer: number | undefined;
  const source = new SerialSource(serialSourceSchema.parse({ path: host, mode, reconnectMs: 100, noDataTimeoutMs: 0 }), { logger: memoryLogger("fuzz") });
  try {
    await waitForPaths([host, board], socat);
    writer = fs.openSync(board, fs.constants.O_WRONLY | fs.constants.O_NOCTTY);
    await source.start({
      onSample: account.onSample,
      onIssue: account.onIssue,
      onEnd: () => undefined,
    });
    for (const { bytes } of faultedStream(mode, frames, seed, account, 64)) {
      fs.writeSync(writer, bytes);
      // One batch (at most ~5 KB) per 5 ms, about 10x a board's rate: the reader,
      // in this same process, drains the pty between batches, so this blocking
      // write never waits on a full pty buffer (which would deadlock the loop).
      await sleep(5);
    }
    // Wait (bounded) until the source has delivered or counted everything.
    const deadline = Date.now() + 10_000;
    let last = -1;
    while (Date.now() < deadline) {
      await sleep(200);
      const seen = source.stats().samples + Object.values(source.stats().issues).reduce((a, b) => a + b, 0);
      if (seen === last) break;
      last = seen;
    }
  } finally {
    // A setup failure (no socat, no pty) propagates: the check fails with its message, not as a "crash".
    await source.stop();
    if (writer !== undefined) fs.closeSync(writer);
    if (socat.exitCode === null && socat.signalCode === null) {
      const exited = once(socat, "exit");
      socat.kill("SIGTERM");
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return account.finish();
}

async function waitForPaths(paths: readonly string[], child: ChildProcess): Promise<void> {
  for (let i = 0; i < 500 && !paths.every((p) => fs.existsSync(p)); i++) {
    if (child.exitCode !== null) throw new Error(`socat exited with ${child.exitCode} (is it installed?)`);
    await sleep(10);
  }
  if (!paths.every((p) => fs.existsSync(p))) throw new Error("socat did not create its pty links in 5 s");
}

export interface FuzzOptions {
  readonly quick?: boolean;
  /** Frames per mode through the pure layers; default 10^6 (quick: 20 000). */
  readonly frames?: number;
  /** Frames per mode through the pty; default 20 000 (quick: 2 000). */
  readonly ptyFrames?: number;
}

export async function runFuzz(opts: FuzzOptions = {}): Promise<CheckResult> {
  const t0 = performance.now();
  const frames = opts.frames ?? (opts.quick ? 20_000 : 1_000_000);
  const ptyFrames = opts.ptyFrames ?? (opts.quick ? 2_000 : 20_000);
  const runs: Record<string, FuzzTally> = {};
  const layerSeconds: Record<string, number> = {};
  for (const mode of ["binary", "csv", "csv_xor8", "csv_crc16"] as const) {
    const t = performance.now();
    runs[`${mode}_layers`] = await fuzzLayers(mode, frames);
    layerSeconds[mode] = (performance.now() - t) / 1000;
    // The pty is the I/O path, the same for every CSV flavour: the plain modes only.
    if (mode === "binary" || mode === "csv") runs[`${mode}_pty`] = await fuzzPty(mode, ptyFrames);
  }
  const all = Object.values(runs);
  const sum = (f: (t: FuzzTally) => number): number => all.reduce((n, t) => n + f(t), 0);
  const binary = [runs.binary_layers!, runs.binary_pty!];
  const figures = {
    frames_sent: sum((t) => t.sent),
    frames_faulted: sum((t) => t.faulted),
    frames_intact: sum((t) => t.intact),
    frames_lost: sum((t) => t.lost),
    frames_lost_uncounted: sum((t) => t.lostUncounted),
    frames_lost_named_only_by_a_restart: sum((t) => t.lostAtRestart),
    bad_counted: sum((t) => Object.entries(t.issues).filter(([k]) => k !== "resync").reduce((n, [, v]) => n + v, 0)),
    // A frame the CRC let through with wrong contents: the transmission check failed.
    binary_false_accepts: binary.reduce((n, t) => n + t.falseAccepts - t.falseAcceptsTime, 0),
    // A CRC-valid frame (or its neighbour) with a wrong clock that the protocol layer let through.
    binary_false_accepts_time: binary.reduce((n, t) => n + t.falseAcceptsTime, 0),
    csv_false_accepts: runs.csv_layers!.falseAccepts + runs.csv_pty!.falseAccepts,
    csv_undetectable_value_changes: runs.csv_layers!.undetectableValueChanges + runs.csv_pty!.undetectableValueChanges,
    // The same fault mix with the optional per-line checksum (docs/serial-protocol.md).
    csv_xor8_false_accepts: runs.csv_xor8_layers!.falseAccepts,
    csv_xor8_undetectable_value_changes: runs.csv_xor8_layers!.undetectableValueChanges,
    csv_crc16_false_accepts: runs.csv_crc16_layers!.falseAccepts,
    csv_crc16_undetectable_value_changes: runs.csv_crc16_layers!.undetectableValueChanges,
    crashes: sum((t) => t.crashes),
    binary_layers_frames_per_min: round((frames / layerSeconds.binary!) * 60, 0),
    csv_layers_frames_per_min: round((frames / layerSeconds.csv!) * 60, 0),
  };
  const ok =
    figures.crashes === 0 &&
    figures.frames_lost_uncounted === 0 &&
    figures.frames_lost_named_only_by_a_restart === 0 &&
    figures.binary_false_accepts === 0 &&
    figures.binary_false_accepts_time === 0 &&
    figures.csv_crc16_false_accepts + figures.csv_crc16_undetectable_value_changes === 0 &&
    frames > 0;
  return checkResult("fuzz", t0, opts, {
    ok,
    figures,
    targets: {
      frames_sent: `>= 10^6 per mode through the layers (this run: ${frames}; pty: ${ptyFrames})`,
      frames_lost_uncounted: "0 (every lost frame reported as a gap or a dropped value)",
      frames_lost_named_only_by_a_restart: "0 (a loss before an apparent restart is a gap too; the fuzz has no real restarts)",
      binary_false_accepts: "0",
      binary_false_accepts_time: "0 (a lone CRC-valid wrong clock is an outlier, dropped; a restart needs the next frame to confirm it)",
      csv_false_accepts: "reported (plain CSV: ids/sequence/time wrong yet accepted)",
      csv_undetectable_value_changes: "reported (plain CSV has no checksum)",
      csv_xor8_false_accepts: "reported (*hh: two changes can cancel in an XOR)",
      csv_crc16_false_accepts: "0",
      csv_crc16_undetectable_value_changes: "0",
      crashes: "0",
    },
    notes: [
      `fault rate ${FAULT_RATE} per frame, faults: ${FAULTS.slice(1).join(", ")} (csv: no bad_crc); seeded, the same on every run`,
      "csv_xor8 / csv_crc16: the CSV lines with the optional *hh / *hhhh checksum, through the pure layers only (the pty path is the plain modes')",
      "corrupt_t_us in binary is a CRC-valid frame with a wrong clock (a firmware glitch); the protocol layer must drop it",
    ],
    detail: runs,
  });
}
