/**
 * The device's health, in one place: the retained `status` topic says
 * `online`, or `degraded` with a reason, from everything that can be wrong:
 *
 *   - a wearer's pipeline is unhealthy (a placement stopped sending);
 *   - an inference worker of the model's pool was lost (its windows failed
 *     to their pipelines; the others carry on), until that session stops;
 *   - the device cannot keep up: stride windows (or too many per-sample
 *     outputs) skipped for newer ones (edge/modules/loadWatch.ts);
 *   - a source produced no valid sample for a while (`no_valid_data`: no
 *     frames, all checksums bad, wrong mode), until it says `valid_data`;
 *   - a sensor's mounting calibration (edge/modules/mounting.ts) was refused,
 *     is suspected of a re-strap (the fast watch) or stopped fitting (the full
 *     judgement), or its leg's thigh and foot look swapped.
 *
 * A sensor still CALIBRATING its mounting is a note, not a problem: the
 * status stays `online` with the progress in the reason. With a v1 model
 * (sensor-frame features) the angles do not depend on the mounting, only the
 * gait events wait for it; with a gait-features/2 model the angles wait too,
 * and the note says so ("no angles until then"): calibrating is the normal
 * first 20-30 s of walking, not a fault, but nobody should wonder where the
 * angles are.
 *
 * Never looks healthy when it is not: every open problem is in the reason,
 * and the state is `online` only when none is open. Serves `get_status` with
 * the runtime's whole stats snapshot. A failed publish is logged (it goes out
 * again on reconnect), never thrown.
 */
import { z } from "zod";
import { command, type CommandTable } from "../commands/types.js";
import type { EventBus } from "../core/bus.js";
import type { EdgeEvents, MountingEvent, StatusChange } from "../core/events.js";
import type { Module } from "../core/module.js";
import type { Logger } from "../log.js";
import type { DevicePublisher } from "../mqtt/devicePublisher.js";
import type { SourceIssue } from "../sources/types.js";
import { CONVERTED_TEXT } from "./mounting.js";
import { DEFAULT_WEARER } from "./sources.js";

export interface StatusDeps {
  readonly logger: Logger;
  readonly bus: EventBus<EdgeEvents>;
  readonly device: Pick<DevicePublisher, "publishRetained">;
  /** What `get_status` answers (the runtime's stats). */
  readonly snapshot: () => unknown;
  readonly now?: () => number;
}

/**
 * Most problems and notes the status's reason lists by name; the rest are counted. A
 * fleet of 1000 wearers calibrating at once would otherwise publish a reason of 2000
 * notes (over 150 KB, beyond the topic's size cap) on every progress step, and build
 * it in O(sensors) each time: O(sensors²) work during a fleet's first walk.
 * `get_status` still lists every sensor (its `mounting` stats).
 */
export const STATUS_REASON_ITEMS = 10;

/** Pure: the open problems (key -> reason, in the order they arose), then the notes, as a status. */
export function statusOf(problems: ReadonlyMap<string, string>, notes: ReadonlyMap<string, string> = new Map()): StatusChange {
  const total = problems.size + notes.size;
  if (!total) return { state: "online" };
  const named: string[] = [];
  for (const r of problems.values()) {
    if (named.length === STATUS_REASON_ITEMS) break;
    named.push(r);
  }
  for (const r of notes.values()) {
    if (named.length === STATUS_REASON_ITEMS) break;
    named.push(r);
  }
  if (total > named.length) {
    const moreProblems = Math.max(0, problems.size - STATUS_REASON_ITEMS);
    const moreNotes = total - named.length - moreProblems;
    const parts = [moreProblems ? `${moreProblems} more problem${moreProblems === 1 ? "" : "s"}` : "", moreNotes ? `${moreNotes} more note${moreNotes === 1 ? "" : "s"}` : ""];
    named.push(`and ${parts.filter(Boolean).join(" and ")} (get_status lists every sensor)`);
  }
  return { state: problems.size ? "degraded" : "online", reason: named.join("; ") };
}

/** Pure: what a mounting event does to the status: a problem, a note, or neither (calibrated). */
export function mountingEffect(e: MountingEvent): { problem?: string; note?: string } {
  const effect = mountingEffectOnly(e);
  // A segment-frame model publishes nothing for this wearer while a mounting problem stands: say so.
  return e.anglesWait && effect.problem !== undefined ? { problem: `${effect.problem}; angles withheld` } : effect;
}

function mountingEffectOnly(e: MountingEvent): { problem?: string; note?: string } {
  const who = e.wearer === DEFAULT_WEARER ? e.placement : `${e.wearer}/${e.placement}`;
  switch (e.state) {
    case "calibrating":
      // After a refusal it keeps trying, and the refusal stays the reason until one succeeds.
      if (e.reason !== undefined) return { problem: `${who}: mounting calibration refused (${e.reason}), retrying ${pct(e.progress)}` };
      return {
        note: e.anglesWait
          ? `${who}: calibrating mounting ${pct(e.progress)} (keep walking; no angles until then)`
          : `${who}: calibrating mounting ${pct(e.progress)} (angles do not depend on it; gait events wait for it)`,
      };
    case "calibrated":
      // Working, but a wiring fault the installer should know of: a note, not a problem.
      return e.handedness === "left" ? { note: `${who}: ${CONVERTED_TEXT}` } : {};
    case "refused":
      return { problem: `${who}: mounting calibration refused (${e.reason ?? "no reason given"})` };
    case "restrap_suspected":
      return { problem: `re-strap suspected: ${who} (${e.reason ?? "no longer looks calibrated"})` };
    case "stopped_fitting":
      return { problem: `${who}: stopped fitting its mounting calibration (${e.reason ?? "re-strapped?"})` };
    case "swapped":
      return { problem: `${e.wearer === DEFAULT_WEARER ? "" : `${e.wearer}: `}${e.reason ?? "thigh and foot sensors look swapped"}` };
  }
}

const pct = (p: number | undefined): string => `${Math.round((p ?? 0) * 100)}%`;

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
  private readonly notes = new Map<string, string>();
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
      bus.on("inferenceHealth", ({ session, health }) => {
        this.set(`inference:${session}`, health.healthy ? undefined : (health.reason ?? "inference worker lost"));
      }),
      bus.on("load", (health) => this.set("load", health.healthy ? undefined : (health.reason ?? "overloaded"))),
      bus.on("sourceIssue", ({ source, issue }) => {
        const p = problemOf(source, issue);
        if (p) this.set(p.key, p.reason);
      }),
      bus.on("mounting", (e) => {
        const key = `mounting:${e.wearer}/${e.placement}`;
        const { problem, note } = mountingEffect(e);
        if (note === undefined) this.notes.delete(key);
        else this.notes.set(key, note);
        this.set(key, problem);
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
    const next = statusOf(this.problems, this.notes);
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
