/**
 * The liveness gate in front of QoS 0 live messages (the angles): pure
 * bookkeeping, no I/O and no timers; connection.ts owns the socket, the probe
 * (an MQTT PINGREQ) and the clock, and asks the gate what to do.
 *
 * Why (issue #13, the outage check): a broker that freezes (SIGSTOP, a hung
 * process, a stalled NAT) keeps its TCP connection open, and the kernel keeps
 * accepting what we write into it. Before the keepalive notices (1.5 x 3 s),
 * every angles message written meanwhile sits in the broker's receive buffer
 * and is delivered when it resumes, seconds old, as if it were live. Bytes
 * handed to a socket cannot be taken back, so the only way to keep old angles
 * off the wire is not to write them until the broker has proven it is
 * reading NOW:
 *
 *   offer(msg)       the message is held; if no probe is in flight, "probe"
 *                    (the connection sends a PINGREQ).
 *   answered()       the PINGRESP came: the broker read the probe a moment
 *                    ago, so it is alive; every held message is released to
 *                    be written (each at most `budgetMs` old).
 *   expire()         held messages older than `budgetMs` are dropped and
 *                    counted: a subscriber never sees them, they are not
 *                    "sent". A probe unanswered for longer is a stall.
 *
 * Held messages wait one round trip (well under a millisecond on the LAN).
 * While a probe is in flight, new messages join the batch it will release,
 * so a busy device sends one probe per batch, not one per message.
 *
 * What remains: the broker can freeze in the instant between answering the
 * probe and reading the messages released by that answer (half a round
 * trip), and those few are delivered late. The keepalive still owns dead-link
 * detection (the connection is replaced after 1.5 x keepalive of silence);
 * this gate only decides what is worth writing meanwhile.
 */

export interface HeldMessage {
  readonly topic: string;
  readonly body: string;
  /** When it was offered (ms, the caller's clock). */
  readonly heldAtMs: number;
}

export interface GateStats {
  /** Messages dropped because no probe was answered within the budget. */
  readonly expired: number;
  /** Probes that stayed unanswered past the budget (each starts a stall). */
  readonly stalls: number;
  /** True from a probe unanswered past the budget until its answer. */
  readonly stalled: boolean;
}

export class LiveGate {
  private held: HeldMessage[] = [];
  /** When the probe in flight was sent; undefined when none is. */
  private probeSentAtMs: number | undefined;
  private expiredCount = 0;
  private stallCount = 0;
  private stalledSinceMs: number | undefined;

  /** @param budgetMs how long a message may wait for the broker's answer before it is not worth sending. */
  constructor(readonly budgetMs: number) {
    if (!(budgetMs > 0)) throw new Error(`LiveGate budget must be > 0 ms, got ${budgetMs}`);
  }

  /** Holds a message; returns true when the caller must send a probe now. */
  offer(topic: string, body: string, nowMs: number): boolean {
    this.held.push({ topic, body, heldAtMs: nowMs });
    if (this.probeSentAtMs !== undefined) return false;
    this.probeSentAtMs = nowMs;
    return true;
  }

  /**
   * The probe's answer came: returns the messages to write now (in order)
   * and, when the broker had been stalled, for how long (to log it once).
   * Messages older than the budget are dropped even here: an answer that
   * comes late (after a freeze) must not release what was held through it.
   */
  answered(nowMs: number): { release: HeldMessage[]; stalledForMs?: number } {
    if (this.probeSentAtMs === undefined) return { release: [] };
    this.probeSentAtMs = undefined;
    const stalledSince = this.stalledSinceMs;
    this.stalledSinceMs = undefined;
    const release = this.dropExpired(nowMs);
    this.held = [];
    return stalledSince === undefined ? { release } : { release, stalledForMs: nowMs - stalledSince };
  }

  /**
   * Drops held messages past the budget; returns true once per stall, when
   * the probe in flight has gone unanswered past the budget (to log it).
   */
  expire(nowMs: number): boolean {
    this.held = this.dropExpired(nowMs);
    if (this.probeSentAtMs === undefined || this.stalledSinceMs !== undefined) return false;
    if (nowMs - this.probeSentAtMs <= this.budgetMs) return false;
    this.stalledSinceMs = this.probeSentAtMs;
    this.stallCount++;
    return true;
  }

  /**
   * The link is gone (closed, replaced): the probe will never be answered.
   * Returns how many held messages were dropped with it.
   */
  reset(): number {
    const dropped = this.held.length;
    this.expiredCount += dropped;
    this.held = [];
    this.probeSentAtMs = undefined;
    this.stalledSinceMs = undefined;
    return dropped;
  }

  get heldCount(): number {
    return this.held.length;
  }

  stats(): GateStats {
    return { expired: this.expiredCount, stalls: this.stallCount, stalled: this.stalledSinceMs !== undefined };
  }

  /** The held messages still within the budget; counts the others. */
  private dropExpired(nowMs: number): HeldMessage[] {
    const fresh = this.held.filter((m) => nowMs - m.heldAtMs <= this.budgetMs);
    this.expiredCount += this.held.length - fresh.length;
    return fresh;
  }
}
