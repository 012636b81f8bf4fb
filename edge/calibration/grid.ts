/**
 * Onto the calibration's 100 Hz grid, on the sample clock: the pure
 * functions of docs/calibration.md take grid-rate arrays, and a source
 * delivers whatever its sensor sends (200 Hz Camargo files, 60 Hz DOTs,
 * jittery serial boards).
 *
 * Exactly: the grid starts at the first sample's time and steps by `stepUs`
 * (10 ms); every grid time between two consecutive samples gets their linear
 * interpolation (acc and gyro, per channel). A gap of more than `maxGapUs`
 * (0.1 s) between two samples, or time going back by more than that, restarts
 * the grid at the new sample (flagged `restart`, so a consumer can cut its
 * stretch there: interpolating across a dropout would invent motion). A
 * sample at or before the previous one's time (within the gap) is dropped.
 * No filtering: the calibration's statistics are over whole strides, and
 * the gait detector's foot-slap minimum is 10-20 ms wide.
 */
import type { Vec3 } from "./linalg.js";

export interface GridSample {
  /** Grid time, µs on the sample clock. */
  readonly tUs: number;
  readonly acc: Vec3;
  readonly gyro: Vec3;
  /** First grid sample after a start or a gap. */
  readonly restart: boolean;
}

const lerp3 = (a: Vec3, b: Vec3, f: number): Vec3 => [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];

export class GridResampler {
  private prev: { tUs: number; acc: Vec3; gyro: Vec3 } | undefined;
  private nextUs = 0;
  /** Samples dropped for not moving time forward. */
  dropped = 0;

  constructor(
    readonly stepUs = 10_000,
    readonly maxGapUs = 100_000,
  ) {}

  push(tUs: number, acc: Vec3, gyro: Vec3): GridSample[] {
    const prev = this.prev;
    if (prev === undefined || tUs - prev.tUs > this.maxGapUs || prev.tUs - tUs > this.maxGapUs) {
      this.prev = { tUs, acc, gyro };
      this.nextUs = tUs + this.stepUs;
      return [{ tUs, acc, gyro, restart: true }];
    }
    if (tUs <= prev.tUs) {
      this.dropped++;
      return [];
    }
    const out: GridSample[] = [];
    const span = tUs - prev.tUs;
    for (; this.nextUs <= tUs; this.nextUs += this.stepUs) {
      const f = (this.nextUs - prev.tUs) / span;
      out.push({ tUs: this.nextUs, acc: lerp3(prev.acc, acc, f), gyro: lerp3(prev.gyro, gyro, f), restart: false });
    }
    this.prev = { tUs, acc, gyro };
    return out;
  }

  reset(): void {
    this.prev = undefined;
  }
}
