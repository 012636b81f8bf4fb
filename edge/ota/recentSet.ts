/**
 * A set that keeps only the most recently added `capacity` entries. The agent
 * remembers transfers it has dealt with so a retained offer arriving again (a
 * reconnect) is not looked at twice; anyone can publish offers with fresh
 * transfer ids, so that memory must not grow with them (issue #13). Forgetting
 * an old entry only means one more evaluation of an offer that is long gone.
 */
export class RecentSet<T> {
  // A Map iterates in insertion order: the first key is the oldest.
  private readonly entries = new Map<T, true>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  has(value: T): boolean {
    return this.entries.has(value);
  }

  /** Adds (or refreshes) `value`, dropping the oldest entry beyond the capacity. */
  add(value: T): void {
    this.entries.delete(value);
    this.entries.set(value, true);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  delete(value: T): void {
    this.entries.delete(value);
  }

  clear(): void {
    this.entries.clear();
  }
}
