/** Shared fixtures for the serial source tests. */

import { once } from "node:events";
import type { Transform } from "node:stream";
import type { SourceIssue } from "../../../edge/sources/types.js";
import type { ImuFrame } from "../../../edge/sources/serial/frame.js";

/** A plausible reading (z up, a little rotation) that varies a bit with `n`, always in range. */
export function frameAt(n: number, overrides: Partial<ImuFrame> = {}): ImuFrame {
  return {
    sensorId: 3,
    seq: n % 65536,
    tUs: (1_000_000 + n * 10_000) % 2 ** 32,
    acc: [0.25 * (n % 8), -0.5, 9.80665],
    gyro: [0.125, -0.25 * (n % 8), 1.5],
    ...overrides,
  };
}

/** Feeds chunks to a parser, ends it, and returns what it pushed and reported. */
export async function runParser(
  make: (onIssue: (issue: SourceIssue) => void) => Transform,
  chunks: readonly (Buffer | string)[],
): Promise<{ frames: ImuFrame[]; issues: SourceIssue[]; parser: Transform }> {
  const issues: SourceIssue[] = [];
  const frames: ImuFrame[] = [];
  const parser = make((issue) => issues.push(issue));
  parser.on("data", (frame: ImuFrame) => frames.push(frame));
  for (const chunk of chunks) parser.write(chunk);
  parser.end();
  await once(parser, "end");
  return { frames, issues, parser };
}

/** float32 round trip, for comparing decoded binary values with what was encoded. */
export function f32(v: readonly number[]): number[] {
  return Array.from(new Float32Array(v));
}

/** Deterministic PRNG (mulberry32) so "random" garbage is the same on every run: the fuzzer's own. */
export { prng } from "../../../edge/reliability/fuzzFrames.js";
