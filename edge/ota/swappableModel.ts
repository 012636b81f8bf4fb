/**
 * The model every pipeline runs, replaceable while angles keep flowing.
 *
 * Each run is one whole window, and a pipeline runs its windows one after the
 * other, so "the next run" IS a stride boundary: `swap()` only changes which
 * session the next run uses. Nothing waits, no window is dropped or published
 * twice, and a window already running finishes on the model it started with.
 *
 * Pipelines take a `lane()` each: the lane remembers which model produced its
 * latest window, and its `contract` view answers with THAT model's manifest,
 * so an angles message is labelled with the model that computed it, not the
 * one that happens to be current when the result arrives.
 *
 * Probation: after a swap the new model must produce `windows` sane outputs
 * (finite, |angle| <= maxAbsAngleDeg). The old session stays loaded until
 * then; the first bad output swaps it back at once and that same window is
 * computed again on the old model, so the bad numbers are never published.
 *
 * Outside probation too, on every model: a window with a NaN, an infinity or
 * an angle beyond `maxAbsAngleDeg` is never handed to a pipeline. The lane
 * rejects it with an ImplausibleOutputError (the pipeline's inference-failure
 * path: counted, logged, nothing published) and `stats()` counts it, so a model
 * that degrades on live data after its probation shows, instead of publishing
 * garbage that looks like angles.
 */
import type { LoadedContract } from "../contract/manifest.js";
import type { WindowModel } from "../inference/onnxModel.js";

export interface StoppableModel extends WindowModel {
  stop(): Promise<void>;
}

export interface ModelEntry {
  readonly contract: LoadedContract;
  readonly model: StoppableModel;
}

export type ProbationVerdict =
  | { readonly passed: true; readonly entry: ModelEntry; readonly previous: ModelEntry }
  | { readonly passed: false; readonly reason: string; readonly entry: ModelEntry; readonly previous: ModelEntry };

export interface ProbationOptions {
  /** Windows the new model must get right; 0 passes at once. */
  readonly windows: number;
  readonly maxAbsAngleDeg: number;
  readonly onVerdict: (verdict: ProbationVerdict) => void;
}

interface Tracked {
  readonly entry: ModelEntry;
  inflight: number;
  idleWaiters: Array<() => void>;
  /** Failed its probation: a result still arriving from it is computed again. */
  condemned: boolean;
}

interface Probation {
  readonly tracked: Tracked;
  readonly previous: Tracked;
  remaining: number;
  readonly options: ProbationOptions;
}

/** A window whose output no joint can have (NaN, infinity, beyond the limit): dropped, not published. */
export class ImplausibleOutputError extends Error {
  override readonly name = "ImplausibleOutputError";
}

export interface SwappableModelOptions {
  /** Angles beyond this (deg), NaN or infinite are dropped on every model. Default 360. */
  readonly maxAbsAngleDeg?: number;
}

export interface SwappableModelStats {
  /** Windows dropped because their output was NaN, infinite or beyond the limit. */
  readonly implausibleDropped: number;
}

export const DEFAULT_MAX_ABS_ANGLE_DEG = 360;

/** What a pipeline needs: a model to run and the contract to label results with. */
export interface ModelLane {
  readonly model: WindowModel;
  readonly contract: LoadedContract;
}

/** First NaN, infinity or out-of-range angle in a [window][joints] output, described; else undefined. */
export function findBadAngle(output: Float32Array, joints: readonly string[], maxAbsDeg: number): string | undefined {
  const nj = joints.length;
  for (let i = 0; i < output.length; i++) {
    const v = output[i]!;
    if (Number.isNaN(v) || Math.abs(v) > maxAbsDeg) {
      const what = Number.isNaN(v) ? "NaN" : Number.isFinite(v) ? `${v.toFixed(1)} deg (beyond ±${maxAbsDeg})` : `${v} deg`;
      return `${joints[i % nj] ?? `joint ${i % nj}`} = ${what} at row ${Math.floor(i / nj)}`;
    }
  }
  return undefined;
}

export class SwappableModel implements WindowModel {
  private currentTracked: Tracked;
  private probation: Probation | undefined;
  private readonly known = new Set<Tracked>();
  private readonly maxAbsAngleDeg: number;
  private implausibleDropped = 0;

  constructor(initial: ModelEntry, options: SwappableModelOptions = {}) {
    this.currentTracked = this.track(initial);
    this.maxAbsAngleDeg = options.maxAbsAngleDeg ?? DEFAULT_MAX_ABS_ANGLE_DEG;
  }

  stats(): SwappableModelStats {
    return { implausibleDropped: this.implausibleDropped };
  }

  get current(): ModelEntry {
    return this.currentTracked.entry;
  }

  get contract(): LoadedContract {
    return this.currentTracked.entry.contract;
  }

  get onProbation(): boolean {
    return this.probation !== undefined;
  }

  /** Runs on the current model (no labelling, no probation check: pipelines use `lane()`). */
  run(windows: Float32Array, batch = 1): Promise<Float32Array> {
    return this.runOn(this.currentTracked, windows, batch);
  }

