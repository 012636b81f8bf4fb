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
 *    NaN`, and the quaternion stays NaN forever. The contract's guard: if any
 *    component is non-finite after an update, re-initialise from the current
 *    sample's accelerometer (no update for that sample) and count a reset.
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
    this.filter.update(gx, gy, gz, ax, ay, az, 0, 0, 0, this.config.dtS);
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
