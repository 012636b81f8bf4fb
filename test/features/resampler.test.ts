import { describe, expect, it } from "vitest";
import {
  GRID_CHANNELS,
  GridResampler,
  type ReanchorEvent,
  type ResamplerIssue,
} from "../../edge/features/resampler.js";
import type { Vec3 } from "../../edge/sources/types.js";

interface Stream {
  t: number[]; // seconds
  v: number[][]; // [n][6]
}

/** numpy.interp, as numpy implements it (compiled/multiarray_module interp). */
function npInterp(x: number, xp: number[], fp: number[]): number {
  if (x <= xp[0]!) return x === xp[0] ? fp[0]! : fp[0]!;
  const last = xp.length - 1;
  if (x >= xp[last]!) return fp[last]!;
  let j = 0;
  while (xp[j + 1]! <= x) j++;
  if (xp[j] === x) return fp[j]!;
  const slope = (fp[j + 1]! - fp[j]!) / (xp[j + 1]! - xp[j]!);
  return slope * (x - xp[j]!) + fp[j]!;
}

/** The training side's grid (features.grid_times) and values (features.resample). */
function offlineGrid(streams: Stream[], rate: number): { t: number[]; rows: number[][] } {
  const t0 = Math.max(...streams.map((s) => s.t[0]!));
  const t1 = Math.min(...streams.map((s) => s.t[s.t.length - 1]!));
  const n = Math.floor((t1 - t0) * rate + 1e-9) + 1;
  const t: number[] = [];
  const rows: number[][] = [];
  for (let k = 0; k < n; k++) {
    const tk = t0 + k / rate;
    t.push(tk);
    rows.push(streams.flatMap((s) => Array.from({ length: GRID_CHANNELS }, (_, c) => npInterp(tk, s.t, s.v.map((r) => r[c]!)))));
  }
  return { t, rows };
}

function makeStream(t0: number, n: number, period: number, jitter: number, seed: number): Stream {
  let s = seed;
  const rand = (): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const t: number[] = [];
  const v: number[][] = [];
  for (let i = 0; i < n; i++) {
    const ti = t0 + i * period + (rand() - 0.5) * jitter;
    t.push(ti);
    v.push([Math.sin(ti * 7) * 9, Math.cos(ti * 3) * 9, 9.8 + rand(), rand() - 0.5, Math.sin(ti * 11), rand() * 3]);
  }
  return { t, v };
}

type Event = { p: number; t: number };

/** Merge placements' samples by time (ties: lower placement first). */
function interleave(streams: Stream[]): Event[] {
  const events: Event[] = [];
  streams.forEach((s, p) => s.t.forEach((t, i) => events.push({ p, t: i })));
  return events.sort((a, b) => streams[a.p]!.t[a.t]! - streams[b.p]!.t[b.t]! || a.p - b.p);
}

function run(
  streams: Stream[],
  order: Event[],
  opts: { rate?: number; maxGapS?: number; capacity?: number; finish?: boolean } = {},
): { t: number[]; rows: number[][]; issues: ResamplerIssue[]; reanchors: ReanchorEvent[]; segments: number[]; index: number[]; r: GridResampler } {
  const out = { t: [] as number[], rows: [] as number[][], issues: [] as ResamplerIssue[], reanchors: [] as ReanchorEvent[], segments: [] as number[], index: [] as number[] };
  const r = new GridResampler(
    {
      placements: streams.map((_, i) => `p${i}`),
      sampleRateHz: opts.rate ?? 100,
      config: { maxGapS: opts.maxGapS ?? 0.1, queueCapacity: opts.capacity ?? 512 },
    },
    {
      onGridSample: (g) => {
        out.t.push(g.tUs / 1e6);
        out.rows.push(Array.from(g.values));
        out.segments.push(g.segment);
        out.index.push(g.index);
      },
      onIssue: (i) => out.issues.push(i),
      onReanchor: (e) => out.reanchors.push(e),
    },
  );
  for (const e of order) {
    const s = streams[e.p]!;
    const v = s.v[e.t]!;
    r.push(e.p, s.t[e.t]! * 1e6, [v[0]!, v[1]!, v[2]!] as Vec3, [v[3]!, v[4]!, v[5]!] as Vec3);
  }
  if (opts.finish ?? true) r.finish();
  return { ...out, r };
}