  lane(): ModelLane {
    // The lane's getters below are an object literal's, where `this` is that literal, so the holder needs a name.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const holder = this;
    let used: ModelEntry | undefined;
    const label = (): LoadedContract => (used ?? holder.current).contract;
    const contract: LoadedContract = {
      get manifest() { return label().manifest; },
      get manifestPath() { return label().manifestPath; },
      get dir() { return label().dir; },
      get modelPath() { return label().modelPath; },
      get variantPaths() { return label().variantPaths; },
      get goldenPath() { return label().goldenPath; },
      get featureCount() { return label().featureCount; },
      get pipeline() { return label().pipeline; },
    };
    const model: WindowModel = {
      run: async (windows, batch = 1) => {
        let tracked = holder.currentTracked;
        used = tracked.entry;
        let out: Float32Array;
        let problem: string | undefined;
        try {
          out = await holder.runOn(tracked, windows, batch);
        } catch (err) {
          if (!holder.isOnProbation(tracked) && !tracked.condemned) throw err;
          problem = `inference failed: ${(err as Error).message}`;
          out = new Float32Array(0);
        }
        if (!problem && holder.isOnProbation(tracked)) {
          problem = findBadAngle(out, tracked.entry.contract.pipeline.joints, holder.probation!.options.maxAbsAngleDeg);
          if (!problem) holder.countGoodWindow();
        }
        if (problem && holder.isOnProbation(tracked)) holder.failProbation(problem);
        if (problem || tracked.condemned) {
          // The same window again on the model now current (the old one): nothing bad is published.
          tracked = holder.currentTracked;
          used = tracked.entry;
          out = await holder.runOn(tracked, windows, batch);
        }
        return holder.plausible(out, tracked.entry);
      },
    };
    return { model, contract };
  }

  /**
   * The next run of every lane uses `next`. With probation, `current` stays
   * loaded until the verdict. Returns the replaced entry.
   */
  swap(next: ModelEntry, probation?: ProbationOptions): ModelEntry {
    if (this.probation) throw new Error("a swapped-in model is still on probation: end it first");
    const previous = this.currentTracked;
    const tracked = this.track(next);
    this.currentTracked = tracked;
    if (probation) {
      this.probation = { tracked, previous, remaining: probation.windows, options: probation };
      if (probation.windows === 0) this.passProbation();
    }
    return previous.entry;
  }

  /** Roll back now (command, or a bad output). False when nothing is on probation. */
  failProbation(reason: string): boolean {
    const p = this.probation;
    if (!p) return false;
    this.probation = undefined;
    this.currentTracked = p.previous;
    p.tracked.condemned = true;
    p.options.onVerdict({ passed: false, reason, entry: p.tracked.entry, previous: p.previous.entry });
    return true;
  }

  /** Waits for the entry's runs in flight, then stops it. */
  async retire(entry: ModelEntry): Promise<void> {
    const tracked = [...this.known].find((t) => t.entry === entry);
    if (!tracked) return;
    if (tracked === this.currentTracked) throw new Error("cannot retire the current model");
    while (tracked.inflight > 0) await new Promise<void>((resolve) => tracked.idleWaiters.push(resolve));
    this.known.delete(tracked);
    await tracked.entry.model.stop();
  }

  /** Stops every model this holder knows (runtime stop). */
  async stop(): Promise<void> {
    const all = [...this.known];
    this.known.clear();
    this.probation = undefined;
    for (const t of all) {
      while (t.inflight > 0) await new Promise<void>((resolve) => t.idleWaiters.push(resolve));
      await t.entry.model.stop();
    }
  }

  /** The output, or an ImplausibleOutputError (counted) when no joint could have it. */
  private plausible(out: Float32Array, entry: ModelEntry): Float32Array {
    const bad = findBadAngle(out, entry.contract.pipeline.joints, this.maxAbsAngleDeg);
    if (!bad) return out;
    this.implausibleDropped += 1;
    const m = entry.contract.manifest;
    throw new ImplausibleOutputError(`model ${m.name} ${m.version} output dropped: ${bad}`);
  }

  private track(entry: ModelEntry): Tracked {
    const t: Tracked = { entry, inflight: 0, idleWaiters: [], condemned: false };
    this.known.add(t);
    return t;
  }

  private isOnProbation(t: Tracked): boolean {
    return this.probation?.tracked === t;
  }

  private countGoodWindow(): void {
    const p = this.probation;
    if (!p) return;
    p.remaining -= 1;
    if (p.remaining <= 0) this.passProbation();
  }

  private passProbation(): void {
    const p = this.probation;
    if (!p) return;
    this.probation = undefined;
    p.options.onVerdict({ passed: true, entry: p.tracked.entry, previous: p.previous.entry });
  }

  private async runOn(t: Tracked, windows: Float32Array, batch: number): Promise<Float32Array> {
    t.inflight += 1;
    try {
      return await t.entry.model.run(windows, batch);
    } finally {
      t.inflight -= 1;
      if (t.inflight === 0) for (const wake of t.idleWaiters.splice(0)) wake();
    }
  }
}
