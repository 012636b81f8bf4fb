/**
 * What this device has decided about transfers and models, so the same
 * retained offer arriving again (every reconnect re-delivers it) is not
 * looked at twice, and a model undone here is not installed again by itself.
 * Bounded (RecentSet): anyone can publish offers with fresh transfer ids.
 * In memory only: after a restart a retained offer is evaluated again
 * (docs/ota.md, known limits).
 */
import { RecentSet } from "./recentSet.js";

/** Far more than an operator publishes between restarts, far less than spam could fill. */
export const REMEMBERED_TRANSFERS = 256;

export class OtaDecisions {
  /** Transfers dealt with: installed, refused, failed, rolled back. */
  private readonly settled = new RecentSet<string>(REMEMBERED_TRANSFERS);
  /** Transfers an operator postponed: autoInstall leaves them alone until `accept`. */
  private readonly postponed = new RecentSet<string>(REMEMBERED_TRANSFERS);
  /** Model sha256s undone on this device. */
  private readonly undone = new RecentSet<string>(REMEMBERED_TRANSFERS);

  settle(transferId: string | null | undefined): void {
    if (transferId) this.settled.add(transferId);
  }

  isSettled(transferId: string): boolean {
    return this.settled.has(transferId);
  }

  /** `check`: look at every retained offer again. */
  forgetSettled(): void {
    this.settled.clear();
  }

  postpone(transferId: string): void {
    this.postponed.add(transferId);
  }

  isPostponed(transferId: string): boolean {
    return this.postponed.has(transferId);
  }

  modelUndone(modelSha256: string): void {
    this.undone.add(modelSha256);
  }

  wasUndone(modelSha256: string): boolean {
    return this.undone.has(modelSha256);
  }

  /** An operator's `accept`: install it whatever was decided before. */
  acceptAgain(transferId: string, modelSha256: string): void {
    this.postponed.delete(transferId);
    this.undone.delete(modelSha256);
  }

  /** Transfer ids held (for stats: stays bounded whatever is offered). */
  get rememberedTransfers(): number {
    return this.settled.size + this.postponed.size;
  }
}
