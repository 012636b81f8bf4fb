/**
 * The golden self-test of a freshly loaded model: the bundle's golden
 * features in, outputs within the golden tolerance out. Windows run ONE AT A
 * TIME (batch 1), as on the edge: dynamic int8 quantization takes its
 * activation range over the whole batch, so batched outputs differ.
 */
import { loadGolden, type LoadedContract } from "../contract/manifest.js";
import type { WindowModel } from "../inference/onnxModel.js";

export interface SelfTestResult {
  readonly ok: boolean;
  readonly message: string;
  readonly variant?: string;
  readonly worstDeg?: number;
}

/** Which golden output the deployed model must reproduce (as test/features/golden.test.ts). */
export function goldenVariantFor(contract: LoadedContract, variants: readonly string[]): string | undefined {
  const file = contract.modelPath.split(/[\\/]/).pop() ?? "";
  return variants.find((v) => file.includes(v) || contract.manifest.model.quantization.includes(v));
}

export async function goldenSelfTest(model: WindowModel, contract: LoadedContract): Promise<SelfTestResult> {
  if (!contract.goldenPath) return { ok: false, message: "the bundle has no golden vectors: the model cannot be self-tested" };
  const golden = await loadGolden(contract.goldenPath, contract.manifest);
  const variant = goldenVariantFor(contract, Object.keys(golden.outputs));
  if (!variant) {
    return { ok: false, message: `golden.json has outputs for ${Object.keys(golden.outputs).join(", ")}, none for ${contract.manifest.model.file}` };
  }
  const tolerance = golden.tolerance.outputs_abs_deg[variant];
  if (tolerance === undefined) return { ok: false, message: `golden.json has no tolerance for "${variant}"` };
  const joints = contract.pipeline.joints;
  let worst = 0;
  let where = "";
  for (let w = 0; w < golden.features.length; w++) {
    const input = Float32Array.from(golden.features[w]!.flat());
    const got = await model.run(input, 1);
    const want = golden.outputs[variant]![w]!.flat();
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i]! - want[i]!);
      if (!(d <= worst)) {
        worst = Number.isNaN(d) ? Infinity : d;
        where = `window ${w}, row ${Math.floor(i / joints.length)}, ${joints[i % joints.length]}`;
      }
    }
  }
  const summary = `${golden.features.length} golden windows (${variant}): max |diff| ${worst.toPrecision(3)} deg`;
  if (worst > tolerance) return { ok: false, variant, worstDeg: worst, message: `${summary} at ${where}, tolerance ${tolerance}` };
  return { ok: true, variant, worstDeg: worst, message: `${summary}, tolerance ${tolerance}` };
}
