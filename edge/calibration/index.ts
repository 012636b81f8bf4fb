/**
 * Automatic sensor-to-segment calibration from ordinary walking
 * (docs/calibration.md); the training side is training/gaitlstm/mounting/, and
 * both are held to test/fixtures/calibration/golden.json.
 */
export * from "./linalg.js";
export * from "./handedness.js";
export * from "./calibrate.js";
export * from "./convert.js";
export * from "./placement.js";
export * from "./restrapSuspicion.js";
