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

/**
 * One grid sample. The resampler owns these objects and refills them on the
 * next `push` (a foot streams 100 of them a second): read them before pushing
 * again, never keep them.
 */
export interface GridSample {
  /** Grid time, µs on the sample clock. */
  readonly tUs: number;
  readonly acc: Vec3;
  readonly gyro: Vec3;
  /** First grid sample after a start or a gap. */
  readonly restart: boolean;
}

/** A GridSample as the resampler refills it. */
interface GridSlot {
  tUs: number;
  readonly acc: [number, number, number];
  readonly gyro: [number, number, number];
  restart: boolean;
}

const newSlot = (): GridSlot => ({ tUs: 0, acc: [0, 0, 0], gyro: [0, 0, 0], restart: false });

/** out = a + f (b - a), per channel. */
function lerp3(a: Vec3, b: Vec3, f: number, out: [number, number, number]): void {
  out[0] = a[0] + f * (b[0] - a[0]);
  out[1] = a[1] + f * (b[1] - a[1]);
  out[2] = a[2] + f * (b[2] - a[2]);
}

function copy3(v: Vec3, out: [number, number, number]): void {
  out[0] = v[0];
  out[1] = v[1];
  out[2] = v[2];
}

export class GridResampler {
  /** The previous sample, copied (NaN time before the first and after a reset). */
  private prevUs = Number.NaN;
  private readonly prevAcc: [number, number, number] = [0, 0, 0];
  private readonly prevGyro: [number, number, number] = [0, 0, 0];
  private nextUs = 0;
  /** The grid samples of the latest push, reused (see GridSample); grows if one push spans more. */
  private readonly slots: GridSlot[] = [];
  /** `slots[0, count)` are the latest push's grid samples. */
  private count = 0;
  /** Samples dropped for not moving time forward. */
  dropped = 0;

  constructor(
    readonly stepUs = 10_000,
    readonly maxGapUs = 100_000,
  ) {}

  /**
   * One sample in; returns how many grid samples it completes, read with
   * `at(0)` .. `at(n - 1)` (in time order) before the next push.
   */
  push(tUs: number, acc: Vec3, gyro: Vec3): number {
    const prevUs = this.prevUs;
    if (Number.isNaN(prevUs) || tUs - prevUs > this.maxGapUs || prevUs - tUs > this.maxGapUs) {
      this.remember(tUs, acc, gyro);
      this.nextUs = tUs + this.stepUs;
      const g = this.slot(0);
      g.tUs = tUs;
      copy3(acc, g.acc);
      copy3(gyro, g.gyro);
      g.restart = true;
      return (this.count = 1);
    }
    if (tUs <= prevUs) {
      this.dropped++;
      return (this.count = 0);
    }
    let n = 0;
    const span = tUs - prevUs;
    for (; this.nextUs <= tUs; this.nextUs += this.stepUs) {
      const f = (this.nextUs - prevUs) / span;
      const g = this.slot(n++);
      g.tUs = this.nextUs;
      lerp3(this.prevAcc, acc, f, g.acc);
      lerp3(this.prevGyro, gyro, f, g.gyro);
      g.restart = false;
    }
    this.remember(tUs, acc, gyro);
    return (this.count = n);
  }

  /** Grid sample `i` of the latest push (0 <= i < what push returned). */
  at(i: number): GridSample {
    if (i < 0 || i >= this.count) throw new RangeError(`grid sample ${i} of ${this.count}`);
    return this.slots[i]!;
  }

  reset(): void {
    this.prevUs = Number.NaN;
    this.count = 0;
  }

  private remember(tUs: number, acc: Vec3, gyro: Vec3): void {
    this.prevUs = tUs;
    copy3(acc, this.prevAcc);
    copy3(gyro, this.prevGyro);
  }

  private slot(i: number): GridSlot {
    while (this.slots.length <= i) this.slots.push(newSlot());
    return this.slots[i]!;
  }
}
