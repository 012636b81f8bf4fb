/**
 * Merges several reader streams (one file per Xsens sensor, or the parts of a
 * rotated recording) into one stream in timestamp order. Each stream is read
 * one sample ahead, so memory stays at one sample per file. Issues pass through
 * as they are met. A stream that fails mid-file (truncated gzip) is reported as
 * an io_error and ends; the others play on.
 */

import { issueItem, withSensors, type ReaderItem, type ReplayStream } from "./types.js";

type SampleItem = Extract<ReaderItem, { kind: "sample" }>;

/** The merged stream declares the union of its inputs' sensors, when every input declares them. */
export function mergeByTime(streams: readonly ReplayStream[]): ReplayStream {
  const known = streams.every((s) => s.sensors !== undefined);
  const sensors = known ? [...new Set(streams.flatMap((s) => s.sensors ?? []))] : undefined;
  return withSensors(merge(streams), sensors);
}

async function* merge(streams: readonly ReplayStream[]): AsyncGenerator<ReaderItem, void, undefined> {
  const heads: (SampleItem | undefined)[] = streams.map(() => undefined);

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
        heads[i] = next.value;
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
        if (head !== undefined && head.sample.tUs < bestT) {
          best = i;
          bestT = head.sample.tUs;
        }
      });
      const item = heads[best];
      if (item === undefined) return;
      heads[best] = undefined;
      yield item;
      yield* pull(best);
    }
  } finally {
    await Promise.all(streams.map((s) => s.return()));
  }
}
