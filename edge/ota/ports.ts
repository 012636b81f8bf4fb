/**
 * What the OTA parts need from the rest of the device, as narrow interfaces:
 * the MQTT client slice and the way to open an inference session. Tests
 * substitute both (test/ota/fakeMqtt.ts); the runtime passes its MQTT client
 * and `onnxModelLoader`.
 */
import type { LoadedContract } from "../contract/manifest.js";
import { WindowBatcher, batchingConfigSchema, shouldBatch } from "../inference/batcher.js";
import { InferencePool, type InferenceHealthEvent } from "../inference/inferencePool.js";
import { OnnxModel, type InferenceConfig } from "../inference/onnxModel.js";
import { ThreadModel } from "../inference/threadModel.js";
import type { MessageHandler } from "../mqtt/connection.js";
import type { StoppableModel } from "./swappableModel.js";

/** The slice of MqttPublisher the agent uses (tests may substitute). */
export interface OtaMqtt {
  readonly connected: boolean;
  subscribe(filter: string, handler: MessageHandler, qos?: 0 | 1): () => Promise<void>;
  publish(topic: string, payload: string | Buffer, options?: { qos?: 0 | 1; retain?: boolean }): Promise<boolean>;
  publishRetained(topic: string, payload: object | string | Buffer): Promise<void>;
}

/** Loads a verified model folder into a NEW inference session. */
export type ModelLoader = (contract: LoadedContract) => Promise<StoppableModel>;

let sessionsLoaded = 0;

/**
 * The sessions of `inference`: on the main thread, or a pool of
 * `inference.workers` worker threads (edge/inference/inferencePool.ts); under
 * the batcher where batching applies. `onHealth` hears a pool's lost workers.
 */
export function onnxModelLoader(inference?: InferenceConfig, onHealth?: (event: InferenceHealthEvent) => void): ModelLoader {
  return async (contract) => {
    const p = contract.pipeline;
    const options = {
      path: contract.modelPath,
      inputName: p.inputName,
      outputName: p.outputName,
      window: p.window,
      features: contract.featureCount,
      joints: p.joints.length,
      config: inference,
    };
    const label = `${contract.manifest.name} ${contract.manifest.version}`;
    const session = `${label} #${++sessionsLoaded}`;
    const model =
      inference?.thread === "worker"
        ? new InferencePool((_index, onLost) => new ThreadModel(options, { onLost }), {
            workers: inference.workers,
            label,
            onHealth: (health) => onHealth?.({ session, health }),
          })
        : new OnnxModel(options);
    await model.start();
    // One batcher per session, shared by every pipeline's lane (edge/inference/batcher.ts);
    // only where batching is exact, unless the config opts into coupled batching.
    const batching = inference?.batching ?? batchingConfigSchema.parse({});
    const batched = shouldBatch(batching, contract.manifest.model.quantization);
    // On the main thread, an unbatched model still goes through a batcher of one: many
    // wearers' windows due on one tick would otherwise be queued as that many setImmediates
    // (onnxruntime-node defers each run with one) and run back to back in ONE check phase,
    // with no I/O polled for the whole burst (37 ms at 100 wearers). The live gate's probe
    // answer then waited behind it, and every angles message with it (connection.ts,
    // liveGate.ts): e2e p50 41 ms against 18 ms handed to MQTT. One at a time, the next
    // run is deferred from the previous one's result, so the loop polls between windows.
    // Same calls, one window each, first in first out: outputs and order unchanged.
    if (!batched && inference?.thread === "worker") return model;
    return new WindowBatcher(model, {
      maxBatch: batched ? batching.maxBatch : 1,
      maxWaitMs: batched ? batching.maxWaitMs : 0,
      windowLength: p.window * contract.featureCount,
      outputLength: p.window * p.joints.length,
      concurrency: inference?.thread === "worker" ? inference.workers : 1,
    });
  };
}
