/**
 * Request/reply bookkeeping for the device's command topic
 * (edge/commands/types.ts: `{id, command, args}` -> `{id, status, error?, data?}`).
 * Pure: the caller publishes the request, feeds replies in, and calls
 * `expire(now)` from a timer; nothing here touches MQTT or the clock.
 *
 * Replies are matched by id. The ids carry a per-page random prefix, so two
 * dashboards open on the same device never take each other's replies (every
 * subscriber of `command/response` sees every reply).
 */
import type { CommandReply } from "./messages.js";

export type CommandOutcome =
  | { kind: "reply"; command: string; reply: CommandReply; elapsedMs: number }
  /** No reply in time: the device is down, or this account may not send commands (a read-only ACL drops the request silently). */
  | { kind: "timeout"; command: string; elapsedMs: number };

export interface CommandRequestPayload {
  readonly id: string;
  readonly command: string;
  readonly args?: Record<string, unknown>;
}

interface Pending {
  readonly command: string;
  readonly sentAt: number;
  readonly deadline: number;
}

export class CommandTracker {
  private readonly pending = new Map<string, Pending>();
  private next = 1;

  constructor(private readonly idPrefix: string) {}

  /** A new request to publish; it is pending until a reply or `expire` settles it. */
  request(command: string, args: Record<string, unknown> | undefined, nowMs: number, timeoutMs: number): CommandRequestPayload {
    const id = `${this.idPrefix}-${this.next++}`;
    this.pending.set(id, { command, sentAt: nowMs, deadline: nowMs + timeoutMs });
    return args ? { id, command, args } : { id, command };
  }

  /** The outcome for a reply to one of our requests; undefined for anyone else's (or a late one). */
  settle(reply: CommandReply, nowMs: number): CommandOutcome | undefined {
    if (typeof reply.id !== "string") return undefined;
    const p = this.pending.get(reply.id);
    if (!p) return undefined;
    this.pending.delete(reply.id);
    return { kind: "reply", command: p.command, reply, elapsedMs: nowMs - p.sentAt };
  }

  /** Requests whose deadline has passed, removed from the pending set. */
  expire(nowMs: number): CommandOutcome[] {
    const out: CommandOutcome[] = [];
    for (const [id, p] of this.pending) {
      if (nowMs < p.deadline) continue;
      this.pending.delete(id);
      out.push({ kind: "timeout", command: p.command, elapsedMs: nowMs - p.sentAt });
    }
    return out;
  }

  isPending(command: string): boolean {
    for (const p of this.pending.values()) if (p.command === command) return true;
    return false;
  }

  get size(): number {
    return this.pending.size;
  }
}

/** One line for the replies log: "calibrate: ok (2.1 s)" or "calibrate: error: calibration rejected ...". */
export function describeOutcome(o: CommandOutcome): string {
  const took = `${(o.elapsedMs / 1000).toFixed(1)} s`;
  if (o.kind === "timeout") return `${o.command}: no reply after ${took} (device offline, or this account may not send commands)`;
  if (o.reply.status === "error") return `${o.command}: error: ${o.reply.error ?? "(no message)"} (${took})`;
  return `${o.command}: ok${recordingSummary(o.reply.data)} (${took})`;
}

/** Pure: what a record_start / record_stop reply says (session, files), or "" for any other reply. */
export function recordingSummary(data: unknown): string {
  if (typeof data !== "object" || data === null) return "";
  const d = data as { session?: unknown; file?: unknown; files?: unknown };
  const parts: string[] = [];
  if (typeof d.session === "string") parts.push(`session ${d.session}`);
  const files = Array.isArray(d.files) ? d.files.filter((f): f is string => typeof f === "string") : typeof d.file === "string" ? [d.file] : [];
  if (files.length) parts.push(`${files.length === 1 ? "file" : "files"} ${files.join(", ")}`);
  return parts.length ? `, ${parts.join(", ")}` : "";
}
