/**
 * Two sensors that give the mounting calibration nothing to work with, 65 s at
 * 100 Hz: a thigh that only stands (shifting weight for half a second every
 * 10 s) and a foot sensor lying on a table. Shared by the mounting module's
 * refusal test and the v2 pipeline's "no angles" test.
 */
import type { RoutedSample } from "../../edge/core/events.js";

export function standingAndStillSamples(): RoutedSample[] {
  const samples: RoutedSample[] = [];
  for (let k = 0; k < 6500; k++) {
    const tUs = k * 10_000;
    const shifting = k % 1000 < 50; // half a second of shifting weight every 10 s
    const w = shifting ? 1.0 * Math.sin((k % 1000) * 0.13) : 0.003 * Math.sin(k * 0.7);
    samples.push({ wearer: "default", placement: "femur_r", sample: { sensorId: "standing", tUs, acc: [-9.80665, 0.05 * Math.sin(k), 0], gyro: [0.002, w, 0.001] } });
    samples.push({ wearer: "default", placement: "calcn_r", sample: { sensorId: "table", tUs, acc: [0, 0, 9.80665 + 0.001 * Math.sin(k)], gyro: [0.001 * Math.sin(0.3 * k), 0.001, -0.001] } });
  }
  return samples;
}
