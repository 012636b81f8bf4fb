/**
 * Byte stream -> `ImuFrame`s. A serial line delivers bytes in arbitrary
 * chunks, starts mid-frame when the port is opened, and flips bits on a noisy
 * cable; this Transform accumulates bytes, hunts for the sync pair, checks the
 * length bounds and CRC, and pushes decoded frames (object mode). Bad input is
 * counted and reported through `onIssue`, never thrown.
 *
 * Resync rule: whenever a candidate frame is rejected (absurd length, bad CRC)
 * the hunt restarts ONE byte after its sync, not after the whole candidate,
 * because the "sync" may have been garbage and a real frame can begin inside
 * the bytes the candidate claimed.
 */

import { Transform, type TransformCallback } from "node:stream";
import type { SourceIssue } from "../types.js";
import {
  CRC_LENGTH,
  HEADER_LENGTH,
  MAX_BODY_LENGTH,
  MIN_BODY_LENGTH,
  SYNC_1,
  SYNC_2,
  crc16CcittFalse,
  decodeFrameBody,
  hex4,
} from "./frame.js";

export interface FrameParserCounters {
  /** Frames decoded and pushed. */
  frames: number;
  /** Candidates whose CRC did not match. */
  badChecksum: number;
  /** Candidates whose length byte was out of bounds, or disagreed with the flags. */
  badLength: number;
  /** CRC-valid frames of a message type this receiver does not know. */
  unknownType: number;
  /** Bytes discarded because they belonged to no valid frame. */
  resyncBytes: number;
}

export interface FrameParserOptions {
  onIssue?: (issue: SourceIssue) => void;
}

export class FrameParser extends Transform {
  readonly counters: FrameParserCounters = { frames: 0, badChecksum: 0, badLength: 0, unknownType: 0, resyncBytes: 0 };
  private pending: Buffer = Buffer.alloc(0);
  /** Stream offset of pending[0], so messages can name where a bad frame was. */
  private pendingOffset = 0;
  /**
   * Bytes skipped since the last good frame (false syncs included), reported as
   * one issue when a good frame ends the run: one line per corruption episode.
   */
  private garbageRun = 0;
  private readonly onIssue: (issue: SourceIssue) => void;

  constructor(options: FrameParserOptions = {}) {
    super({ readableObjectMode: true });
    this.onIssue = options.onIssue ?? (() => undefined);
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk;
    this.pending = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    this.scan();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.pending.length > 0) {
      this.discard(this.pending.length);
      this.pending = Buffer.alloc(0);
    }
    this.reportGarbageRun("the end of the stream");
    callback();
  }

  private scan(): void {
    const buf = this.pending;
    let pos = 0;
    for (;;) {
      const sync = findSync(buf, pos);
      if (sync < 0) {
        // Keep a trailing SYNC_1: its SYNC_2 may be in the next chunk.
        const keep = buf.length > pos && buf[buf.length - 1] === SYNC_1 ? 1 : 0;
        this.discard(buf.length - keep - pos);
        pos = buf.length - keep;
        break;
      }
      this.discard(sync - pos);
      pos = sync;
      if (buf.length - pos < HEADER_LENGTH) break;

      const at = this.pendingOffset + pos;
      const bodyLength = buf[pos + 2] as number;
      if (bodyLength < MIN_BODY_LENGTH || bodyLength > MAX_BODY_LENGTH) {
        this.counters.badLength++;
        this.onIssue({
          kind: "bad_frame",
          message: `serial frame at stream byte ${at}: length ${bodyLength} outside ${MIN_BODY_LENGTH}..${MAX_BODY_LENGTH}; resyncing`,
        });
        this.discard(1);
        pos += 1;
        continue;
      }

      const frameLength = HEADER_LENGTH + bodyLength + CRC_LENGTH;
      if (buf.length - pos < frameLength) break;

      const crcOffset = pos + HEADER_LENGTH + bodyLength;
      const expected = buf.readUInt16LE(crcOffset);
      const computed = crc16CcittFalse(buf, pos + 2, crcOffset);
      if (expected !== computed) {
        this.counters.badChecksum++;
        this.onIssue({
          kind: "bad_checksum",
          message: `serial frame at stream byte ${at}: CRC 0x${hex4(expected)} but computed 0x${hex4(computed)}; resyncing`,
        });
        this.discard(1);
        pos += 1;
        continue;
      }

      this.reportGarbageRun(`the next valid frame at stream byte ${at}`);
      const decoded = decodeFrameBody(buf.subarray(pos + HEADER_LENGTH, crcOffset));
      pos += frameLength;
      if (decoded.ok) {
        this.counters.frames++;
        this.push(decoded.frame);
      } else {
        // The CRC proved these bytes are one real frame, so skip all of it.
        if (decoded.reason === "unknown_type") this.counters.unknownType++;
        else this.counters.badLength++;
        this.onIssue({ kind: "bad_frame", message: `serial frame at stream byte ${at}: ${decoded.message}; skipped` });
      }
    }
    this.pending = pos >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    this.pendingOffset += pos;
  }

  private discard(count: number): void {
    if (count <= 0) return;
    this.counters.resyncBytes += count;
    this.garbageRun += count;
  }

  private reportGarbageRun(endedBy: string): void {
    if (this.garbageRun === 0) return;
    const skipped = this.garbageRun;
    this.garbageRun = 0;
    this.onIssue({ kind: "resync", message: `serial stream: skipped ${skipped} byte(s) of garbage before ${endedBy}` });
  }
}

function findSync(buf: Buffer, from: number): number {
  let i = buf.indexOf(SYNC_1, from);
  while (i >= 0 && i + 1 < buf.length) {
    if (buf[i + 1] === SYNC_2) return i;
    i = buf.indexOf(SYNC_1, i + 1);
  }
  return -1;
}
