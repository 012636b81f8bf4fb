/**
 * The model on a worker thread of its own (`inference.thread: "worker"`).
 *
 * onnxruntime-node 1.30 runs every call synchronously on the calling thread
 * (`InferenceSession.run` only defers it with a setImmediate), so on the main
 * thread each inference blocks the event loop: sources, AHRS, publishing and
 * every other wearer wait behind it. Here the session lives on a worker
 * (edge/inference/inferenceThread.ts, the same `OnnxModel`), so inference uses
 * a second core and the main thread stays free for the per-sample path.
 *
 * The outputs are the same numbers (one session, the same options, the same
 * onnxruntime); each call costs a copy of its input and output across threads
 * (14 KB per window in, 1 KB out) and a message hop each way.
 */
import { Worker } from "node:worker_threads";
import type { OnnxModelOptions, WindowModel } from "./onnxModel.js";

type Reply = { ready: true } | { loadError: string } | { id: number; output: Float32Array } | { id: number; error: string };

interface Pending {
  readonly resolve: (output: Float32Array) => void;
  readonly reject: (error: Error) => void;
}

export interface ThreadModelHooks {
  /** The thread died on its own (a crash, an exit), not by stop(): told once, before its windows are rejected. */
  readonly onLost?: (reason: string) => void;
}

export class ThreadModel implements WindowModel {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Why the thread is gone (crashed or stopped); every later run is refused with it. */
  private dead: string | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: OnnxModelOptions,
    private readonly hooks: ThreadModelHooks = {},
  ) {}

  async start(): Promise<void> {
    const o = this.options;
    // Under tsx (development, tests) the worker is TypeScript and needs tsx's loader; built, it is plain JS.
    const ts = import.meta.url.endsWith(".ts");
    const worker = new Worker(new URL(`./inferenceThread.${ts ? "ts" : "js"}`, import.meta.url), {
      workerData: o,
      execArgv: ts ? ["--import", "tsx"] : [],
    });
    this.exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      worker.once("message", (m: Reply) => {
        if ("ready" in m) resolve();
        else reject(new Error("loadError" in m ? m.loadError : `${o.path}: unexpected first message from the inference thread`));
      });
      worker.once("error", (err: Error) => reject(new Error(`${o.path}: the inference thread failed to start: ${err.message}`, { cause: err })));
      worker.once("exit", (code) => reject(new Error(`${o.path}: the inference thread exited (code ${code}) before the model loaded`)));
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    worker.on("message", (m: Reply) => this.onReply(m));
    worker.on("error", (err: Error) => this.fail(`the inference thread crashed: ${err.message}`));
    worker.on("exit", (code) => this.fail(`the inference thread exited (code ${code})`));
    this.worker = worker;
  }

  run(windows: Float32Array, batch = 1): Promise<Float32Array> {
    const o = this.options;
    if (this.dead) return Promise.reject(new Error(`${o.path}: ${this.dead}`));
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error(`${o.path}: model not started`));
    const n = batch * o.window * o.features;
    if (windows.length < n) return Promise.reject(new RangeError(`input holds ${windows.length} values, ${batch} window(s) need ${n}`));
    const id = this.nextId++;
    const input = windows.slice(0, n); // our own copy to transfer: the caller keeps its buffer
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, input, batch }, [input.buffer]);
    });
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker || this.dead) return;
    this.dead = "model stopped";
    worker.postMessage("stop");
    await this.exited;
    this.rejectAll("model stopped");
  }

  private onReply(m: Reply): void {
    if (!("id" in m)) return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if ("error" in m) p.reject(new Error(m.error));
    else p.resolve(m.output);
  }

  private fail(reason: string): void {
    if (this.dead) return;
    this.dead = reason;
    this.worker = undefined;
    this.hooks.onLost?.(reason);
    this.rejectAll(reason);
  }

  private rejectAll(reason: string): void {
    for (const p of this.pending.values()) p.reject(new Error(`${this.options.path}: ${reason}`));
    this.pending.clear();
  }
}
