/**
 * `gait-edge reliability <check> [--quick] [--json out]`: runs one check or
 * `all` (docs/reliability.md), prints each result as a table on stdout, and
 * writes the results as JSON (`all` defaults to reports/reliability.json).
 *
 * Checks are imported lazily: each pulls in different parts of the runtime
 * (onnxruntime, serialport, the OTA agent), and one check should not pay for
 * the others.
 */
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Logger } from "../log.js";
import { checkResult, formatResult, type CheckResult } from "./report.js";

export const CHECKS = ["fuzz", "outage", "ota", "ota-crash", "soak", "hostile"] as const;
export type CheckName = (typeof CHECKS)[number];
export const DEFAULT_REPORT = "reports/reliability.json";

export interface ReliabilityOptions {
  readonly quick: boolean;
  readonly model: string;
  readonly logger: Logger;
  /** soak: wall minutes (default 30, quick 1). */
  readonly minutes?: number;
  /** outage: seconds per failure (default 60, quick 3). */
  readonly seconds?: number;
  /** fuzz: frames per mode through the parsing layers (default 10^6, quick 20 000). */
  readonly frames?: number;
}

export async function runCheck(name: CheckName, o: ReliabilityOptions): Promise<CheckResult> {
  switch (name) {
    case "fuzz":
      return (await import("./fuzz.js")).runFuzz({ quick: o.quick, ...(o.frames !== undefined ? { frames: o.frames } : {}) });
    case "outage":
      return (await import("./outage.js")).runOutage({ quick: o.quick, seconds: o.seconds, model: o.model, logger: o.logger });
    case "ota":
      return (await import("./ota.js")).runOtaAttacks({ quick: o.quick, model: o.model, logger: o.logger });
    case "ota-crash":
      return (await import("./otaCrash.js")).runOtaCrash({ quick: o.quick, model: o.model, logger: o.logger });
    case "soak":
      return (await import("./soak.js")).runSoak({ quick: o.quick, minutes: o.minutes, model: o.model, logger: o.logger });
    case "hostile":
      return (await import("./hostile.js")).runHostile({ quick: o.quick });
  }
}

export interface ReliabilityReport {
  readonly created: string;
  readonly host: { readonly cpus: number; readonly platform: string; readonly node: string; readonly loadavg1: number };
  readonly ok: boolean;
  readonly results: readonly CheckResult[];
}

/**
 * Runs the checks in order; a check that throws is recorded as failed with its
 * error (the others still run), so one broken check cannot hide the rest.
 */
export async function runReliability(check: CheckName | "all", o: ReliabilityOptions & { readonly json?: string }): Promise<ReliabilityReport> {
  const names = check === "all" ? CHECKS : [check];
  const results: CheckResult[] = [];
  for (const name of names) {
    process.stdout.write(`reliability: ${name}${o.quick ? " (quick)" : ""}...\n`);
    const t0 = performance.now();
    let result: CheckResult;
    try {
      result = await runCheck(name, o);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      result = checkResult(name, t0, o, { ok: false, figures: { error: message }, targets: {}, notes: ["the check did not complete"] });
    }
    results.push(result);
    process.stdout.write(formatResult(result) + "\n\n");
  }
  const report: ReliabilityReport = {
    created: new Date().toISOString(),
    // Figures depend on the machine and how busy it was: say which and how loaded.
    host: { cpus: os.cpus().length, platform: `${os.platform()} ${os.arch()}`, node: process.version, loadavg1: Math.round(os.loadavg()[0]! * 100) / 100 },
    ok: results.every((r) => r.ok),
    results,
  };
  const out = o.json ?? (check === "all" ? DEFAULT_REPORT : undefined);
  if (out) {
    await mkdir(path.dirname(path.resolve(out)), { recursive: true });
    await writeFile(out, JSON.stringify(report, null, 2) + "\n");
    process.stdout.write(`written to ${out}\n`);
  }
  return report;
}
