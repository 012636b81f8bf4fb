/**
 * The source contract (edge/sources/types.ts, docs/sources.md) as one test
 * suite, run against every source (MQTT.js style: one abstract suite, one
 * small file per implementation that says how to make it produce a known
 * stream). A behaviour is in the contract only if it is tested here for all four.
 *
 * The harness gives the suite a source that will produce `expected` and a
 * way to make it flow: a fixture file for replay (it flows by itself), a socat
 * pty writer for serial, the fake noble for BLE, a seed for the simulator.
 */

import { describe, expect, it, vi } from "vitest";
import type { ImuSample, ImuSource, SourceHandlers, SourceIssue } from "../../edge/sources/types.js";

export type SuiteVariant =
  /** The known stream and nothing else. */
  | "good"
  /** The known stream with `badInput.count` bad items mixed in. */
  | "bad"
  /** Nothing for longer than noDataTimeoutMs, then the known stream (on `feed`, or by itself). */
  | "silent";

export interface SuiteSource {
  readonly source: ImuSource;
  /** Makes the (rest of the) stream flow once started; a no-op for sources that run by themselves. */
  feed(): Promise<void>;
  /** Frees what the harness made (socat, temp files). */
  close(): Promise<void>;
}

export interface SourceSuiteOptions {
  readonly name: string;
  /** A fresh source (not started) and its feeder. */
  create(variant: SuiteVariant, options: { readonly noDataTimeoutMs: number }): Promise<SuiteSource>;
  /** The known stream as delivered: [sensorId, tUs] in delivery order. */
  readonly expected: readonly (readonly [string, number])[];
  /** Finite sources call onEnd after the stream; live ones never do. */
  readonly finite: boolean;
  /** What the "bad" variant mixes in; absent for a source with no bad input (the simulator). */
  readonly badInput?: { readonly kind: string; readonly count: number };
  /** False for a source that cannot be made silent (the simulator). */
  readonly canBeSilent: boolean;
}

interface Recorder {
  readonly samples: ImuSample[];
  readonly issues: SourceIssue[];
  ends: number;
  /** Samples delivered before start() resolved (must stay 0). */
  early: number;
  started: boolean;
  readonly handlers: SourceHandlers;
}

function recorder(onSample?: (s: ImuSample, index: number) => void): Recorder {
  const r: Recorder = {
    samples: [],
    issues: [],
    ends: 0,
    early: 0,
    started: false,
    handlers: {
      onSample: (s) => {
        if (!r.started) r.early++;
        r.samples.push(s);
        onSample?.(s, r.samples.length - 1);
      },
      onIssue: (i) => r.issues.push(i),
      onEnd: () => {
        if (!r.started) r.early++;
        r.ends++;
      },
    },
  };
  return r;
}

async function start(h: SuiteSource, r: Recorder): Promise<void> {
  await h.source.start(r.handlers);
  r.started = true;
  await h.feed();
}

const ids = (samples: readonly ImuSample[]): [string, number][] => samples.map((s) => [s.sensorId, s.tUs]);

