/**
 * What every reliability check returns (docs/reliability.md): its figures, the
 * target each is held to, and whether the run met them. `gait-edge reliability
 * all` writes a list of these to reports/reliability.json.
 *
 * Figures are measurements of one run on one machine; only the COUNTS (crashes,
 * lost samples, refusals, takeovers) are pass/fail. Times are reported with
 * their target so a reader sees the margin, and judged only by the command,
 * never by a test (CI machines vary).
 */

export type Figure = number | string | boolean;

export interface CheckResult {
  readonly check: string;
  /** Every count target met (and time targets, for the command's verdict). */
  readonly ok: boolean;
  readonly quick: boolean;
  readonly seconds: number;
  readonly figures: Readonly<Record<string, Figure>>;
  /** Figure name -> the target it is held to, in words ("0", "< 5 s"). */
  readonly targets: Readonly<Record<string, string>>;
  /** Anything the figures alone would mislead about. */
  readonly notes: readonly string[];
  /** Per-case detail (fault kinds, bundles, attacks). */
  readonly detail?: unknown;
}

/**
 * A check's result from what it found: the fields every check fills the same way
 * (`quick`, `seconds` since `t0`, a performance.now() reading) filled in here, in the
 * report's key order (check, ok, quick, seconds, figures, targets, notes, detail).
 */
export function checkResult(
  check: string,
  t0: number,
  opts: { readonly quick?: boolean },
  found: Omit<CheckResult, "check" | "quick" | "seconds">,
): CheckResult {
  return {
    check,
    ok: found.ok,
    quick: opts.quick ?? false,
    seconds: round((performance.now() - t0) / 1000, 1),
    figures: found.figures,
    targets: found.targets,
    notes: found.notes,
    ...(found.detail !== undefined ? { detail: found.detail } : {}),
  };
}

/** A markdown table of one result, for the console. */
export function formatResult(r: CheckResult): string {
  const lines = [`## ${r.check}${r.quick ? " (quick)" : ""}: ${r.ok ? "ok" : "FAIL"} in ${r.seconds.toFixed(1)} s`, "", "| figure | value | target |", "|---|---|---|"];
  for (const [name, value] of Object.entries(r.figures)) lines.push(`| ${name} | ${String(value)} | ${r.targets[name] ?? ""} |`);
  for (const note of r.notes) lines.push("", `note: ${note}`);
  return lines.join("\n");
}

/** Rounds for reports: figures are measurements, not exact values. */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Bounded sleep; every wait in these checks has an end. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
