/**
 * What `reliability fuzz` (fuzz.ts) sends and how it checks what comes out:
 * the frames, the faults injected into them, and the `Accountant` that matches
 * every delivered sample with the frame sent under its sequence number and
 * marks every frame the receiver reported as missing or dropped.
 */
import { csvChecksum, type CsvChecksum } from "../sources/serial/csvLine.js";
import { U32_RANGE, encodeFrame, crc16CcittFalse, type ImuFrame } from "../sources/serial/frame.js";
import type { ImuSample, SourceIssue } from "../sources/types.js";

/** The two serial modes, and CSV with each optional checksum suffix (`*hh` XOR, `*hhhh` CRC-16). */
export type SerialMode = "binary" | "csv" | `csv_${CsvChecksum}`;

/** The checksum a CSV mode appends, undefined for plain CSV (and binary). */
function checksumOf(mode: SerialMode): CsvChecksum | undefined {
  return mode === "csv_xor8" ? "xor8" : mode === "csv_crc16" ? "crc16" : undefined;
}
export const FAULTS = ["none", "bit_flip", "truncate", "garbage", "dup_byte", "missing_byte", "bad_crc", "corrupt_t_us"] as const;
export type Fault = (typeof FAULTS)[number];
/** CSV lines carry no CRC, so that fault does not exist there. */
const CSV_FAULTS: readonly Fault[] = FAULTS.filter((f) => f !== "bad_crc");

const SENSOR_ID = 3;
export const STEP_US = 10_000; // 100 Hz
const T0_US = 1_000_000;
/**
 * A delivered sample's time step may differ from the true one by this much
 * before it counts as a false accept: a spliced board restart takes the host's
 * arrival gap, which is only as precise as the chunk the bytes came in.
 */
const STEP_TOLERANCE_US = 50_000;
/** The share of frames with a fault (the rest are clean, so the receiver has something to resync on). */
export const FAULT_RATE = 0.25;

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
    // With a CSV checksum the field changed in transit, after the board summed the line.
    const wrong = { ...frame, tUs: int(U32_RANGE) };
    return mode === "binary" ? encodeFrame(wrong) : Buffer.from(csvLine(wrong, checksumOf(mode), frame));
  }
  const bytes = mode === "binary" ? encodeFrame(frame) : Buffer.from(csvLine(frame, checksumOf(mode)));
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

/** One CSV line; with `checksum`, summed over `summed`'s body (default: this frame's), as the board sent it. */
function csvLine(f: ImuFrame, checksum?: CsvChecksum, summed: ImuFrame = f): string {
  const body = (x: ImuFrame): string => `${x.sensorId},${x.seq},${x.tUs},${[...x.acc, ...x.gyro].map((v) => v.toFixed(4)).join(",")}`;
  return checksum ? `${body(f)}*${csvChecksum(body(summed), checksum)}\n` : `${body(f)}\n`;
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
export class Accountant {
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
    } else if (this.mode !== "binary" && s && sameId && stepOk) {
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
export function* faultedStream(mode: SerialMode, frames: number, seed: number, account: Accountant, batch = 512): Generator<{ bytes: Buffer; lastN: number }> {
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

