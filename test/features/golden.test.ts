/**
 * THE parity test between training (Python) and the edge (TypeScript): for
 * every exported model under models/, the golden vectors' raw samples go
 * through the edge's resampler and feature builder and must reproduce the
 * training side's features; the ONNX files must reproduce its outputs.
 *
 * No golden vectors at all is a failure, not a skip: without them nothing
 * holds the two implementations together.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { rotationAngleDeg, type Mat3 } from "../../edge/calibration/index.js";
import { loadGolden, loadManifest, manifestCalibration, type Golden, type LoadedContract } from "../../edge/contract/manifest.js";
import { OnnxModel } from "../../edge/inference/onnxModel.js";
import { compareFeatures, edgeFeaturesFromRaw, type EdgeFeatures } from "./goldenPipeline.js";

// GAIT_MODELS_DIR: check another export folder (e.g. a fresh `make export` output) the same way.
// test/fixtures/models holds small models for tests (tiny-v2: a gait-features/2 model; tiny-v1: a gait-features/1 one).
const MODEL_ROOTS = process.env.GAIT_MODELS_DIR ? [path.resolve(process.env.GAIT_MODELS_DIR)] : [path.resolve("models"), path.resolve("test/fixtures/models")];
const modelDirs = MODEL_ROOTS.flatMap((root) =>
  existsSync(root)
    ? readdirSync(root)
        .map((d) => path.join(root, d))
        .filter((d) => existsSync(path.join(d, "manifest.json")) && existsSync(path.join(d, "golden.json")))
    : [],
);

/** What a v2 golden file adds (docs/contract.md "Golden vectors (v2)"): the calibrations the edge must find on `raw`. */
const row3 = z.tuple([z.number(), z.number(), z.number()]);
const V2GoldenSchema = z.looseObject({
  calibrations: z.record(z.string(), z.looseObject({ C: z.tuple([row3, row3, row3]), quat: z.tuple([z.number(), z.number(), z.number(), z.number()]) })),
  raw_remount: z.record(z.string(), z.tuple([row3, row3, row3])),
});

/** The edge's features from the golden raw samples: v2 calibrates first, on the manifest's `calibration.seconds`. */
function edgeFeatures(contract: LoadedContract, golden: Golden): EdgeFeatures {
  const seconds = manifestCalibration(contract.manifest)?.seconds;
  return edgeFeaturesFromRaw(golden.raw, contract.pipeline, contract.pipeline.segmentFrames && seconds !== undefined ? { calibrationSeconds: seconds } : undefined);
}

