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
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Transform } from "node:stream";
import { memoryLogger } from "../log.js";
import { CsvLineParser } from "../sources/serial/csvLine.js";
import { U32_RANGE, encodeFrame, crc16CcittFalse, type ImuFrame } from "../sources/serial/frame.js";
import { FrameParser } from "../sources/serial/parser.js";
import { SerialProtocol } from "../sources/serial/protocol.js";
import { SerialSource, serialSourceSchema } from "../sources/serial/serialSource.js";
import type { ImuSample, SourceIssue } from "../sources/types.js";
import { round, sleep, type CheckResult } from "./report.js";

export type SerialMode = "binary" | "csv";
export const FAULTS = ["none", "bit_flip", "truncate", "garbage", "dup_byte", "missing_byte", "bad_crc", "corrupt_t_us"] as const;
export type Fault = (typeof FAULTS)[number];
/** CSV lines carry no CRC, so that fault does not exist there. */
const CSV_FAULTS: readonly Fault[] = FAULTS.filter((f) => f !== "bad_crc");

const SENSOR_ID = 3;
const STEP_US = 10_000; // 100 Hz
const T0_US = 1_000_000;
/**
 * A delivered sample's time step may differ from the true one by this much
 * before it counts as a false accept: a spliced board restart takes the host's
 * arrival gap, which is only as precise as the chunk the bytes came in.
 */
const STEP_TOLERANCE_US = 50_000;
/** The share of frames with a fault (the rest are clean, so the receiver has something to resync on). */
const FAULT_RATE = 0.25;

/** Deterministic PRNG (mulberry32): the same faults on every run of a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sent {
  readonly frame: ImuFrame;
  readonly fault: Fault;
  /** Frame index: its true unwrapped time is T0_US + n * STEP_US. */
  readonly n: number;
}

/** One frame's bytes (binary or a CSV line), with `fault` applied. */
function faulted(mode: SerialMode, frame: ImuFrame, fault: Fault, rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  if (fault === "corrupt_t_us") {
    // A wrong clock in an otherwise well-formed frame (binary: the CRC matches,
    // as when firmware sends a bad reading; CSV: a garbled but numeric field).
    const wrong = { ...frame, tUs: int(U32_RANGE) };
    return mode === "binary" ? encodeFrame(wrong) : Buffer.from(csvLine(wrong));
  }
  const bytes = mode === "binary" ? encodeFrame(frame) : Buffer.from(csvLine(frame));
  switch (fault) {
    case "none":
      return bytes;
    case "bit_flip": {
      const flips = 1 + int(3);
      for (let i = 0; i < flips; i++) {
        const at = int(bytes.length);
        bytes[at] = (bytes[at] as number) ^ (1 << int(8));
      }
      return bytes;
    }
    case "truncate":
      return bytes.subarray(0, int(bytes.length));
    case "garbage": {
      const junk = Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)));
      return Buffer.concat([junk, bytes]);
    }
    case "dup_byte": {
      const at = int(bytes.length);
      return Buffer.concat([bytes.subarray(0, at + 1), bytes.subarray(at)]);
    }
    case "missing_byte": {
      const at = int(bytes.length);
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    }
    case "bad_crc": {
      // Any non-zero change of the CRC field, the body untouched.
      const end = bytes.length;
      const crc = crc16CcittFalse(bytes, 2, end - 2) ^ (1 + int(0xfffe));
      bytes.writeUInt16LE(crc, end - 2);
      return bytes;
    }
  }
}

function csvLine(f: ImuFrame): string {
  const v = [...f.acc, ...f.gyro].map((x) => x.toFixed(4));
  return `${f.sensorId},${f.seq},${f.tUs},${v.join(",")}\n`;
}

/** A plausible reading, exactly representable in both modes (float32, 4 decimals). */
function frameAt(n: number, rand: () => number): ImuFrame {
  const value = (scale: number): number => Number(((rand() * 2 - 1) * scale).toFixed(4));
  return {
    sensorId: SENSOR_ID,
    seq: n % 65536,
    tUs: (T0_US + n * STEP_US) % U32_RANGE,
    acc: [value(20), value(20), value(20)],
    gyro: [value(10), value(10), value(10)],
  };
}

