/**
 * The part of the manifest that `gait-features/2` adds (docs/contract.md,
 * "The feature pipeline gait-features/2"): features in SEGMENT frames, so
 * the runtime must rotate every placement's acc and gyro by that sensor's
 * mounting calibration before the AHRS.
 *
 * Kept apart from manifest.ts so the v2 fields arrive as one small, separate
 * piece: manifest.ts uses `CalibrationBlockSchema` for `manifest.calibration`
 * and `segmentFrameProblems` among its cross-field checks. (No import of
 * manifest.ts here: it imports this file.)
 */
import { z } from "zod";

export const FEATURES_V1 = "gait-features/1";
export const FEATURES_V2 = "gait-features/2";

const POS_NUM = "expected a positive number";

/**
 * `manifest.calibration` (v2 only). Strict on what the runtime must do the
 * same way training did (the algorithm, the walking vertical, the handedness
 * check); its `constants` are for reference only: the edge has its own
 * (edge/calibration/), held to the calibration golden vectors.
 */
export const CalibrationBlockSchema = z.looseObject({
  algorithm: z.literal("gait-calibration/1"),
  seconds: z.number({ error: POS_NUM }).positive({ error: POS_NUM }).finite({ error: POS_NUM }),
  // The edge's mounting module uses the walking vertical with the handedness check on: a
  // model trained on the standing vertical would see frames tilted by 6-20 deg (docs/calibration.md).
  vertical: z.literal("walking"),
  check_handedness: z.literal(true),
  constants: z.record(z.string(), z.number()).optional(),
});
export type CalibrationBlock = z.infer<typeof CalibrationBlockSchema>;

/** What the checks below read of a manifest (structural: manifest.ts's Manifest fits). */
interface FrameView {
  readonly feature_pipeline: string;
  readonly channels: readonly { readonly name: string; readonly frame: string }[];
  readonly calibration?: CalibrationBlock | undefined;
}

/** True when the model's features are in segment frames (the runtime must apply the mounting). */
export function usesSegmentFrames(m: Pick<FrameView, "feature_pipeline">): boolean {
  return m.feature_pipeline === FEATURES_V2;
}

/** The frame acc and gyro channels must be in, for this feature pipeline. */
const IMU_FRAME: Readonly<Record<string, string>> = { [FEATURES_V1]: "sensor", [FEATURES_V2]: "segment" };

/**
 * Cross-field problems (phrased like manifest.ts's, after "<file>: "): a v2
 * manifest needs its calibration block and segment-frame acc/gyro channels; a
 * v1 manifest must not say segment (the runtime would not rotate them).
 */
export function segmentFrameProblems(m: FrameView): string[] {
  const problems: string[] = [];
  const v2 = usesSegmentFrames(m);
  if (v2 && m.calibration === undefined) {
    problems.push(`calibration: expected the calibration block of ${FEATURES_V2} (docs/contract.md step 2b), got nothing (field missing)`);
  }
  const want = IMU_FRAME[m.feature_pipeline];
  if (want === undefined) return problems;
  m.channels.forEach((c, i) => {
    if (!/^(acc|gyro)_/.test(c.name)) return;
    // v1 manifests written before the frame field meant anything may say other words; only "segment" is wrong there.
    if (v2 ? c.frame !== want : c.frame === "segment") {
      problems.push(`channels[${i}].frame: expected "${want}" for ${c.name} in ${m.feature_pipeline}, got "${c.frame}"`);
    }
  });
  return problems;
}
