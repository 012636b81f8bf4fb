/**
 * The worker thread behind `ThreadModel` (edge/inference/threadModel.ts): one
 * `OnnxModel` session, exactly as on the main thread, fed over messages.
 *
 *   in:  workerData = OnnxModelOptions; then { id, input, batch } per call
 *   out: { ready: true } or { loadError } once; then { id, output } or { id, error }
 */
import { parentPort, workerData } from "node:worker_threads";
import { OnnxModel, type OnnxModelOptions } from "./onnxModel.js";

interface Call {
  readonly id: number;
  readonly input: Float32Array;
  readonly batch: number;
}

const port = parentPort;
if (!port) throw new Error("edge/inference/inferenceThread.ts runs as a worker thread only");
const model = new OnnxModel(workerData as OnnxModelOptions);
try {
  await model.start();
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ loadError: (err as Error).message });
}
port.on("message", (call: Call | "stop") => {
  if (call === "stop") {
    void model.stop().finally(() => port.close());
    return;
  }
  model.run(call.input, call.batch).then(
    (out) => {
      // A copy of our own to transfer: onnxruntime's output buffer is not ours to detach.
      const output = out.slice();
      port.postMessage({ id: call.id, output }, [output.buffer]);
    },
    (err: unknown) => port.postMessage({ id: call.id, error: err instanceof Error ? err.message : String(err) }),
  );
});
