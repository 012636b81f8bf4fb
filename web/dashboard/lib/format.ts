/** Text for the panels, from validated payloads. Pure: the view only puts these strings in the page. */
import type { GaitMetricsPayload, OtaStatePayload, StatusPayload } from "./messages.js";

/** "12 s ago", "3 min ago", "2 h ago"; "just now" under a second (and for a clock slightly ahead). */
export function formatAge(sinceMs: number, nowMs: number): string {
  const s = (nowMs - sinceMs) / 1000;
  if (s < 1) return "just now";
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export function describeStatus(s: StatusPayload, nowMs: number): string {
  return `${s.state}${s.reason ? `: ${s.reason}` : ""} (since ${formatAge(s.since, nowMs)})`;
}

export function describeOta(o: OtaStatePayload): { headline: string; detail: string; progress: number | undefined } {
  const offered = o.offered_version ? ` -> ${o.offered_version}` : "";
  // Progress means something only while files are moving or being checked.
  const moving = o.state === "downloading" || o.state === "verifying" || o.state === "installing";
  const percent = moving ? ` ${Math.floor(o.progress * 100)}%` : "";
  const headline = `${o.state.replace("_", " ")}${percent}: ${o.installed_version}${offered}`;
  const why = o.reason ? `${o.code ? `${o.code}: ` : ""}${o.reason}` : "";
  return { headline, detail: why, progress: moving ? o.progress : undefined };
}

/** The last stride of one foot, as rows: cadence, stride time, stance, then each joint's range of motion. */
export function describeMetrics(m: GaitMetricsPayload): Array<{ name: string; value: string }> {
  const rows = [
    { name: "foot", value: `${m.placement} (${m.wearer})` },
    { name: "cadence", value: `${m.cadenceSpm.toFixed(1)} steps/min` },
    { name: "stride time", value: `${m.strideTimeS.toFixed(2)} s` },
  ];
  if (m.stancePct !== undefined) rows.push({ name: "stance", value: `${m.stancePct.toFixed(1)} %` });
  for (const [joint, deg] of Object.entries(m.romDeg ?? {})) rows.push({ name: `${joint.replaceAll("_", " ")} range`, value: `${deg.toFixed(1)} deg` });
  return rows;
}

/**
 * A `get_status` reply's data as "path: value" rows, whatever its shape: the
 * runtime adds fields (rates, sample ages) from release to release, and the
 * panel should show them without a dashboard update. Arrays of numbers stay on
 * one row (a gyro bias is one fact); long ones are cut.
 */
export function flattenStatus(data: unknown, maxRows = 200): Array<{ path: string; value: string }> {
  const rows: Array<{ path: string; value: string }> = [];
  const visit = (value: unknown, path: string): void => {
    if (rows.length >= maxRows) return;
    if (Array.isArray(value) && value.every((v) => typeof v === "number")) {
      const shown = value.slice(0, 6).map(formatNumber).join(", ");
      rows.push({ path, value: `[${shown}${value.length > 6 ? ", ..." : ""}]` });
    } else if (Array.isArray(value)) {
      if (!value.length) rows.push({ path, value: "[]" });
      value.forEach((v, i) => visit(v, `${path}[${i}]`));
    } else if (value !== null && typeof value === "object") {
      const entries = Object.entries(value);
      if (!entries.length) rows.push({ path, value: "{}" });
      for (const [k, v] of entries) visit(v, path ? `${path}.${k}` : k);
    } else {
      rows.push({ path, value: typeof value === "number" ? formatNumber(value) : String(value) });
    }
  };
  visit(data, "");
  return rows;
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 0.01 ? v.toFixed(3) : v.toExponential(2);
}

/** "+12.3°" with a fixed width, so the readout does not jitter as values change sign. */
export function formatDeg(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "--";
  const shown = Math.abs(v).toFixed(1);
  // -0.04 rounds to 0.0: no minus sign on a zero.
  return `${v < 0 && shown !== "0.0" ? "-" : "+"}${shown}°`;
}
