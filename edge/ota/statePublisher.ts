/**
 * The retained `ota/state` topic: the one place an operator or a dashboard
 * learns where an update is and why it stopped. Every change is published
 * (retained, so a late subscriber sees the latest) and logged on a change of
 * state; a transition stateMachine.ts does not allow is logged as a bug but
 * still published, so the topic never lies about what the agent does.
 */
import type { Logger } from "../log.js";
import type { OtaReasonCode, OtaStateMessage, OtaStateName, RejectedModelMessage } from "./messages.js";
import type { OtaMqtt } from "./ports.js";
import { canTransition } from "./stateMachine.js";

/** What a state message says besides the state; an offer fills version and transfer id. */
export interface StateFields {
  readonly offer?: { readonly transferId: string; readonly manifest: { readonly version: string } };
  readonly progress?: number;
  readonly reason?: string;
  readonly code?: OtaReasonCode;
  readonly offeredVersion?: string | null;
  readonly transferId?: string | null;
}

export interface StatePublisherDeps {
  readonly mqtt: Pick<OtaMqtt, "publishRetained">;
  readonly topic: string;
  readonly logger: Logger;
  /** The version running now (changes with every swap). */
  readonly installedVersion: () => string;
  /** The models rolled back here (the store's list), carried by every message. */
  readonly rejected?: () => readonly RejectedModelMessage[];
  readonly now?: () => number;
}

/** The message for a state; pure. */
export function stateMessage(
  state: OtaStateName,
  f: StateFields,
  installedVersion: string,
  nowMs: number,
  rejected: readonly RejectedModelMessage[] = [],
): OtaStateMessage {
  return {
    state,
    progress: Math.round((f.progress ?? 0) * 1000) / 1000,
    installed_version: installedVersion,
    offered_version: f.offer?.manifest.version ?? f.offeredVersion ?? null,
    reason: f.reason ?? null,
    code: f.code ?? null,
    transfer_id: f.offer?.transferId ?? f.transferId ?? null,
    since: nowMs,
    rejected: rejected.map((r) => ({ ...r })),
  };
}

export class OtaStatePublisher {
  private message: OtaStateMessage;
  private fields: StateFields = {};
  private readonly now: () => number;

  constructor(private readonly deps: StatePublisherDeps) {
    this.now = deps.now ?? Date.now;
    this.message = stateMessage("idle", {}, deps.installedVersion(), this.now(), deps.rejected?.());
  }

  get current(): Readonly<OtaStateMessage> {
    return this.message;
  }

  set(state: OtaStateName, fields: StateFields): void {
    const before = this.message.state;
    if (!canTransition(before, state)) {
      this.deps.logger.error(`OTA state ${before} -> ${state} is not a legal transition (bug); publishing it anyway`);
    }
    this.fields = fields;
    this.message = stateMessage(state, fields, this.deps.installedVersion(), this.now(), this.deps.rejected?.());
    if (before !== state) this.deps.logger.info(`OTA ${before} -> ${state}`, { reason: this.message.reason, code: this.message.code });
    void this.deps.mqtt.publishRetained(this.deps.topic, this.message).catch((err: Error) =>
      this.deps.logger.warn(`could not publish the OTA state (sent again on reconnect): ${err.message}`),
    );
  }

  /** The same state again, with what changed besides it (the rejected list). */
  refresh(fields: StateFields = this.fields): void {
    this.set(this.message.state, fields);
  }
}
