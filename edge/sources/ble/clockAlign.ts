/**
 * Puts each Movella DOT's clock on the host's, from arrival times (issue #12).
 *
 * Every DOT counts its own µs from its own power-on, so two DOTs on one body
 * disagree by seconds; the pipeline pairs the thigh and foot samples by `tUs`
 * and stalled silently on such a pair, and an offset of 50-300 ms cost 1-5 deg.
 * The DOT's own synchronisation (spec 5.3) needs a root sensor, ~10 s with the
 * links dropped and is recording-oriented; we align on what every notification
 * already gives us instead: its arrival time on the host.
 *
 * arrival = device + offset + latency, latency >= 0 (BLE connection interval,
 * radio retries, the event loop). So the offset is at most `arrival - device`,
 * and the running minimum of `arrival - device` converges on `offset +
 * minimum latency`, a latency that is about the same for every DOT on one
 * adapter (one connection interval). `tUs = device + estimate` then puts all
 * DOTs on the host time base, to within the difference of their minimum
 * latencies (a few ms), while keeping the device clock's precision between
 * samples.
 *
 * - A sample arriving earlier than the estimate allows lowers it at once
 *   (it proves the offset is smaller). If that would step `tUs` back, the
 *   sample is put 1 µs after the previous one: time never goes back because
 *   of the estimate.
 * - Clock drift (tens of ppm: ms per minute) the other way, the device clock
 *   running slow, shows as a minimum lag growing above zero: every
 *   `windowSamples` samples the estimate is raised by the window's minimum lag.
 * - A jump (a DOT that rebooted, whose clock restarted; a host clock stall):
 *   `confirmSamples` consecutive samples later than `jumpUs` are held back; if
 *   the lag stays, the estimate is taken afresh from them and the jump is
 *   reported; if the next sample is on time again, the held ones were late
 *   deliveries and go out with the old estimate.
 *
 * Pure (no clock of its own): the caller passes each arrival time.
 */

export interface ClockAlignOptions {
  /** Lag above which a sample is a possible clock jump, µs. */
  readonly jumpUs: number;
  /** Consecutive late samples that confirm a jump. */
  readonly confirmSamples: number;
  /** Samples per drift check. */
  readonly windowSamples: number;
  /** Minimum lag under which no drift correction is made, µs (arrival jitter). */
  readonly toleranceUs: number;
}

export const DEFAULT_CLOCK_ALIGN: ClockAlignOptions = {
  jumpUs: 250_000,
  confirmSamples: 3,
  windowSamples: 600, // 10 s at 60 Hz
  toleranceUs: 2_000,
};

export interface Aligned<T> {
  readonly item: T;
  readonly tUs: number;
}

export interface AlignStep<T> {
  /** Samples to deliver now, in order (none while a possible jump is held back). */
  readonly out: readonly Aligned<T>[];
  /** Set when the clock jumped and was re-aligned: what happened, for an issue. */
  readonly jump?: { readonly byUs: number };
}

interface Held<T> {
  readonly item: T;
  readonly deviceUs: number;
  readonly arrivalUs: number;
}

export class ClockAligner<T> {
  private estimate: number | undefined;
  private lastTUs = Number.NEGATIVE_INFINITY;
  private windowMin = Number.POSITIVE_INFINITY;
  private windowCount = 0;
  private held: Held<T>[] = [];

  constructor(private readonly options: ClockAlignOptions = DEFAULT_CLOCK_ALIGN) {}

  /** Current offset estimate (host - device), µs; undefined before the first sample. */
  get offsetUs(): number | undefined {
    return this.estimate;
  }

  push(item: T, deviceUs: number, arrivalUs: number): AlignStep<T> {
    const raw = arrivalUs - deviceUs;
    if (this.estimate === undefined) {
      this.estimate = raw;
      return { out: [this.emit(item, deviceUs)] };
    }
    const lag = raw - this.estimate;
    if (lag > this.options.jumpUs) {
      this.held.push({ item, deviceUs, arrivalUs });
      if (this.held.length < this.options.confirmSamples) return { out: [] };
      // Still late after several samples: the clock jumped. Re-align on the held samples.
      const fresh = Math.min(...this.held.map((h) => h.arrivalUs - h.deviceUs));
      const byUs = fresh - this.estimate;
      this.estimate = fresh;
      this.resetWindow();
      // The new time base may start before the last tUs (a clock that restarted); that is a
      // restart for the resampler, not something to hide.
      this.lastTUs = Number.NEGATIVE_INFINITY;
      const out = this.held.map((h) => this.emit(h.item, h.deviceUs));
      this.held = [];
      return { out, jump: { byUs } };
    }
    // On time: anything held was a late delivery, not a jump.
    const out = this.held.map((h) => this.emit(h.item, h.deviceUs));
    this.held = [];
    let jump: { byUs: number } | undefined;
    if (lag < 0) {
      // Earlier than possible: the offset is smaller. By a lot: the device clock leapt ahead.
      if (lag < -this.options.jumpUs) jump = { byUs: lag };
      this.estimate = raw;
      this.resetWindow();
    } else {
      this.windowMin = Math.min(this.windowMin, lag);
      if (++this.windowCount >= this.options.windowSamples) {
        // The least lag of a whole window above the jitter: the device clock runs slow.
        if (this.windowMin > this.options.toleranceUs) this.estimate += this.windowMin;
        this.resetWindow();
      }
    }
    out.push(this.emit(item, deviceUs));
    return jump ? { out, jump } : { out };
  }

  private emit(item: T, deviceUs: number): Aligned<T> {
    const estimate = this.estimate ?? 0;
    const tUs = Math.max(deviceUs + estimate, this.lastTUs + 1);
    this.lastTUs = tUs;
    return { item, tUs };
  }

  private resetWindow(): void {
    this.windowMin = Number.POSITIVE_INFINITY;
    this.windowCount = 0;
  }
}
