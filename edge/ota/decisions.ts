/**
 * What this device has decided about transfers, so the same retained offer
 * arriving again (every reconnect re-delivers it) is not looked at twice.
 * Bounded (RecentSet): anyone can publish offers with fresh transfer ids.
 * In memory only: after a restart a retained offer is evaluated again, which
 * gives the same verdict, except for a model undone here: that decision is on
 * disk (the store's `rejected`, rejections.ts).
 */
import { RecentSet } from "./recentSet.js";

/** Far more than an operator publishes between restarts, far less than spam could fill. */
export const REMEMBERED_TRANSFERS = 256;

export class OtaDecisions {
  /** Transfers dealt with: installed, refused, failed, rolled back. */
  private readonly settled = new RecentSet<string>(REMEMBERED_TRANSFERS);
  /** Transfers an operator postponed: autoInstall leaves them alone until `accept`. */
  private readonly postponed = new RecentSet<string>(REMEMBERED_TRANSFERS);

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

  /** An operator's `accept`: install it whatever was decided before (the agent forgets a rejection too). */
  acceptAgain(transferId: string): void {
    this.postponed.delete(transferId);
  }

  /** Transfer ids held (for stats: stays bounded whatever is offered). */
  get rememberedTransfers(): number {
    return this.settled.size + this.postponed.size;
  }
}
