/**
 * Issue #9's loose end: an update whose calibration algorithm differs from the
 * one that made a stored mounting (calibration.file) must not be run with that
 * mounting (docs/ota.md, "Compatibility rules"). The install drops it through
 * the mounting module, which forgets it in calibration.file through the
 * calibration module (the file's one writer); that sensor calibrates again
 * from walking. Real modules and sessions; in-memory broker.
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadManifest } from "../../edge/contract/manifest.js";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents, MountingEvent } from "../../edge/core/events.js";
import { memoryLogger } from "../../edge/log.js";
import { CalibrationModule } from "../../edge/modules/calibration.js";
import { MountingModule } from "../../edge/modules/mounting.js";
import { OtaModule } from "../../edge/modules/ota.js";
import { createBundle } from "../../edge/ota/bundle.js";
import { CALIBRATION_ALGORITHM } from "../../edge/calibration/index.js";
import { otaConfigSchema } from "../../edge/ota/config.js";
import { ModelStore } from "../../edge/ota/modelStore.js";
import { onnxModelLoader } from "../../edge/ota/ports.js";
import { SwappableModel } from "../../edge/ota/swappableModel.js";
import { FakeMqtt, lastState, serveBundle } from "./fakeMqtt.js";
import { makeKeys, tempDir, waitFor, type Keys } from "./helpers.js";

// A gait-features/2 model: it uses the mountings (calibration algorithm CALIBRATION_ALGORITHM, this build's).
const V2_DIR = "test/fixtures/models/tiny-v2";

let work: string;
let keys: Keys;
let bundle: string;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  work = await tempDir("stale-mountings");
  keys = await makeKeys(path.join(work, "keys"));
  const model = path.join(work, "v2-0.0.2");
  await mkdir(model, { recursive: true });
  for (const f of ["model.int8.onnx", "golden.json"]) await copyFile(path.join(V2_DIR, f), path.join(model, f));
  const raw = JSON.parse(await readFile(path.join(V2_DIR, "manifest.json"), "utf8")) as Record<string, unknown> & { variants?: unknown };
  raw.version = "0.0.2";
  delete raw.variants;
  await writeFile(path.join(model, "manifest.json"), JSON.stringify(raw, null, 2) + "\n");
  bundle = path.join(work, "bundle-0.0.2");
  await createBundle({ model, privateKeyPem: keys.privatePem, out: bundle });
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const QUALITY = { planarity: 0.95, signMargin: 0.3, strides: 12, strideS: 1.1, periodicity: 0.8, seconds: 20, handednessScore: null };
const mounting = (algorithm?: string) => ({
  rotation: [1, 0, 0, 0],
  quality: QUALITY,
  savedAt: "2026-11-30T10:00:00.000Z",
  ...(algorithm ? { algorithm } : {}),
});

describe("an update with stored mountings of another calibration algorithm", () => {
  it("never applies them (not at start either), and the install makes calibration.file forget them; the others stay", async () => {
    const calibrationFile = path.join(work, "calibration.json");
    await writeFile(
      calibrationFile,
      JSON.stringify({
        format: "gait-calibration/2",
        sensors: {
          // Made by an algorithm this model was not trained with: stale.
          "w1/femur_r": { gyroBias: [0.01, 0, 0], savedAt: "2026-11-30T09:00:00.000Z", mounting: mounting("gait-calibration/9") },
          // Made by this build's algorithm, the model's own: kept.
          "w1/calcn_r": { mounting: mounting(CALIBRATION_ALGORITHM) },
        },
      }),
    );
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    const events: MountingEvent[] = [];
    bus.on("mounting", (e) => events.push(e));
    const dir = path.join(work, "models");
    const store = new ModelStore(dir, { logger });
    const contract = await store.loadStartModel(path.join(V2_DIR, "manifest.json"));
    const models = new SwappableModel({ contract, model: await onnxModelLoader()(contract) });
    const calibration = new CalibrationModule(
      { durationS: 2, maxGyroStd: 0.05, file: calibrationFile },
      { logger, bus, pipelines: { wearers: () => [], setGyroBias: () => true }, contract: () => models.contract },
    );
    const mountingModule = new MountingModule(
      { enabled: true, walkS: 20 },
      { logger, bus, store: calibration, placements: () => ["femur_r", "calcn_r"], segmentFrames: () => true },
    );
    const mqtt = new FakeMqtt();
    const ota = new OtaModule(otaConfigSchema.parse({ dir, publicKeys: [keys.publicKey], autoInstall: true, probationStrides: 0 }), {
      logger, bus, mqtt, model: { models, store }, commands: { register: () => undefined }, prefix: "gait", deviceId: "dev",
      inference: {} as never, calibration, mounting: mountingModule,
    });
    for (const m of [calibration, mountingModule, ota]) await m.start();
    stops.push(async () => {
      for (const m of [ota, mountingModule, calibration]) await m.stop();
      await models.stop();
    });
    // Another algorithm's mounting is never applied, not even at start (MountingModule.start);
    // the install still makes calibration.file forget it.
    expect(mountingModule.rotation("w1", "femur_r")).toBeUndefined();

    await serveBundle(mqtt, bundle, ota.agent!.topics);
    await waitFor("0.0.2 installed", () => {
      const s = lastState(mqtt, ota.agent!.topics.state);
      return s?.state === "idle" && s.installed_version === "0.0.2";
    }, 15_000);
    expect((await loadManifest(await store.readPointer("current") ?? "")).manifest.version).toBe("0.0.2");

    // The stale mounting is still not applied: its sensor calibrates from walking.
    expect(mountingModule.rotation("w1", "femur_r")).toBeUndefined();
    // The model's own stays.
    expect(mountingModule.rotation("w1", "calcn_r")).toBeDefined();
    expect(mountingModule.stats()["w1/calcn_r"]).toMatchObject({ state: "calibrated", source: "file" });
    // calibration.file forgets it (its gyro bias stays), written by the calibration module.
    await waitFor("the file rewritten", async () => calibration.savedMountings().length === 1);
    const file = JSON.parse(await readFile(calibrationFile, "utf8")) as { sensors: Record<string, { mounting?: unknown; gyroBias?: unknown }> };
    expect(file.sensors["w1/femur_r"]).toEqual({ gyroBias: [0.01, 0, 0], savedAt: "2026-11-30T09:00:00.000Z" });
    expect(file.sensors["w1/calcn_r"]?.mounting).toBeDefined();
    expect(logger.lines.join("\n")).toMatch(/dropped the stored mountings of w1\/femur_r; they calibrate again from walking/);
  }, 30_000);
});
