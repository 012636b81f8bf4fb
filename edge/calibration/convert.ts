/**
 * Contract step 2b's left-handed stream (docs/contract.md): a stream that the
 * calibration refuses as `mirrored` (a Z label flipped on acc and gyro) is
 * converted with `toRightHanded` and calibrated again, as the Python pipeline
 * does (training/gaitlstm/features.py, segment_frame). The map from such a
 * sensor to its segment is then improper, C · diag(1, 1, -1): C is the proper
 * rotation found on the converted stream. Pure.
 */
import { calibrate, type CalibrateOptions, type Calibration } from "./calibrate.js";
import { toRightHanded } from "./handedness.js";
import type { Mat3, Vec3 } from "./linalg.js";

/** A stream as the mounting applies it: "left" is converted (acc Z and gyro Z negated) before its rotation. */
export type StreamHandedness = "right" | "left";

/** A calibration with the handedness it was found in and the stretch as calibrated (converted when "left"). */
export interface ConvertedCalibration {
  readonly cal: Calibration;
  readonly handedness: StreamHandedness;
  readonly stretch: { acc: Vec3[]; gyro: Vec3[] };
}

/**
 * Pure: calibrate(); a stream refused as `mirrored` is converted (`toRightHanded`) and
 * calibrated again, as the contract's step 2b does (training/gaitlstm/features.py segment_frame).
 */
export function calibrateConverting(acc: Vec3[], gyro: Vec3[], options: CalibrateOptions): ConvertedCalibration {
  const cal = calibrate(acc, gyro, options);
  if (cal.ok || cal.reason !== "mirrored") return { cal, handedness: "right", stretch: { acc, gyro } };
  const converted = toRightHanded(acc, gyro);
  return { cal: calibrate(converted.acc, converted.gyro, options), handedness: "left", stretch: converted };
}

/** Pure: C · diag(1, 1, -1), the map of a left-handed stream: its Z flipped back, then rotated by C. */
export function withZFlipped(C: Mat3): Mat3 {
  return [
    [C[0][0], C[0][1], -C[0][2]],
    [C[1][0], C[1][1], -C[1][2]],
    [C[2][0], C[2][1], -C[2][2]],
  ];
}
