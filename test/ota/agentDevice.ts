/**
 * One OTA device for the agent-level tests, wired the way EdgeRuntime does at
 * start when `ota` is configured: store -> start model -> holder -> agent, on
 * an in-memory broker (fakeMqtt.ts), with the real model and real sessions.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { memoryLogger } from "../../edge/log.js";
import { OtaAgent, onnxModelLoader, type ModelLoader } from "../../edge/ota/agent.js";
import { otaConfigSchema, type OtaConfigInput } from "../../edge/ota/config.js";
import { ModelStore, type CrashPoint } from "../../edge/ota/modelStore.js";
import { SwappableModel } from "../../edge/ota/swappableModel.js";
import type { FakeMqtt, ServedBundle } from "./fakeMqtt.js";
import { MODEL, MODEL_DIR } from "./helpers.js";

export interface AgentDevice {
  readonly agent: OtaAgent;
  readonly models: SwappableModel;
  readonly store: ModelStore;
  readonly mqtt: FakeMqtt;
  readonly logger: ReturnType<typeof memoryLogger>;
}

export interface AgentDeviceOptions {
  readonly mqtt: FakeMqtt;
  readonly dir: string;
  readonly publicKey: string;
  readonly ota?: Partial<OtaConfigInput>;
  readonly loadModel?: ModelLoader;
  readonly crashPoint?: (point: CrashPoint, file: string) => void;
  /** The broker keeps the operator's offer retained: a new connection gets it again, before the agent starts. */
  readonly retainedOffer?: ServedBundle;
  /** More agent dependencies (e.g. `serveCommands`). */
  readonly extra?: { serveCommands?: boolean };
}

/** Starts the device; `running` gets its stop (agent, then the model sessions). */
export async function startAgentDevice(o: AgentDeviceOptions, running: Array<() => Promise<void>>): Promise<AgentDevice> {
  const logger = memoryLogger();
  const store = new ModelStore(o.dir, { logger, ...(o.crashPoint ? { crashPoint: o.crashPoint } : {}) });
  const contract = await store.loadStartModel(MODEL);
  const models = new SwappableModel({ contract, model: await onnxModelLoader()(contract) });
  const agent = new OtaAgent(otaConfigSchema.parse({ dir: o.dir, publicKeys: [o.publicKey], ...o.ota }), {
    logger, mqtt: o.mqtt, prefix: "gait", deviceId: "dev", models, store,
    loadModel: o.loadModel ?? onnxModelLoader(), onModelChanged: () => undefined, ...o.extra,
  });
  if (o.retainedOffer) o.mqtt.inject(agent.topics.offer, JSON.stringify(o.retainedOffer.offer), { retain: true });
  await agent.start();
  running.push(async () => {
    await agent.stop();
    await models.stop();
  });
  return { agent, models, store, mqtt: o.mqtt, logger };
}

/** A model loader that passes the golden self-test, then answers every live window with NaN (a probation failure). */
export async function nanAfterGolden(): Promise<ModelLoader> {
  const golden = JSON.parse(await readFile(path.join(MODEL_DIR, "golden.json"), "utf8")) as { features: unknown[] };
  return async (c) => {
    const real = await onnxModelLoader()(c);
    let runs = 0;
    return {
      run: async (w, b) => ((runs += 1) > golden.features.length ? (await real.run(w, b)).map(() => Number.NaN) : real.run(w, b)),
      stop: () => real.stop(),
    };
  };
}