export interface FuzzTally {
  sent: number;
  faulted: number;
  intact: number;
  falseAccepts: number;
  /** Of the false accepts: wrong time step (the only thing a binary frame's CRC cannot vouch for). */
  falseAcceptsTime: number;
  /** CSV only: accepted lines whose only difference is a sensor value (no checksum can tell). */
  undetectableValueChanges: number;
  lost: number;
  /** Lost frames the receiver never reported: no sequence gap over them, no drop of them. */
  lostUncounted: number;
  /** Lost frames named only by a `clock_restart` report's "seq A -> B" (see `coveredByRestart`). */
  lostAtRestart: number;
  crashes: number;
  /** Issues by kind, as the receiver reported them. */
  issues: Record<string, number>;
  byFault: Record<string, { sent: number; intact: number; falseAccepts: number }>;
}

/** A reported gap wider than this is itself a corrupted sequence number (CSV), not that many losses. */
const MAX_GAP_COVERED = 2000;

/**
 * Checks each delivered sample against what was sent, and marks what the
 * receiver reported. Shared by the in-process and the pty runs.
 */
class Accountant {
  readonly tally: FuzzTally;
  /** seq -> the latest frame sent with it (seq wraps at 65536; reports come within a few frames). */
  private readonly sent = new Map<number, Sent>();
  private readonly delivered: Uint8Array;
  /** Frames a report named: inside a sequence gap, or dropped by seq. */
  private readonly covered: Uint8Array;
  /** The last delivered sample whose frame is known, for the time-step check. */
  private lastDelivered: { readonly n: number; readonly tUs: number } | undefined;
  /**
   * Frames between the two seqs a `clock_restart` names: the protocol splices a
   * restart without a gap report (a restarted board restarts its seq too), so
   * a loss just before an apparent restart is named only there.
   */
  private readonly coveredByRestart: Uint8Array;

  constructor(
    private readonly mode: SerialMode,
    frames: number,
  ) {
    this.delivered = new Uint8Array(frames);
    this.covered = new Uint8Array(frames);
    this.coveredByRestart = new Uint8Array(frames);
    this.tally = {
      sent: 0,
      faulted: 0,
      intact: 0,
      falseAccepts: 0,
      falseAcceptsTime: 0,
      undetectableValueChanges: 0,
      lost: 0,
      lostUncounted: 0,
      lostAtRestart: 0,
      crashes: 0,
      issues: {},
      byFault: {},
    };
    for (const f of mode === "binary" ? FAULTS : CSV_FAULTS) this.tally.byFault[f] = { sent: 0, intact: 0, falseAccepts: 0 };
  }

  recordSent(s: Sent): void {
    this.sent.set(s.frame.seq, s);
    this.tally.sent++;
    if (s.fault !== "none") this.tally.faulted++;
    this.tally.byFault[s.fault]!.sent++;
  }

  private cover(seq: number, marks = this.covered): void {
    const s = this.sent.get(seq % 65536);
    if (s) marks[s.n] = 1;
  }

