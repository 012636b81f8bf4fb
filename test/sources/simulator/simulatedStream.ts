/** One simulated sensor's first `seconds` of acc and gyro, as the calibration takes them (test and figures share it). */
import type { Vec3 } from "../../../edge/calibration/index.js";

/** What of a simulator this needs: the figures script may load an older simulator file. */
interface SampleSource {
  sample(stream: number, k: number, out: Float64Array): void;
}

export function simulatedStream(sim: SampleSource, index: number, seconds: number, rateHz: number): { acc: Vec3[]; gyro: Vec3[] } {
  const out = new Float64Array(6);
  const acc: Vec3[] = [];
  const gyro: Vec3[] = [];
  for (let k = 0; k < seconds * rateHz; k++) {
    sim.sample(index, k, out);
    acc.push([out[0]!, out[1]!, out[2]!]);
    gyro.push([out[3]!, out[4]!, out[5]!]);
  }
  return { acc, gyro };
}