describe("GridResampler", () => {
  it("matches np.interp on the training grid for jittered 200 Hz and 148 Hz sources", () => {
    const streams = [makeStream(0.0123, 800, 0.005, 0.001, 1), makeStream(0.031, 540, 1 / 148, 0.002, 2)];
    const want = offlineGrid(streams, 100);
    const got = run(streams, interleave(streams));
    expect(got.rows.length).toBe(want.rows.length);
    let maxErr = 0;
    got.rows.forEach((row, k) => row.forEach((v, c) => (maxErr = Math.max(maxErr, Math.abs(v - want.rows[k]![c]!)))));
    expect(maxErr).toBeLessThan(1e-12);
    expect(got.t[0]).toBeCloseTo(Math.max(streams[0]!.t[0]!, streams[1]!.t[0]!), 9); // t_start = the later first timestamp
    expect(got.issues).toEqual([]);
  });

  it("passes a 100 Hz source that is already on the grid through unchanged", () => {
    const s: Stream = { t: [], v: [] };
    for (let i = 0; i < 100; i++) {
      s.t.push(i / 100);
      s.v.push([i, -i, i * 0.5, 1 / (i + 1), 2, 3]);
    }
    const got = run([s, s], interleave([s, s]));
    expect(got.rows.length).toBe(100);
    got.rows.forEach((row, k) => expect(row).toEqual([...s.v[k]!, ...s.v[k]!]));
  });

  it("gives the same grid when one placement arrives late in bursts", () => {
    const streams = [makeStream(0, 600, 0.005, 0.001, 3), makeStream(0.002, 600, 0.005, 0.001, 4)];
    const inOrder = run(streams, interleave(streams));
    // placement 1 delivered in bursts of 40 samples, ~0.2 s late
    const order: Event[] = [];
    const pending: Event[] = [];
    for (const e of interleave(streams)) {
      if (e.p === 1) pending.push(e);
      else order.push(e);
      if (pending.length === 40) order.push(...pending.splice(0));
    }
    order.push(...pending);
    const bursty = run(streams, order);
    expect(bursty.rows).toEqual(inOrder.rows);
    expect(bursty.issues).toEqual([]);
  });

  it("emits nothing until every placement has delivered a sample", () => {
    const a = makeStream(0, 300, 0.005, 0, 5);
    const b = makeStream(1.0, 100, 0.005, 0, 6);
    const got = run([a, b], interleave([a, b]).filter((e) => e.p === 0));
    expect(got.rows.length).toBe(0);
    const both = run([a, b], interleave([a, b]));
    expect(both.t[0]).toBeCloseTo(1.0, 9);
  });

  it("drops and reports backwards, duplicate and non-finite samples", () => {
    const s = makeStream(0, 50, 0.01, 0, 7);
    const order = interleave([s, s]);
    const issues: ResamplerIssue[] = [];
    const rows: number[][] = [];
    const r = new GridResampler(
      { placements: ["a", "b"], sampleRateHz: 100, config: { maxGapS: 0.1, queueCapacity: 64 } },
      { onGridSample: (g) => rows.push(Array.from(g.values)), onIssue: (i) => issues.push(i) },
    );
    for (const e of order) {
      const v = s.v[e.t]!;
      r.push(e.p, s.t[e.t]! * 1e6, [v[0]!, v[1]!, v[2]!], [v[3]!, v[4]!, v[5]!]);
      if (e.p === 0 && e.t === 20) {
        r.push(0, s.t[20]! * 1e6, [1, 2, 3], [4, 5, 6]); // duplicate
        r.push(0, s.t[10]! * 1e6, [1, 2, 3], [4, 5, 6]); // backwards
        r.push(0, s.t[20]! * 1e6 + 100, [Number.NaN, 2, 3], [4, 5, 6]); // bad value
      }
    }
    expect(issues.map((i) => i.kind)).toEqual(["duplicate", "backwards", "bad_value"]);
    expect(issues.every((i) => i.placement === "a")).toBe(true);
    expect(r.stats().dropped).toEqual({ backwards: 1, duplicate: 1, bad_value: 1 });
    expect(rows.length).toBe(50); // the grid is unaffected
    // (µs round trip of the timestamps: equal to ~1e-15, not bit for bit)
    rows.forEach((row, k) => row.slice(0, 6).forEach((v, c) => expect(Math.abs(v - s.v[k]![c]!)).toBeLessThan(1e-12)));
  });

  it("does not interpolate across a gap: reports it and re-anchors the grid", () => {
    const a = makeStream(0, 400, 0.005, 0, 8);
    const b = makeStream(0.001, 400, 0.005, 0, 9);
    // placement b loses 0.3 s (samples 100..159)
    const order = interleave([a, b]).filter((e) => !(e.p === 1 && e.t >= 100 && e.t < 160));
    const got = run([a, b], order);
    expect(got.issues.map((i) => [i.kind, i.placement])).toEqual([["gap", "p1"]]);
    expect(got.reanchors).toEqual([{ reason: "gap", placement: "p1", segment: 1 }]);
    const firstOfNew = got.segments.indexOf(1);
    expect(got.index[firstOfNew]).toBe(0);
    // the new grid starts at b's first sample after the gap; nothing emitted inside the gap
    expect(got.t[firstOfNew]).toBeCloseTo(b.t[160]!, 9);
    const last0 = got.t[firstOfNew - 1]!;
    expect(last0).toBeLessThanOrEqual(b.t[99]!);
    // and the new segment is np.interp of the data after the gap
    const after = offlineGrid(
      [
        { t: a.t.filter((t) => t >= a.t[0]!), v: a.v },
        { t: b.t.slice(160), v: b.v.slice(160) },
      ],
      100,
    );
    const seg1 = got.rows.slice(firstOfNew);
    expect(seg1.length).toBe(after.rows.length);
    seg1.forEach((row, k) => row.forEach((v, c) => expect(Math.abs(v - after.rows[k]![c]!)).toBeLessThan(1e-12)));
  });

  it("reports a stalled placement and keeps its memory bounded", () => {
    const a = makeStream(0, 2000, 0.005, 0, 10);
    const b = makeStream(0, 2000, 0.005, 0, 11);
    // b stops after 1 s, a goes on for 9 s more
    const order = interleave([a, b]).filter((e) => e.p === 0 || e.t < 200);
    const got = run([a, b], order, { capacity: 100, finish: false });
    const stalls = got.issues.filter((i) => i.kind === "stall");
    expect(stalls.length).toBeGreaterThan(10);
    expect(stalls[0]!.message).toContain("p1");
    expect(got.r.stats().stalls).toBe(stalls.length);
    expect(got.reanchors.every((e) => e.reason === "stall")).toBe(true);
  });

  it("drops readings beyond the manifest's input limits as bad values", () => {
    const issues: ResamplerIssue[] = [];
    let grid = 0;
    const r = new GridResampler(
      { placements: ["a"], sampleRateHz: 100, config: { maxGapS: 0.1, queueCapacity: 64 }, inputLimits: { accAbsMax: 156.9, gyroAbsMax: 35 } },
      { onGridSample: () => (grid += 1), onIssue: (i) => issues.push(i) },
    );
    r.push(0, 0, [0, 0, 9.8], [0, 0, 0]);
    r.push(0, 10_000, [0, -200, 9.8], [0, 0, 0]);
    r.push(0, 20_000, [0, 0, 9.8], [0, 40, 0]);
    r.push(0, 30_000, [0, 0, 9.8], [0, 0, 0]);
    expect(issues.map((i) => i.kind)).toEqual(["bad_value", "bad_value"]);
    expect(issues[0]!.message).toContain("|acc| 200.0 m/s²");
    expect(grid).toBe(4); // the dropped samples are bridged by interpolation (20 ms < maxGapS)
  });

  it("keeps time precision with large device timestamps (µs since 1970)", () => {
    const epoch = 1.7e15;
    const rows: number[] = [];
    const r = new GridResampler(
      { placements: ["a"], sampleRateHz: 100, config: { maxGapS: 0.1, queueCapacity: 64 } },
      { onGridSample: (g) => rows.push(g.values[0]!), onIssue: () => undefined },
    );
    // 200 Hz ramp: value = seconds since start, so the grid value is the grid time
    for (let i = 0; i < 400; i++) r.push(0, epoch + i * 5000, [i * 0.005, 0, 0], [0, 0, 0]);
    rows.forEach((v, k) => expect(Math.abs(v - k / 100)).toBeLessThan(1e-12));
    expect(rows.length).toBe(200);
  });
});
