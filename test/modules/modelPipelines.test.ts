/** The model and pipelines modules on a bare bus, with the shipped model and fakes around them. */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadManifest } from "../../edge/contract/manifest.js";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents } from "../../edge/core/events.js";
import { InferenceConfigSchema, type WindowModel } from "../../edge/inference/onnxModel.js";
import { memoryLogger } from "../../edge/log.js";
import { ModelModule } from "../../edge/modules/model.js";
import { PipelinesModule } from "../../edge/modules/pipelines.js";
import { pipelineConfigSchema } from "../../edge/runtime/pipeline.js";

// A gait-features/1 model (angles from the first window, no mounting calibration): this tests the runtime, not the shipped model.
const MODEL = "test/fixtures/models/tiny-v1/manifest.json";

describe("ModelModule", () => {
  it("refuses at start a v2 model trained with another calibration than this build's, naming it (the OTA rule, at start)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "model-calib-"));
    await cp("test/fixtures/models/tiny-v2", dir, { recursive: true });
    const file = path.join(dir, "manifest.json");
    const m = JSON.parse(await readFile(file, "utf8")) as { calibration: { algorithm: string } };
    m.calibration.algorithm = "gait-calibration/1"; // a model of the algorithm before the joint sign rule
    await writeFile(file, JSON.stringify(m));
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    const device = { publishRetained: async (): Promise<void> => {} };
    const model = new ModelModule({ model: file, inference: InferenceConfigSchema.parse({}) }, { logger, bus, device });
    await expect(model.start()).rejects.toThrow(/calibration\.algorithm: the model was trained with gait-calibration\/1, this edge build calibrates with gait-calibration\/2/);
    await rm(dir, { recursive: true, force: true });
  });

  it("publishes model info retained, follows modelChanged, and logs (never floats) a publish the broker refused", async () => {
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    const published: unknown[] = [];
    let refuse = false;
    const device = {
      publishRetained: async (_suffix: "status" | "model", payload: unknown): Promise<void> => {
        if (refuse) throw new Error("not authorized");
        published.push(payload);
      },
    };
    const model = new ModelModule({ model: MODEL, inference: InferenceConfigSchema.parse({}) }, { logger, bus, device });
    await model.start();
    try {
      expect(published).toEqual([expect.objectContaining({ name: "tiny-v1", units: "deg" })]);
      refuse = true;
      const other = await loadManifest(MODEL);
      const renamed = { ...other, manifest: { ...other.manifest, version: "9.9.9" } };
      bus.emit("modelChanged", { contract: renamed });
      expect(model.contract.manifest.version).toBe("9.9.9");
      await new Promise((r) => setImmediate(r));
      expect(logger.lines.some((l) => l.includes("could not publish model info (sent again on reconnect): not authorized"))).toBe(true);
      expect(await model.commands().get_model!.run({} as never)).toMatchObject({ version: "9.9.9" });
    } finally {
      await model.stop();
    }
  });
});

describe("PipelinesModule", () => {
  it("creates a wearer's pipeline on its first sample, says wearerStarted before pushing it, and drained after the sources end", async () => {
    const contract = await loadManifest(MODEL);
    const zeros: WindowModel = { run: async () => new Float32Array(contract.pipeline.window * contract.pipeline.joints.length) };
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    const pipelines = new PipelinesModule(pipelineConfigSchema.parse({}), { logger, bus, lane: () => ({ contract, model: zeros }) });
    const seen: string[] = [];
    bus.on("wearerStarted", ({ wearer }) => seen.push(`started ${wearer} with ${pipelines.stats()[wearer]!.samples} samples`));
    bus.on("angles", ({ message }) => seen.push(`angles ${message.wearer} ${message.seq}`));
    bus.on("drained", ({ wearers }) => seen.push(`drained ${wearers}`));
    await pipelines.start();
    for (let k = 0; k < 60; k++) {
      for (const placement of ["femur_r", "calcn_r"] as const) {
        bus.emit("sample", { wearer: "w1", placement, sample: { sensorId: placement, tUs: k * 10_000, acc: [0, 0, 9.8], gyro: [0, 0, 0] } });
      }
    }
    bus.emit("sourcesEnded", { sources: 1 });
    await new Promise<void>((resolve) => bus.on("drained", () => resolve()));
    expect(seen).toEqual(["started w1 with 0 samples", "angles w1 1", "drained 1"]);
    expect(await pipelines.commands().heading_reset!.run({} as never)).toEqual({ wearers: ["w1"] });
    await pipelines.stop();
  });
});
