import { describe, expect, it } from "vitest";
import { FrameParser } from "../../../edge/sources/serial/parser.js";
import { crc16CcittFalse, encodeFrame } from "../../../edge/sources/serial/frame.js";
import { f32, frameAt, prng, runParser } from "./helpers.js";

const parse = (chunks: readonly Buffer[]) => runParser((onIssue) => new FrameParser({ onIssue }), chunks);
const counters = (p: unknown) => (p as FrameParser).counters;

describe("FrameParser", () => {
  it("decodes two frames delivered in one chunk", async () => {
    const { frames, issues, parser } = await parse([Buffer.concat([encodeFrame(frameAt(0)), encodeFrame(frameAt(1))])]);
    expect(frames.map((f) => f.seq)).toEqual([0, 1]);
    expect(frames[1]?.acc).toEqual(f32(frameAt(1).acc));
    expect(issues).toEqual([]);
    expect(counters(parser)).toMatchObject({ frames: 2, badChecksum: 0, badLength: 0, resyncBytes: 0 });
  });

  it("decodes one frame split across chunks byte by byte", async () => {
    const bytes = encodeFrame(frameAt(9, { mag: [30, 0, -40] }));
    const { frames, issues } = await parse([...bytes].map((b) => Buffer.from([b])));
    expect(frames).toHaveLength(1);
    expect(frames[0]?.seq).toBe(9);
    expect(frames[0]?.mag).toEqual(f32([30, 0, -40]));
    expect(issues).toEqual([]);
  });

  it("counts a bad checksum, then decodes the next good frame", async () => {
    const corrupt = encodeFrame(frameAt(0));
    corrupt[15] = (corrupt[15] as number) ^ 0x01; // one flipped bit in acc.y
    const { frames, issues, parser } = await parse([Buffer.concat([corrupt, encodeFrame(frameAt(1))])]);
    expect(frames.map((f) => f.seq)).toEqual([1]);
    expect(counters(parser).badChecksum).toBe(1);
    expect(counters(parser).resyncBytes).toBe(corrupt.length);
    expect(issues.map((i) => i.kind)).toEqual(["bad_checksum", "resync"]);
    expect(issues[0]?.message).toMatch(/stream byte 0: CRC 0x[0-9A-F]{4} but computed/);
  });

  it("skips garbage before a frame and counts the skipped bytes", async () => {
    const garbage = Buffer.from([0x00, 0xff, 0xa5, 0x13, 0x5a, 0x42, 0xa5]);
    const { frames, issues, parser } = await parse([garbage, encodeFrame(frameAt(4))]);
    expect(frames.map((f) => f.seq)).toEqual([4]);
    expect(counters(parser).resyncBytes).toBe(garbage.length);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ kind: "resync" });
    expect(issues[0]?.message).toMatch(/skipped 7 byte\(s\).*stream byte 7/);
  });

  it("resyncs one byte after a false sync, finding a frame that starts inside the false candidate", async () => {
    // A5 5A 20 claims a 37-byte frame; the real frames start 3 bytes later, inside it.
    const falseSync = Buffer.from([0xa5, 0x5a, 32]);
    const { frames, parser } = await parse([Buffer.concat([falseSync, encodeFrame(frameAt(1)), encodeFrame(frameAt(2))])]);
    expect(frames.map((f) => f.seq)).toEqual([1, 2]);
    expect(counters(parser).badChecksum).toBe(1);
    expect(counters(parser).resyncBytes).toBe(3);
  });

  it("rejects an absurd length byte at once and finds the frame behind it", async () => {
    for (const length of [0, 3, 31, 45, 255]) {
      const { frames, issues, parser } = await parse([Buffer.concat([Buffer.from([0xa5, 0x5a, length]), encodeFrame(frameAt(2))])]);
      expect(frames.map((f) => f.seq)).toEqual([2]);
      expect(counters(parser)).toMatchObject({ badLength: 1, badChecksum: 0, resyncBytes: 3 });
      expect(issues[0]?.message).toMatch(new RegExp(`length ${length} outside 32..44`));
    }
  });

  it("skips a CRC-valid frame of an unknown message type as a whole", async () => {
    const future = encodeFrame(frameAt(0));
    future[3] = 0x05;
    future.writeUInt16LE(crc16CcittFalse(future, 2, 35), 35);
    const { frames, issues, parser } = await parse([Buffer.concat([future, encodeFrame(frameAt(1))])]);
    expect(frames.map((f) => f.seq)).toEqual([1]);
    expect(counters(parser)).toMatchObject({ unknownType: 1, resyncBytes: 0 });
    expect(issues).toEqual([expect.objectContaining({ kind: "bad_frame", message: expect.stringMatching(/unknown message type 5/) })]);
  });

  it("reports bytes left inside an unfinished frame when the stream ends", async () => {
    const { frames, issues, parser } = await parse([encodeFrame(frameAt(0)).subarray(0, 20)]);
    expect(frames).toEqual([]);
    expect(counters(parser).resyncBytes).toBe(20);
    expect(issues.map((i) => i.kind)).toEqual(["resync"]);
  });

  it("recovers every frame from a stream of frames, random garbage and random chunking", async () => {
    const random = prng(42);
    const parts: Buffer[] = [];
    let garbageBytes = 0;
    for (let n = 0; n < 200; n++) {
      if (random() < 0.3) {
        // Garbage rich in sync bytes, the worst case for resynchronisation.
        const junk = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 60) }, () => {
          const r = random();
          return r < 0.2 ? 0xa5 : r < 0.4 ? 0x5a : r < 0.5 ? 32 : Math.floor(random() * 256);
        }));
        garbageBytes += junk.length;
        parts.push(junk);
      }
      parts.push(encodeFrame(frameAt(n, n % 3 === 0 ? { mag: [n, 0, 0] } : {})));
    }
    const stream = Buffer.concat(parts);
    const chunks: Buffer[] = [];
    for (let at = 0; at < stream.length; ) {
      const size = 1 + Math.floor(random() * 100);
      chunks.push(stream.subarray(at, at + size));
      at += size;
    }
    const { frames, parser } = await parse(chunks);
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    expect(counters(parser).resyncBytes).toBe(garbageBytes);
  });

  it("never throws on arbitrary bytes", async () => {
    const random = prng(7);
    const noise = Buffer.from(Array.from({ length: 5000 }, () => Math.floor(random() * 256)));
    const { parser } = await parse([noise]);
    expect(counters(parser).resyncBytes).toBeGreaterThan(4900);
  });
});
