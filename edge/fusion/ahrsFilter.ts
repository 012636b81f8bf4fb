/**
 * One Madgwick IMU filter per placement, on top of npm `ahrs` 1.3.3 — the exact
 * implementation named by the model contract (`manifest.ahrs.implementation`).
 * Training runs a line-for-line Python port of the same file
 * (`training/gaitlstm/ahrs.py`); the golden vectors check that they agree.
 *
 * The package has two traps this wrapper exists to defuse:
 *
 * 1. It reads `sampleInterval` as MILLISECONDS (Madgwick.js: `sampleFreq =
 *    1000 / sampleInterval`). We pass `1000 / rate` to the constructor AND pass
 *    `dt` seconds on every `update`, so neither reading can be wrong.
 * 2. Its 6-axis step normalises the gradient with `(s·s) ** -0.5`; when the
 *    gradient is exactly zero (accelerometer exactly aligned with the
 *    estimate, e.g. identity attitude and acc = (0, 0, g)) that is `0 * ∞ =
 *    NaN`, and the quaternion stays NaN forever. A zero gradient means "no
 *    correction needed", so before each update we compute `s·s` exactly as
 *    the package does and, when it is 0, hand the package a zero
 *    accelerometer, which makes it skip the correction: a pure gyro step, the
 *    filter's own answer (contract step 3; the Python port does the same).
 *    As a last resort, a non-finite quaternion after an update (a non-finite
 *    input) re-initialises from the accelerometer and counts a reset.
 *
 * Also: `init` with an undefined magnetometer gives NaN, so we always pass
 * (0, 0, 0) — attitude from gravity, heading 0 — and the same zero
 * magnetometer on `update` selects the package's 6-axis branch.
 *
 * Heading: without a magnetometer, yaw is relative to wherever the filter
 * started. `headingOffsetRad` (set by the heading-reset command via
 * `resetHeading()`) only changes what `headingRad()` reports for display. It
 * never touches the quaternion, so the model's features are unaffected — they
 * use yaw relative to each window's first sample anyway (contract step 5).
 */
import AHRS from "ahrs";
import { z } from "zod";
import { eulerZYX, wrapAngle } from "../features/euler.js";

/**
 * Whether the package's gradient step would be exactly zero (then it divides
 * 0 by 0). Same expressions, in the same order, as Madgwick.js, so the answer
 * is bit-exact.
 */
export function zeroCorrection(q: ArrayLike<number>, ax: number, ay: number, az: number): boolean {
  if (ax === 0 && ay === 0 && az === 0) return false; // the package skips the correction itself
  const q0 = q[0]!, q1 = q[1]!, q2 = q[2]!, q3 = q[3]!;
  const recipNorm = (ax * ax + ay * ay + az * az) ** -0.5;
  ax *= recipNorm;
  ay *= recipNorm;
  az *= recipNorm;
  const _2q0 = 2.0 * q0, _2q1 = 2.0 * q1, _2q2 = 2.0 * q2, _2q3 = 2.0 * q3;
  const _4q0 = 4.0 * q0, _4q1 = 4.0 * q1, _4q2 = 4.0 * q2;
  const _8q1 = 8.0 * q1, _8q2 = 8.0 * q2;
  const q0q0 = q0 * q0, q1q1 = q1 * q1, q2q2 = q2 * q2, q3q3 = q3 * q3;
  const s0 = _4q0 * q2q2 + _2q2 * ax + _4q0 * q1q1 - _2q1 * ay;
  const s1 = _4q1 * q3q3 - _2q3 * ax + 4.0 * q0q0 * q1 - _2q0 * ay - _4q1 + _8q1 * q1q1 + _8q1 * q2q2 + _4q1 * az;
  const s2 = 4.0 * q0q0 * q2 + _2q0 * ax + _4q2 * q3q3 - _2q3 * ay - _4q2 + _8q2 * q1q1 + _8q2 * q2q2 + _4q2 * az;
  const s3 = 4.0 * q1q1 * q3 - _2q1 * ax + 4.0 * q2q2 * q3 - _2q2 * ay;
  return s0 * s0 + s1 * s1 + s2 * s2 + s3 * s3 === 0;
}

/** The parts of the package's filter object we use; `init` is missing from its index.d.ts. */
interface MadgwickHandle {
  update(
    gx: number,
    gy: number,
    gz: number,
    ax: number,
    ay: number,
    az: number,
    mx: number,
    my: number,
    mz: number,
    deltaTimeSec: number,
  ): void;
  init(ax: number, ay: number, az: number, mx: number, my: number, mz: number): void;
  getQuaternion(): { w: number; x: number; y: number; z: number };
}

