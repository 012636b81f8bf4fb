/**
 * Which OTA state may follow which, and which command makes sense in which
 * state. Pure, so the rules are readable in one place and unit tested; the
 * agent (agent.ts) asks before it acts.
 *
 *   idle --offer--> available --accept--> downloading --> verifying --> installing --probation ok--> idle
 *     \---offer, autoInstall----------------/        \                    \--bad angles/command--> rolled_back
 *   any refusal or failure --> failed          postpone --> available
 */
import type { OtaCommandName, OtaStateName } from "./messages.js";

const NEXT: Readonly<Record<OtaStateName, readonly OtaStateName[]>> = {
  idle: ["idle", "available", "downloading", "failed", "rolled_back"],
  available: ["available", "downloading", "idle", "failed", "rolled_back"],
  downloading: ["downloading", "verifying", "available", "idle", "failed"],
  verifying: ["installing", "failed"],
  installing: ["installing", "idle", "rolled_back", "failed"],
  rolled_back: ["rolled_back", "available", "downloading", "failed", "idle"],
  failed: ["failed", "available", "downloading", "idle", "rolled_back"],
};

export function canTransition(from: OtaStateName, to: OtaStateName): boolean {
  return NEXT[from].includes(to);
}

/** True while files are being fetched, checked or put in place: nothing else may start. */
export function isBusy(state: OtaStateName): boolean {
  return state === "downloading" || state === "verifying" || state === "installing";
}

export interface CommandContext {
  readonly state: OtaStateName;
  /** A verified offer is known (available, postponed, or failed while downloading). */
  readonly hasOffer: boolean;
  /** The new model is still on probation (its old one is kept loaded). */
  readonly onProbation: boolean;
  /** A `previous` model is recorded in the store. */
  readonly hasPrevious: boolean;
}

/** Undefined when the command may run, else why not (sent back as the command's error). */
export function commandRefusal(command: OtaCommandName, c: CommandContext): string | undefined {
  switch (command) {
    case "check":
    case "forget_rejected":
      return undefined;
    case "accept":
      if (isBusy(c.state)) return `an update is already in progress (state ${c.state})`;
      if (!c.hasOffer) return "nothing to accept: no valid offer is available";
      return undefined;
    case "postpone":
      if (c.state === "available" || c.state === "downloading") return undefined;
      return `nothing to postpone in state ${c.state}`;
    case "rollback":
      if (c.state === "installing" && c.onProbation) return undefined;
      if (isBusy(c.state)) return `an update is in progress (state ${c.state}); postpone it first`;
      if (!c.hasPrevious) return "no previous model to roll back to";
      return undefined;
  }
}
