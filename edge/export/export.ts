/**
 * `gait-edge export`: a recording (one file or its rotated parts) -> OpenSim
 * `.mot` angles, OpenSense `.sto` orientations and a CSV of the angles, next
 * to it or in `outDir`. The thin I/O shell around recording.ts, tables.ts and
 * orientations.ts (docs/export.md).
 *
 *   <base>[.<wearer>].mot   angles, OpenSim coordinates and signs, degrees
 *   <base>[.<wearer>].sto   quaternions per sensor, through the edge's AHRS
 *   <base>[.<wearer>].csv   angles, the project's joints and signs
 *
 * `<base>` is the first part's file name without `.jsonl[.gz]`; the wearer suffix
 * is left out for the default wearer.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadManifest } from "../contract/manifest.js";
import { routeSensor } from "../modules/sources.js";
import { ConfigError } from "../runtime/config.js";
import { orientationTables } from "./orientations.js";
import { readRecording, type ParsedRecording } from "./recording.js";
import { anglesCsvText, angleTables, DEFAULT_WEARER, motText, shiftOrientations, stoText } from "./tables.js";

export const EXPORT_FORMATS = ["mot", "sto", "csv"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  /** The recording's files: one, or every part of a rotated recording. */
  readonly files: readonly string[];
  /** Default: the first file's folder. */
  readonly outDir?: string;
  readonly formats: readonly ExportFormat[];
  /** Model manifest whose resampler and AHRS settings the `.sto` uses. */
  readonly model: string;
  /** The runtime config's `sensors` map, for sensor ids that are not placements. */
  readonly sensors?: Readonly<Record<string, string>>;
}

export interface ExportResult {
  readonly written: string[];
  /** Lines skipped while reading, rows left out, sensors without a placement. */
  readonly warnings: string[];
}

export async function exportRecording(o: ExportOptions): Promise<ExportResult> {
  if (o.files.length === 0) throw new ConfigError("export: no recording given");
  const parts: ParsedRecording[] = [];
  for (const f of o.files) parts.push(await readRecording(f));
  // Rotated parts play as one stream in part order, whatever order they were named in.
  parts.sort((a, b) => (a.header.part ?? 1) - (b.header.part ?? 1));
  const samples = parts.flatMap((p) => p.samples);
  const angles = parts.flatMap((p) => p.angles);
  const warnings = parts.flatMap((p) => p.problems);
  // Named after part 1, wherever it was on the command line.
  const first = parts[0]!.file;
  const base = path.basename(first).replace(/\.jsonl(\.gz)?$/, "");
  const outDir = o.outDir ?? path.dirname(first);
  // The earliest device time: the first sample, or the first angles of a window that
  // began before the recording did (record_start mid-walk), so no time is negative.
  const firstTimes = [samples[0]?.tUs, ...angles.map((a) => a.sensorTimeUs?.[0])].filter((t): t is number => t !== undefined);
  const originUs = firstTimes.length ? firstTimes.reduce((a, b) => Math.min(a, b)) : undefined;
  const outputs: Array<{ file: string; text: string }> = [];
  const name = (wearer: string, ext: string): string => path.join(outDir, `${base}${wearer === DEFAULT_WEARER ? "" : `.${wearer}`}.${ext}`);

  if (o.formats.includes("mot") || o.formats.includes("csv")) {
    if (angles.length === 0) warnings.push(`${first}: no angles records, so no .mot or .csv`);
    for (const table of angleTables(angles, originUs)) {
      if (table.skipped) warnings.push(`wearer ${table.wearer}: ${table.skipped} angle rows left out (time not increasing, or other joints than the first message)`);
      if (table.clock === "wall") warnings.push(`wearer ${table.wearer}: angles without sensorTimeUs, timed by wall clock (not aligned with the .sto)`);
      if (o.formats.includes("mot")) outputs.push({ file: name(table.wearer, "mot"), text: motText(table) });
      if (o.formats.includes("csv")) outputs.push({ file: name(table.wearer, "csv"), text: anglesCsvText(table) });
    }
  }
  if (o.formats.includes("sto")) {
    if (samples.length === 0 || originUs === undefined) warnings.push(`${first}: no sample records, so no .sto`);
    else {
      const contract = await loadManifest(o.model);
      const result = orientationTables(samples, {
        pipeline: contract.pipeline,
        maxGapS: contract.manifest.resampling.max_gap_s ?? undefined,
        route: (id) => routeSensor(id, o.sensors ?? {}),
      });
      if (result.unrouted.length) warnings.push(`sensors without a placement, left out of the .sto: ${result.unrouted.join(", ")} (pass --config for its sensors map)`);
      for (const t of result.tables) {
        const { table, skipped } = shiftOrientations(t, originUs);
        if (skipped) warnings.push(`wearer ${t.wearer}: ${skipped} orientation rows left out (device clock went back)`);
        outputs.push({ file: name(t.wearer, "sto"), text: stoText(table) });
      }
    }
  }
  if (outputs.length === 0) throw new ConfigError(`export: nothing to write from ${o.files.join(", ")}:\n  ${warnings.join("\n  ")}`);
  await mkdir(outDir, { recursive: true });
  for (const out of outputs) await writeFile(out.file, out.text);
  return { written: outputs.map((x) => x.file), warnings };
}
