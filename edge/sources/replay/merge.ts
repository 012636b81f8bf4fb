/**
 * Merges several reader streams (one file per Xsens sensor, or the parts of a
 * rotated recording) into one stream in timestamp order. Each stream is read
 * one sample ahead, so memory stays at one sample per file. Issues pass through
 * as they are met. A stream that fails mid-file (truncated gzip) is reported as
 * an io_error and ends; the others play on.
 */

import type { ImuSample } from "../types.js";
import { issueItem, type ReaderItem, type ReplayStream } from "./types.js";

export async function* mergeByTime(streams: readonly ReplayStream[]): ReplayStream {
  const heads: (ImuSample | undefined)[] = streams.map(() => undefined);

  // Advances stream i to its next sample (kept in heads[i]), yielding the issues on the way.
  async function* pull(i: number): AsyncGenerator<ReaderItem, void, undefined> {
    const stream = streams[i];
    if (!stream) return;
    for (;;) {
      let next: IteratorResult<ReaderItem, void>;
      try {
        next = await stream.next();
      } catch (err) {
        yield issueItem("io_error", err instanceof Error ? err.message : String(err));
        return;
      }
      if (next.done) return;
      if (next.value.kind === "sample") {
        heads[i] = next.value.sample;
        return;
      }
      yield next.value;
    }
  }

  try {
    for (let i = 0; i < streams.length; i++) yield* pull(i);
    for (;;) {
      let best = -1;
      let bestT = Infinity;
      heads.forEach((head, i) => {
        // Strict < keeps file order among equal timestamps (stable merge).
        if (head !== undefined && head.tUs < bestT) {
          best = i;
          bestT = head.tUs;
        }
      });
      const sample = heads[best];
      if (sample === undefined) return;
      heads[best] = undefined;
      yield { kind: "sample", sample };
      yield* pull(best);
    }
  } finally {
    await Promise.all(streams.map((s) => s.return()));
  }
}
