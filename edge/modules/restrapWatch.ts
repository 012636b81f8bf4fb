/**
 * One sensor's fast re-strap watch, as the mounting module (./mounting.ts)
 * uses it: the pure check of edge/calibration/restrapSuspicion.ts on every
 * grid sample of a calibrated sensor, and what stands once it fired.
 *
 * Why it exists: the full re-strap judgement (`stillFits`) comes once per
 * `walkS` (20) s of walking; until then a re-strapped sensor's data would be
 * rotated with the OLD rotation, and a gait-features/2 model would publish
 * wrong angles that look healthy. Once this fires, the mounting module hands
 * out no rotation for the sensor (the pipeline withholds the wearer's angles,
 * as for an uncalibrated sensor: docs/calibration.md "On the edge") until the
 * next full judgement, on a stretch started at the suspicion, either clears it
 * (the calibration still fits: a false alarm costs one `walkS` of angles) or
 * recalibrates.
 */
import type { Mat3, Vec3 } from "../calibration/linalg.js";
import { RestrapWatch, suspicionSettings, type Suspicion, type SuspicionSettings } from "../calibration/restrapSuspicion.js";

export class RestrapSuspect {
  private readonly settings: SuspicionSettings;
  private watcher: RestrapWatch | undefined;
  private current: Suspicion | undefined;

  constructor(placement: string) {
    this.settings = suspicionSettings(placement);
  }

  /** True from the firing until clear(): the sensor's rotation is withheld. */
  get suspected(): boolean {
    return this.current !== undefined;
  }

  /** A (new) calibration: watch the stream against its sensor -> segment map `M`. */
  watch(M: Mat3, rateHz: number): void {
    this.watcher = new RestrapWatch(M, rateHz, this.settings);
    this.current = undefined;
  }

  /** The stream broke (a new grid segment): the window restarts, a standing suspicion stays. */
  restart(): void {
    this.watcher?.reset();
  }

  /** One grid sample of the calibrated sensor; true when this sample made it fire. */
  push(acc: Vec3, gyro: Vec3): boolean {
    if (!this.watcher || this.current) return false;
    this.current = this.watcher.push(acc, gyro);
    return this.current !== undefined;
  }

  /** The full judgement decided (still fits, or recalibrating): watch afresh. */
  clear(): void {
    this.current = undefined;
    this.watcher?.reset();
  }

  /** The status's words for the standing suspicion. */
  reason(): string {
    const s = this.current;
    if (!s) return "";
    const axis = s.axisDeg === null ? "not planar" : `${s.axisDeg.toFixed(0)} deg`;
    return (
      `its ${s.what} moved in the last ${this.settings.windowS} s of walking ` +
      `(vertical ${s.verticalDeg.toFixed(0)} deg, flexion axis ${axis} from its calibration); checking it on the next stretch of walking`
    );
  }
}
