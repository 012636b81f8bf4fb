/**
 * The device's health, in one place: the retained `status` topic says
 * `online`, or `degraded` with a reason, from everything that can be wrong:
 *
 *   - a wearer's pipeline is unhealthy (a placement stopped sending);
 *   - a source produced no valid sample for a while (`no_valid_data`: no
 *     frames, all checksums bad, wrong mode), until it says `valid_data`.
 *
 * Never looks healthy when it is not: every open problem is in the reason,
 * and the state is `online` only when none is open. Serves `get_status` with
 * the runtime's whole stats snapshot. A failed publish is logged (it goes out
 * again on reconnect), never thrown.
 */
import { z } from "zod";
import { command, type CommandTable } from "../commands/types.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents, StatusChange } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import type { DevicePublisher } from "../mqtt/devicePublisher.js";
import type { SourceIssue } from "../sources/types.js";
import { DEFAULT_WEARER } from "./sources.js";

export interface StatusDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  readonly device: Pick<DevicePublisher, "publishRetained">;
  /** What `get_status` answers (the runtime's stats). */
  readonly snapshot: () => unknown;
  readonly now?: () => number;
}

/** Pure: the open problems (key -> reason, in the order they arose) as a status. */
export function statusOf(problems: ReadonlyMap<string, string>): StatusChange {
  return problems.size ? { state: "degraded", reason: [...problems.values()].join("; ") } : { state: "online" };
}

/** Pure: which problem a source issue opens or closes, if any. */
export function problemOf(source: string, issue: SourceIssue): { key: string; reason?: string } | undefined {
  const where = issue.sensorId ? `${source}/${issue.sensorId}` : source;
  const key = `source:${where}`;
  if (issue.kind === "no_valid_data") return { key, reason: `${where}: no valid data (${issue.message})` };
  if (issue.kind === "valid_data") return { key };
  return undefined;
}

export class StatusModule implements Module {
  readonly name = "status";
  private readonly problems = new Map<string, string>();
  private current: StatusChange = { state: "online" };
  private readonly unsubscribes: Array<() => void> = [];

  constructor(private readonly deps: StatusDeps) {}

  async start(): Promise<void> {
    const bus = this.deps.bus;
    this.unsubscribes.push(
      bus.on("health", ({ wearer, health }) => {
        const reason = health.reason ?? "unknown";
        this.set(`wearer:${wearer}`, health.healthy ? undefined : wearer === DEFAULT_WEARER ? reason : `${wearer}: ${reason}`);
      }),
      bus.on("sourceIssue", ({ source, issue }) => {
        const p = problemOf(source, issue);
        if (p) this.set(p.key, p.reason);
      }),
    );
    this.publish();
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribes.splice(0)) off();
  }

  get status(): StatusChange {
    return this.current;
  }

  commands(): CommandTable {
    return {
      get_status: command({
        summary: "the runtime's counters: pipelines (gyro bias, heading), sources, MQTT, commands, status",
        args: z.object({}).strict(),
        run: async () => this.deps.snapshot(),
      }),
    };
  }

  /** Opens (`reason` given) or closes a problem, and publishes the status if that changed it. */
  private set(key: string, reason: string | undefined): void {
    if (reason === undefined) this.problems.delete(key);
    else this.problems.set(key, reason);
    const next = statusOf(this.problems);
    if (next.state === this.current.state && next.reason === this.current.reason) return;
    this.current = next;
    this.deps.bus.emit("status", next);
    this.publish();
  }

  private publish(): void {
    const { state, reason } = this.current;
    const since = (this.deps.now ?? Date.now)();
    void this.deps.device
      .publishRetained("status", reason === undefined ? { state, since } : { state, reason, since })
      .catch((err: unknown) =>
        this.deps.logger.warn(`could not publish status ${state} (sent again on reconnect): ${err instanceof Error ? err.message : String(err)}`),
      );
  }
}
