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
 *
 * What it watches against: the calibration at first, then the last stretch
 * that the full judgement found still fitting (that stretch's own calibration).
 * A calibration fits within 10 deg; one that fits at, say, 9 deg (loaded from
 * a day at another walking speed) would keep the short windows near their
 * threshold, and the watch would fire, be overruled and fire again (measured:
 * every 35 s, angles withheld two thirds of the time). Against the walking as
 * it is now, the windows are as quiet as on their own trial's calibration. A
 * slow slip is no blind spot: the full judgement still compares every stretch
 * with the calibration itself.
 */
import { withZFlipped, type StreamHandedness } from "../calibration/convert.js";
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

  /**
   * The full judgement found a stretch still fitting; `C` is that stretch's own calibration
   * (stillFits' `C`, of the stream as the calibration applies it: converted when `handedness`
   * is "left"). Watch against it from now on. True when that overrules a standing suspicion.
   */
  fitted(C: Mat3, handedness: StreamHandedness): boolean {
    const overruled = this.current !== undefined;
    this.current = undefined;
    this.watcher?.reset(handedness === "left" ? withZFlipped(C) : C);
    return overruled;
  }

  /** The full judgement says re-strapped (recalibrating): nothing stands until the new calibration is watched. */
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