  onIssue = (issue: SourceIssue): void => {
    this.tally.issues[issue.kind] = (this.tally.issues[issue.kind] ?? 0) + 1;
    const gap = /sequence gap, (\d+) frame\(s\) missing \(seq (\d+) ->/.exec(issue.message);
    const dropped = /seq (\d+)[: ].*dropped/.exec(issue.message) ?? /duplicate seq (\d+)/.exec(issue.message);
    if (gap) {
      const missing = Math.min(Number(gap[1]), MAX_GAP_COVERED);
      for (let k = 1; k <= missing; k++) this.cover(Number(gap[2]) + k);
    } else if (dropped) {
      this.cover(Number(dropped[1]));
    } else if (issue.kind === "clock_restart") {
      const seqs = /\(seq (\d+) -> (\d+)/.exec(issue.message);
      const missing = seqs ? (Number(seqs[2]) - Number(seqs[1]) - 1 + 65536) % 65536 : 0;
      for (let k = 1; k <= Math.min(missing, MAX_GAP_COVERED); k++) this.cover(Number(seqs![1]) + k, this.coveredByRestart);
    }
  };

  onSample = (sample: ImuSample): void => {
    const s = this.sent.get(sample.seq ?? -1);
    if (s) this.delivered[s.n] = 1;
    const byFault = s ? this.tally.byFault[s.fault]! : undefined;
    const sameId = sample.sensorId === `serial:${SENSOR_ID}`;
    const sameValues = s !== undefined && sameVec(sample.acc, s.frame.acc) && sameVec(sample.gyro, s.frame.gyro) && sample.mag === undefined;
    // The step from the previous delivered sample must match the true step: the
    // absolute time may carry a splice's host-clock offset, and the resampler
    // works on steps. One clock taken wrongly makes two wrong steps (in and out).
    const last = this.lastDelivered;
    const stepOk = s !== undefined && (last === undefined || Math.abs(sample.tUs - last.tUs - (s.n - last.n) * STEP_US) <= STEP_TOLERANCE_US);
    if (s) this.lastDelivered = { n: s.n, tUs: sample.tUs };
    if (s && sameId && sameValues && stepOk) {
      this.tally.intact++;
      byFault!.intact++;
    } else if (this.mode === "csv" && s && sameId && stepOk) {
      // Right frame, right time, a value changed in transit: invisible without a checksum.
      this.tally.undetectableValueChanges++;
    } else {
      this.tally.falseAccepts++;
      if (s && sameId && sameValues) this.tally.falseAcceptsTime++;
      if (byFault) byFault.falseAccepts++;
    }
  };

  finish(): FuzzTally {
    const delivered = this.tally.intact + this.tally.falseAccepts + this.tally.undetectableValueChanges;
    this.tally.lost = this.tally.sent - delivered;
    let uncounted = 0;
    for (let n = 0; n < this.tally.sent; n++) if (!this.delivered[n] && !this.covered[n]) {
        if (this.coveredByRestart[n]) this.tally.lostAtRestart++;
        else uncounted++;
      }
    this.tally.lostUncounted = uncounted;
    return this.tally;
  }
}

/** Equal at float32 precision: binary carries float32, CSV 4 decimals read back as doubles. */
function sameVec(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => Math.fround(x) === Math.fround(b[i] as number));
}

/**
 * The faulted byte stream of `frames` frames, in batches (bounded memory), with
 * the true time of the last frame in each batch. The last 3 frames are clean:
 * a loss at the very end of a stream has no later frame to reveal its gap.
 */
function* faultedStream(mode: SerialMode, frames: number, seed: number, account: Accountant, batch = 512): Generator<{ bytes: Buffer; lastN: number }> {
  const rand = prng(seed);
  const faults = mode === "binary" ? FAULTS.slice(1) : CSV_FAULTS.slice(1);
  for (let start = 0; start < frames; start += batch) {
    const parts: Buffer[] = [];
    const end = Math.min(frames, start + batch);
    for (let n = start; n < end; n++) {
      const frame = frameAt(n, rand);
      const fault: Fault = n >= frames - 3 || rand() >= FAULT_RATE ? "none" : (faults[Math.floor(rand() * faults.length)] as Fault);
      account.recordSent({ frame, fault, n });
      parts.push(faulted(mode, frame, fault, rand));
    }
    yield { bytes: Buffer.concat(parts), lastN: end - 1 };
  }
}

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
      // About 10x a board's rate: fast, but the pty (4 KiB buffer) never overflows.
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
  } catch {
    account.tally.crashes++;
  } finally {
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
  for (const mode of ["binary", "csv"] as const) {
    const t = performance.now();
    runs[`${mode}_layers`] = await fuzzLayers(mode, frames);
    layerSeconds[mode] = (performance.now() - t) / 1000;
    runs[`${mode}_pty`] = await fuzzPty(mode, ptyFrames);
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
    crashes: sum((t) => t.crashes),
    binary_layers_frames_per_min: round((frames / layerSeconds.binary!) * 60, 0),
    csv_layers_frames_per_min: round((frames / layerSeconds.csv!) * 60, 0),
  };
  const ok = figures.crashes === 0 && figures.frames_lost_uncounted === 0 && figures.binary_false_accepts === 0 && frames > 0;
  return {
    check: "fuzz",
    ok,
    quick: opts.quick ?? false,
    seconds: round((performance.now() - t0) / 1000, 1),
    figures,
    targets: {
      frames_sent: `>= 10^6 per mode through the layers (this run: ${frames}; pty: ${ptyFrames})`,
      frames_lost_uncounted: "0 (every lost frame reported as a gap or a dropped value)",
      frames_lost_named_only_by_a_restart: "reported (a loss just before an apparent board restart: no gap count)",
      binary_false_accepts: "0",
      binary_false_accepts_time: "0 (reported; see docs/reliability.md)",
      csv_false_accepts: "reported (ids/sequence/time wrong yet accepted)",
      csv_undetectable_value_changes: "reported (no checksum in CSV)",
      crashes: "0",
    },
    notes: [
      `fault rate ${FAULT_RATE} per frame, faults: ${FAULTS.slice(1).join(", ")} (csv: no bad_crc); seeded, the same on every run`,
      "corrupt_t_us in binary is a CRC-valid frame with a wrong clock (a firmware glitch); the protocol layer must drop it",
    ],
    detail: runs,
  };
}
