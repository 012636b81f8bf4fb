export { ReplaySource, replaySourceSchema, checkReplayCovers, type ReplaySourceConfig, type ReplaySourceDeps } from "./replay-source.js";
export { openCamargo, CAMARGO_PLACEMENTS, CAMARGO_THIGH_ACC_SIGNS, STANDARD_GRAVITY } from "./camargo.js";
export { openXsens, parseXsensMappings, readXsensMappings, xsensSensorIdFromName } from "./xsens.js";
export { openRecording } from "./recording.js";
export { detectFormat } from "./detect.js";
export { mergeByTime } from "./merge.js";
export { readLines, ReplayReadError, ReplayLineTooLongError, DEFAULT_MAX_LINE_LENGTH } from "./lines.js";
export type { ReaderItem, ReplayFormat, ReplayStream } from "./types.js";
