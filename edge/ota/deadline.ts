/**
 * One time budget for a whole operator command (`ota-publish --timeout`):
 * every wait on the network takes what is left of it, and a wait that runs
 * out says WHAT it was waiting for (connect, subscribe, the device...), so a
 * broker that accepts the connection and never answers cannot hang the tool.
 */
export class DeadlineError extends Error {
  override readonly name = "DeadlineError";
}

export class Deadline {
  private readonly atMs: number;

  constructor(
    /** The whole budget, for messages. */
    readonly seconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.atMs = now() + seconds * 1000;
  }

  get remainingMs(): number {
    return Math.max(0, this.atMs - this.now());
  }

  /**
   * `work`, or a DeadlineError "<what> within <seconds> s" once the budget is
   * spent. `work` keeps running (its late result or failure is ignored): the
   * caller ends whatever it was waiting on.
   */
  async race<T>(work: Promise<T>, what: string | (() => string)): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      // A function is asked when the time is up: it can say what was seen meanwhile.
      const describe = (): string => (typeof what === "function" ? what() : what);
      timer = setTimeout(() => reject(new DeadlineError(`${describe()} within ${this.seconds} s`)), this.remainingMs);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}
