/**
 * The exported LSTM behind onnxruntime-node. One session, single-threaded:
 * on a Raspberry Pi the model is small (a window every 250 ms) and the other
 * cores are better spent on the sources and MQTT; single-threaded runs are
 * also what the golden outputs were produced with, so results are comparable.
 *
 * At start the graph's input and output names (and static dimensions, when
 * the graph declares them) are checked against the manifest, so a model/
 * manifest mix-up fails at load time rather than on the first window.
 */
import * as ort from "onnxruntime-node";
import { z } from "zod";
import { batchingConfigSchema } from "./batcher.js";

export const InferenceConfigSchema = z.object({
  /** onnxruntime threads inside one operator; 1 keeps the Pi's other cores free. */
  intraOpNumThreads: z.number().int().min(1).default(1),
  /**
   * Where the session runs. main: on the JS thread (onnxruntime-node runs each
   * call synchronously there). worker: on a worker thread of its own
   * (edge/inference/threadModel.ts), so inference takes a second core and
   * never blocks the event loop; same outputs, a copy per call, 15-30 MB more RSS.
   */
  thread: z.enum(["main", "worker"]).default("main"),
  /**
   * With thread worker: how many worker threads, each with its own session of
   * the model (edge/inference/inferencePool.ts). Windows due at once then run
   * side by side, each on one session, so the outputs are the same numbers;
   * each extra session costs memory (docs/architecture.md "A pool of
   * inference workers"). More than the cores left beside the main thread
   * only adds memory.
   */
  workers: z.number().int().min(1).max(16).default(1),
  /** Windows of several wearers in one call (edge/inference/batcher.ts, docs/configuration in docs/architecture.md). */
  batching: batchingConfigSchema.prefault({}),
}).superRefine((c, ctx) => {
  // The main thread has one session; a silently ignored `workers` would look like a pool that is not there.
  if (c.workers > 1 && c.thread !== "worker") {
    ctx.addIssue({ code: "custom", path: ["workers"], message: `${c.workers} workers need inference.thread "worker" (the main thread runs one session)` });
  }
});
export type InferenceConfig = z.infer<typeof InferenceConfigSchema>;

export interface OnnxModelOptions {
  /** Absolute path of the .onnx file (from `LoadedContract.modelPath` or a variant). */
  readonly path: string;
  readonly inputName: string;
  readonly outputName: string;
  /** Grid samples per window (manifest.window). */
  readonly window: number;
  /** Feature columns per sample (9 × placements). */
  readonly features: number;
  /** Output columns per sample (manifest.joints.length). */
  readonly joints: number;
  readonly config?: InferenceConfig;
}

/** What the scheduler needs from a model; tests substitute a fake. */
export interface WindowModel {
  run(windows: Float32Array, batch?: number): Promise<Float32Array>;
}

export class OnnxModel implements WindowModel {
  private session: ort.InferenceSession | undefined;

  constructor(private readonly options: OnnxModelOptions) {}

  async start(): Promise<void> {
    const o = this.options;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(o.path, {
        intraOpNumThreads: o.config?.intraOpNumThreads ?? 1,
        interOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
    } catch (err) {
      throw new Error(`${o.path}: onnxruntime cannot load the model (${(err as Error).message})`, { cause: err });
    }
    const problems: string[] = [];
    const checkName = (kind: string, names: readonly string[], want: string): void => {
      if (!names.includes(want)) {
        problems.push(`${kind} "${want}" named by the manifest is not in the graph (graph has ${JSON.stringify(names)})`);
      }
    };
    checkName("input", session.inputNames, o.inputName);
    checkName("output", session.outputNames, o.outputName);
    const checkDims = (kind: string, meta: readonly ort.InferenceSession.ValueMetadata[], name: string, want: [number, number]): void => {
      const m = meta.find((v) => v.name === name);
      if (!m || !m.isTensor || m.shape.length === 0) return; // not declared: checked on the first run instead
      const dims = m.shape;
      const fixed = (d: number | string | undefined, n: number): boolean => typeof d !== "number" || d === n;
      if (dims.length !== 3 || !fixed(dims[1], want[0]) || !fixed(dims[2], want[1])) {
        problems.push(`${kind} "${name}" has shape ${JSON.stringify(dims)}, the manifest needs [batch, ${want[0]}, ${want[1]}]`);
      }
    };
    checkDims("input", session.inputMetadata, o.inputName, [o.window, o.features]);
    checkDims("output", session.outputMetadata, o.outputName, [o.window, o.joints]);
    if (problems.length) {
      await session.release();
      throw new Error(problems.map((p) => `${o.path}: ${p}`).join("\n"));
    }
    this.session = session;
  }

  async stop(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await s.release();
  }

  /**
   * Run `batch` windows ([batch][window][features], row-major float32).
   * Returns [batch][window][joints] degrees. The input array must not be
   * modified until the promise settles (onnxruntime reads it in place).
   */
  async run(windows: Float32Array, batch = 1): Promise<Float32Array> {
    const o = this.options;
    if (!this.session) throw new Error(`${o.path}: model not started`);
    const n = batch * o.window * o.features;
    if (windows.length < n) throw new RangeError(`input holds ${windows.length} values, ${batch} window(s) need ${n}`);
    const view = windows.length === n ? windows : windows.subarray(0, n);
    const input = new ort.Tensor("float32", view, [batch, o.window, o.features]);
    const result = await this.session.run({ [o.inputName]: input });
    const out = result[o.outputName];
    if (!out || !(out.data instanceof Float32Array)) {
      throw new Error(`${o.path}: output "${o.outputName}" missing or not float32`);
    }
    const expected = batch * o.window * o.joints;
    if (out.data.length !== expected) {
      throw new Error(`${o.path}: output has ${out.data.length} values (dims ${JSON.stringify(out.dims)}), expected ${expected}`);
    }
    return out.data;
  }
}