describe("golden vectors", () => {
  it("exist for at least one exported model (models/<name>/{manifest,golden}.json)", () => {
    expect(modelDirs, `no models/*/golden.json under ${MODEL_ROOTS.join(" or ")}: export a model first (make export)`).not.toEqual([]);
  });

  describe.each(modelDirs.map((d) => [path.basename(d), d]))("%s", (_name, dir) => {
    let cached: { contract: LoadedContract; golden: Golden } | undefined;
    const load = async (): Promise<{ contract: LoadedContract; golden: Golden }> => {
      if (!cached) {
        const contract = await loadManifest(dir);
        if (!contract.goldenPath) throw new Error(`${contract.manifestPath}: no golden entry or its file is missing`);
        cached = { contract, golden: await loadGolden(contract.goldenPath, contract.manifest) };
      }
      return cached;
    };

    it("resampler + AHRS + feature builder reproduce the golden features", async () => {
      const { contract, golden } = await load();
      const edge = edgeFeatures(contract, golden);
      expect(edge.issues, "the resampler reported issues on clean golden data").toEqual([]);

      // grid first: a different grid explains every later difference
      expect(edge.gridT.length, "grid length (stage: resampler)").toBe(golden.grid_t.length);
      const gridErr = Math.max(0, ...edge.gridT.map((t, k) => Math.abs(t - golden.grid_t[k]!)));
      expect(gridErr, "grid times (stage: resampler)").toBeLessThan(1e-9);

      const cmp = compareFeatures(edge.windows, golden.features, contract.pipeline.placements, golden.tolerance.features_abs);
      expect(cmp.firstDifference, `features differ (max |diff| ${cmp.maxAbs.toExponential(3)})`).toBeNull();
      expect(edge.windows.length).toBe(golden.features.length);
    });

    it("gait-features/2: the edge's calibration finds the golden calibrations on raw samples in other sensor frames", async () => {
      const { contract, golden } = await load();
      if (!contract.pipeline.segmentFrames) return; // v1: no calibration in the pipeline
      const v2 = V2GoldenSchema.parse(golden);
      const edge = edgeFeatures(contract, golden);
      contract.pipeline.placements.forEach((placement, i) => {
        const cal = edge.calibrations![i]!;
        expect(cal.reason, `${placement}: the edge refused the golden calibration`).toBe("");
        const want = v2.calibrations[placement]!;
        const C = cal.C!;
        const worst = Math.max(...[0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => Math.abs(C[r]![c]! - want.C[r]![c]!))));
        expect(worst, `${placement}: |C - golden C|`).toBeLessThan(1e-9);
        cal.quat!.forEach((q, k) => expect(Math.abs(q - want.quat[k]!), `${placement}: quaternion`).toBeLessThan(1e-9));
        // The golden raw really is in another frame: a model fed it raw would see other axes.
        expect(rotationAngleDeg(v2.raw_remount[placement]! as Mat3, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])).toBeGreaterThan(30);
      });
    });

    /** ONNX file for a golden output variant: a manifest variant, or the deployed model when its name says so. */
    const variantFile = (contract: LoadedContract, variant: string): string | undefined =>
      contract.variantPaths[variant] ??
      (path.basename(contract.modelPath).includes(variant) || contract.manifest.model.quantization.includes(variant)
        ? contract.modelPath
        : undefined);

    it("the ONNX files reproduce the golden outputs from the golden features, one window per run as on the edge", async () => {
      const { contract, golden } = await load();
      const { window, joints } = { window: contract.manifest.window, joints: contract.manifest.joints.length };
      const nWindows = golden.features.length;
      const input = new Float32Array(golden.features.flat(2));
      const variants = Object.keys(golden.outputs);
      expect(variants.length).toBeGreaterThan(0);
      for (const variant of variants) {
        const file = variantFile(contract, variant);
        expect(file, `no ONNX file for golden output "${variant}"`).toBeDefined();
        const tol = golden.tolerance.outputs_abs_deg[variant];
        expect(tol, `no tolerance for "${variant}"`).toBeDefined();
        const model = new OnnxModel({
          path: file!,
          inputName: contract.pipeline.inputName,
          outputName: contract.pipeline.outputName,
          window,
          features: contract.featureCount,
          joints,
        });
        await model.start();
        try {
          const want = new Float64Array(golden.outputs[variant]!.flat(2));
          const worstDiff = (got: Float32Array): { d: number; at: string } => {
            let worst = { d: 0, i: 0 };
            want.forEach((v, i) => {
              const d = Math.abs(got[i]! - v);
              if (!(d <= worst.d)) worst = { d: Number.isNaN(d) ? Infinity : d, i };
            });
            const at = `window ${Math.floor(worst.i / (window * joints))}, row ${Math.floor(worst.i / joints) % window}, joint ${contract.pipeline.joints[worst.i % joints]}`;
            return { d: worst.d, at };
          };
          // The edge runs one window per call, so that is what must match.
          const single = new Float32Array(want.length);
          const per = window * contract.featureCount;
          for (let w = 0; w < nWindows; w++) {
            single.set(await model.run(input.subarray(w * per, (w + 1) * per), 1), w * window * joints);
          }
          const one = worstDiff(single);
          let hint = "";
          if (one.d > tol!) {
            // Dynamic int8 quantization takes its activation range over the whole
            // batch: outputs made with all windows in one call differ from the edge's.
            const all = worstDiff(await model.run(input, nWindows));
            hint = ` (all ${nWindows} windows in one batch: max |diff| ${all.d} deg${all.d <= tol! ? " -- within tolerance: the golden outputs were computed batched, the edge runs one window per call" : ""})`;
          }
          expect(one.d, `${variant}, one window per run: max |diff| ${one.d} deg at ${one.at}${hint}`).toBeLessThanOrEqual(tol!);
        } finally {
          await model.stop();
        }
      }
    });

    it("the edge's way (features from raw, one window per run) stays within the output tolerance", async () => {
      const { contract, golden } = await load();
      const edge = edgeFeatures(contract, golden);
      const { window } = contract.manifest;
      const joints = contract.manifest.joints.length;
      for (const variant of Object.keys(golden.outputs)) {
        const file = variantFile(contract, variant);
        if (!file) continue; // reported by the previous test
        const model = new OnnxModel({
          path: file,
          inputName: contract.pipeline.inputName,
          outputName: contract.pipeline.outputName,
          window,
          features: contract.featureCount,
          joints,
        });
        await model.start();
        try {
          let worst = 0;
          let where = "";
          for (let w = 0; w < Math.min(edge.windows.length, golden.features.length); w++) {
            const y = await model.run(Float32Array.from(edge.windows[w]!), 1);
            const want = golden.outputs[variant]![w]!.flat();
            want.forEach((v, i) => {
              const d = Math.abs(y[i]! - v);
              if (!(d <= worst)) {
                worst = Number.isNaN(d) ? Infinity : d;
                where = `window ${w}, row ${Math.floor(i / joints)}, joint ${contract.pipeline.joints[i % joints]}`;
              }
            });
          }
          expect(worst, `${variant}: max |diff| ${worst} deg at ${where}`).toBeLessThanOrEqual(golden.tolerance.outputs_abs_deg[variant]!);
        } finally {
          await model.stop();
        }
      }
    });
  });
});
