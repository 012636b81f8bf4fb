/**
 * Staggered windows: wearers who start together do not all have their
 * windows due on the same tick (docs/architecture.md "Staggered windows").
 *
 * Why: a window is due every `stride` grid samples (250 ms) from the start of
 * a wearer's segment. Wearers whose streams start on the same tick (a lab
 * that starts every sensor with one button, a simulator, a device rebooting
 * with its sensors already streaming) then send ALL their windows on that
 * one tick, every 250 ms: the shipped int8 model runs one window per call
 * (its outputs depend on its batch partners, docs/contract.md "Batching"),
 * so the 25th waits for 24 others, and the other 24 ticks of the stride sit
 * idle.
 *
 * How: when a segment's window 0 is out, the planner picks the step to its
 * window 1 (1..stride samples, contract step 7): the one whose window ends
 * fall where the fewest other wearers' windows are due now. Every later
 * window keeps its place `stride` apart, and each one re-reads its wearer's
 * place, so the picture follows the wearers' clocks as they drift.
 *
 * A lone wearer, or one whose place is already free, keeps `stride` (the
 * windows of `make evaluate`, bit for bit); the others lose nothing: window 1
 * comes SOONER than it would, and publishes only its last `firstStride`
 * samples, so the published stream stays gap-free and each sample's angles
 * come from a window it lies in the newest stride of.
 *
 * Pure bookkeeping, no I/O: the clock is injected.
 */

/** The windows' grid: `stride` samples apart, `dtMs` each. */
export interface WindowGrid {
  readonly stride: number;
  readonly dtMs: number;
}

/** What a pipeline asks of the planner (tests pass fakes). */
export interface WindowPhase {
  /** `wearer`'s segment has just put out its window 0: the samples to its window 1 (1..stride). */
  firstStride(wearer: string, grid: WindowGrid): number;
  /** `wearer` has just put out a later window: its windows are due at this point of the stride now. */
  observe(wearer: string, grid: WindowGrid): void;
  /** `wearer` stopped: its windows no longer count. */
  forget(wearer: string): void;
}

export class WindowPhasePlanner implements WindowPhase {
  /** Each wearer's windows are due at `phaseMs` into the stride's period (ms, period = stride·dtMs). */
  private readonly phaseMs = new Map<string, number>();

  /** `now`: a monotonic clock in ms (the time a window is due is when its last sample arrived). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  firstStride(wearer: string, grid: WindowGrid): number {
    const { stride, dtMs } = grid;
    const period = stride * dtMs;
    const now = this.now();
    // Candidate n puts this wearer's windows n samples from now, then every period.
    // Load: the other wearers due within half a sample of that point (the same tick).
    let best = stride; // ties keep the contract's default step
    let bestLoad = this.loadAt(wearer, now % period, period, dtMs);
    for (let n = 1; n < stride && bestLoad > 0; n++) {
      const load = this.loadAt(wearer, (now + n * dtMs) % period, period, dtMs);
      if (load < bestLoad) {
        best = n;
        bestLoad = load;
      }
    }
    this.phaseMs.set(wearer, (now + best * dtMs) % period);
    return best;
  }

  observe(wearer: string, grid: WindowGrid): void {
    this.phaseMs.set(wearer, this.now() % (grid.stride * grid.dtMs));
  }

  forget(wearer: string): void {
    this.phaseMs.delete(wearer);
  }

  /** Windows due per tick of the stride (index = ms into the period / dtMs, rounded): for status and tests. */
  load(grid: WindowGrid): number[] {
    const period = grid.stride * grid.dtMs;
    const ticks = new Array<number>(grid.stride).fill(0);
    for (const phase of this.phaseMs.values()) ticks[Math.round((phase % period) / grid.dtMs) % grid.stride]! += 1;
    return ticks;
  }

  private loadAt(self: string, phase: number, period: number, dtMs: number): number {
    let n = 0;
    for (const [wearer, other] of this.phaseMs) {
      if (wearer === self) continue;
      const d = Math.abs(other - phase) % period;
      if (Math.min(d, period - d) < dtMs / 2) n += 1;
    }
    return n;
  }
}
