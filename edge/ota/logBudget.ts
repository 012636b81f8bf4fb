/**
 * At most `perWindow` messages of one kind per `windowMs`; the rest are
 * counted and summed up in the next message that gets through. Anyone on the
 * broker can send offers, so their refusals must not be able to fill the
 * device's disk with log lines, and yet no refusal goes unaccounted for.
 * Pure: the caller passes the time.
 */
export class LogBudget {
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private usedInWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
  ) {}

  /**
   * Whether a message may be logged now; when it may, `suppressedBefore` is how
   * many were held back since the last one that was (say so in the message).
   */
  take(nowMs: number): { log: true; suppressedBefore: number } | { log: false } {
    if (nowMs - this.windowStartMs >= this.windowMs) {
      this.windowStartMs = nowMs;
      this.usedInWindow = 0;
    }
    if (this.usedInWindow >= this.perWindow) {
      this.suppressed += 1;
      return { log: false };
    }
    this.usedInWindow += 1;
    const suppressedBefore = this.suppressed;
    this.suppressed = 0;
    return { log: true, suppressedBefore };
  }
}