/** A few turns of the event loop and timers: long enough for anything already queued to arrive. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

const WAIT = { timeout: 10_000, interval: 10 };

export function sourceSuite(options: SourceSuiteOptions): void {
  const { expected, finite } = options;
  const make = (variant: SuiteVariant, noDataTimeoutMs = 0): Promise<SuiteSource> => options.create(variant, { noDataTimeoutMs });

  /** Runs `body` with a fresh source, always stopping and closing it. */
  async function withSource(variant: SuiteVariant, body: (h: SuiteSource) => Promise<void>, noDataTimeoutMs = 0): Promise<void> {
    const h = await make(variant, noDataTimeoutMs);
    try {
      await body(h);
    } finally {
      await h.source.stop();
      await h.close();
    }
  }

  describe(`source contract: ${options.name}`, () => {
    it("start() delivers the known stream, nothing before start() resolves, and counts it", async () => {
      await withSource("good", async (h) => {
        const r = recorder();
        await start(h, r);
        await vi.waitFor(() => expect(r.samples.length).toBeGreaterThanOrEqual(expected.length), WAIT);
        expect(ids(r.samples)).toEqual(expected);
        expect(r.early).toBe(0);
        expect(r.issues).toEqual([]);
        expect(h.source.stats()).toEqual({ samples: expected.length, issues: {} });
      });
    });

    it("stop() is idempotent, safe before start, and nothing is delivered once it is called", async () => {
      const unstarted = await make("good");
      await unstarted.source.stop();
      await unstarted.source.stop();
      await unstarted.close();

      await withSource("good", async (h) => {
        let stopping: Promise<void> | undefined;
        // Stop from inside the consumer at the 3rd sample: the hardest moment (mid-chunk, mid-file).
        const r = recorder((_, i) => {
          if (i === 2) stopping = h.source.stop();
        });
        await start(h, r);
        await vi.waitFor(() => expect(stopping).toBeDefined(), WAIT);
        await stopping;
        await h.source.stop();
        const issuesAtStop = r.issues.length;
        await h.feed(); // a live device keeps sending; none of it may reach the consumer
        await settle();
        expect(r.samples).toHaveLength(3);
        expect(r.issues).toHaveLength(issuesAtStop);
        expect(r.ends).toBe(0); // no onEnd after stop()
        expect(h.source.stats().samples).toBe(3);
      });
    });

    if (finite) {
      it("calls onEnd exactly once, after the last sample", async () => {
        await withSource("good", async (h) => {
          let atEnd = -1;
          const r = recorder();
          const onEnd = r.handlers.onEnd;
          const handlers: SourceHandlers = { ...r.handlers, onEnd: () => ((atEnd = r.samples.length), onEnd?.()) };
          await h.source.start(handlers);
          r.started = true;
          await h.feed();
          await vi.waitFor(() => expect(r.ends).toBe(1), WAIT);
          await settle();
          expect(r.ends).toBe(1);
          expect(atEnd).toBe(expected.length);
        });
      });
    } else {
      it("never calls onEnd (a live stream has no end)", async () => {
        await withSource("good", async (h) => {
          const r = recorder();
          await start(h, r);
          await vi.waitFor(() => expect(r.samples.length).toBe(expected.length), WAIT);
          await h.source.stop();
          await settle();
          expect(r.ends).toBe(0);
        });
      });
    }

    it("a throwing consumer: the source does not stop or end, counts consumer_error, reports it rate-limited", async () => {
      await withSource("good", async (h) => {
        const r = recorder((_, i) => {
          if (i % 2 === 0) throw new Error(`consumer bug at ${i}`);
        });
        await start(h, r);
        await vi.waitFor(() => expect(r.samples.length).toBe(expected.length), WAIT);
        if (finite) await vi.waitFor(() => expect(r.ends).toBe(1), WAIT);
        const throws = Math.ceil(expected.length / 2);
        expect(ids(r.samples)).toEqual(expected); // every sample after a throw still came
        expect(h.source.stats()).toEqual({ samples: expected.length, issues: { consumer_error: throws } });
        const reported = r.issues.filter((i) => i.kind === "consumer_error");
        expect(r.issues.length).toBe(reported.length);
        expect(reported[0]?.message).toMatch(/onSample threw for .*consumer bug at 0/);
        // Rate-limited: the first 3, the rest summed up (at stop or end, or every 5 s).
        await h.source.stop();
        const after = r.issues.filter((i) => i.kind === "consumer_error");
        expect(after.length).toBeLessThanOrEqual(4);
        if (throws > 3) expect(after.at(-1)?.message).toMatch(new RegExp(`threw ${throws - 3} more time`));
      });
    });

    it.skipIf(options.badInput === undefined)("bad input is dropped, reported and counted by kind; the valid stream still flows", async () => {
      const bad = options.badInput!;
      await withSource("bad", async (h) => {
        const r = recorder();
        await start(h, r);
        await vi.waitFor(() => expect(r.samples.length).toBe(expected.length), WAIT);
        if (finite) await vi.waitFor(() => expect(r.ends).toBe(1), WAIT);
        await vi.waitFor(() => expect(h.source.stats().issues[bad.kind]).toBe(bad.count), WAIT);
        expect(ids(r.samples)).toEqual(expected);
        const reported: Record<string, number> = {};
        for (const i of r.issues) reported[i.kind] = (reported[i.kind] ?? 0) + 1;
        // Every bad item reaches onIssue (only consumer errors are rate-limited there).
        expect(reported).toEqual(h.source.stats().issues);
        for (const i of r.issues.filter((x) => x.kind === bad.kind)) expect(i.message.length).toBeGreaterThan(10);
      });
    });

    it("stats() is { samples, issues } with numbers only, and a copy", async () => {
      await withSource("good", async (h) => {
        expect(h.source.stats()).toEqual({ samples: 0, issues: {} });
        const r = recorder();
        await start(h, r);
        await vi.waitFor(() => expect(r.samples.length).toBe(expected.length), WAIT);
        const stats = h.source.stats();
        expect(Object.keys(stats).sort()).toEqual(["issues", "samples"]);
        expect(typeof stats.samples).toBe("number");
        for (const v of Object.values(stats.issues)) expect(typeof v).toBe("number");
        (stats.issues as Record<string, number>).bogus = 1;
        expect(h.source.stats().issues).toEqual({});
      });
    });

    it.skipIf(!options.canBeSilent)("reports no_valid_data after noDataTimeoutMs without a valid sample, and valid_data when they return", async () => {
      await withSource(
        "silent",
        async (h) => {
          const r = recorder();
          await h.source.start(r.handlers);
          r.started = true;
          await vi.waitFor(() => expect(r.issues.map((i) => i.kind)).toContain("no_valid_data"), WAIT);
          await h.feed();
          await vi.waitFor(() => expect(r.issues.map((i) => i.kind)).toContain("valid_data"), WAIT);
          await vi.waitFor(() => expect(r.samples.length).toBeGreaterThanOrEqual(expected.length), WAIT);
          const kinds = r.issues.map((i) => i.kind).filter((k) => k === "no_valid_data" || k === "valid_data");
          expect(kinds).toEqual(["no_valid_data", "valid_data"]);
          expect(r.issues.find((i) => i.kind === "no_valid_data")?.message).toMatch(/\bfor \d+(\.\d)? s/);
        },
        100,
      );
    });
  });
}