export const AhrsConfigSchema = z.object({
  /** Madgwick gain (manifest.ahrs.beta). The package treats 0 as "unset" (0.4), so it must be > 0. */
  beta: z.number().positive().default(0.1),
  /** Filter step in seconds (manifest.ahrs.dt_s = 1 / sample_rate_hz). */
  dtS: z.number().positive().default(0.01),
});
export type AhrsConfig = z.infer<typeof AhrsConfigSchema>;

function createMadgwick(config: AhrsConfig): MadgwickHandle {
  const filter = new AHRS({
    algorithm: "Madgwick",
    beta: config.beta,
    sampleInterval: 1000 * config.dtS, // milliseconds, see trap 1 above
    doInitialisation: false,
  });
  return filter as unknown as MadgwickHandle;
}

export class AhrsFilter {
  private filter: MadgwickHandle;
  private started = false;
  private readonly euler = new Float64Array(3);
  /** Quaternion after the last sample, w, x, y, z (sensor to earth). */
  readonly q = new Float64Array([1, 0, 0, 0]);
  /** How many times the NaN guard re-initialised the filter. */
  resets = 0;
  /** Updates whose gradient was exactly zero and ran as a pure gyro step. */
  zeroCorrections = 0;
  /** Subtracted from the reported heading only (see file comment). */
  headingOffsetRad = 0;

  private readonly config: AhrsConfig;

  constructor(config: z.input<typeof AhrsConfigSchema>) {
    this.config = AhrsConfigSchema.parse(config);
    this.filter = createMadgwick(this.config);
  }

  /** True once the first sample initialised the filter. */
  get isStarted(): boolean {
    return this.started;
  }

  /**
   * Feed one grid sample: gyro rad/s, acc m/s², sensor frame. The first
   * sample only initialises the attitude from gravity (contract step 3: right
   * after init the correction is rounding noise that the package would turn
   * into a full step whose direction differs between V8 and CPython).
   */
  update(ax: number, ay: number, az: number, gx: number, gy: number, gz: number): void {
    if (!this.started) {
      this.filter.init(ax, ay, az, 0, 0, 0);
      this.started = true;
      this.readQuaternion();
      return;
    }
    if (zeroCorrection(this.q, ax, ay, az)) {
      this.zeroCorrections += 1;
      this.filter.update(gx, gy, gz, 0, 0, 0, 0, 0, 0, this.config.dtS);
    } else {
      this.filter.update(gx, gy, gz, ax, ay, az, 0, 0, 0, this.config.dtS);
    }
    if (!this.readQuaternion()) {
      this.resets += 1;
      this.filter.init(ax, ay, az, 0, 0, 0);
      if (!this.readQuaternion()) {
        // A non-finite accelerometer makes init NaN too; start over from identity
        // rather than stay NaN. Bad values are normally stopped by the sources.
        this.filter = createMadgwick(this.config);
        this.readQuaternion();
      }
    }
  }

  /** Forget the attitude: the next sample initialises from gravity again. Keeps counters. */
  reset(): void {
    this.filter = createMadgwick(this.config);
    this.started = false;
    this.q.set([1, 0, 0, 0]);
  }

  /** Make the current heading read zero (heading-reset command). Display only. */
  resetHeading(): void {
    this.headingOffsetRad = this.rawHeadingRad();
  }

  /** Heading (ZYX yaw of the filter quaternion) minus the offset, wrapped to (-π, π]. */
  headingRad(): number {
    return wrapAngle(this.rawHeadingRad() - this.headingOffsetRad);
  }

  private rawHeadingRad(): number {
    const q = this.q;
    eulerZYX(q[0]!, q[1]!, q[2]!, q[3]!, this.euler);
    return this.euler[2]!;
  }

  /**
   * Copy the package's quaternion into `q`; false if any component is not
   * finite. (The package returns a fresh small object per call: the one
   * allocation per sample we cannot avoid without forking it.)
   */
  private readQuaternion(): boolean {
    const { w, x, y, z } = this.filter.getQuaternion();
    this.q[0] = w;
    this.q[1] = x;
    this.q[2] = y;
    this.q[3] = z;
    return Number.isFinite(w) && Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(z);
  }
}
