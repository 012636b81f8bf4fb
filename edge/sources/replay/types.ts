import type { ImuSample, SourceIssue } from "../types.js";

/**
 * What a format reader yields: samples in contract units, and the rows it had to
 * skip (with file and line in the message). Readers never throw for a bad row;
 * they throw only when the file as a whole cannot be read (at open) or the
 * bytes end mid-stream (ReplayReadError).
 */
export type ReaderItem =
  | { readonly kind: "sample"; readonly sample: ImuSample }
  | { readonly kind: "issue"; readonly issue: SourceIssue };

export type ReplayStream = AsyncGenerator<ReaderItem, void, undefined>;

/** The formats replay understands; "auto" sniffs the first line of each file. */
export type ReplayFormat = "camargo" | "xsens" | "recording";

export function sampleItem(sample: ImuSample): ReaderItem {
  return { kind: "sample", sample };
}

export function issueItem(kind: SourceIssue["kind"], message: string, sensorId?: string): ReaderItem {
  return { kind: "issue", issue: sensorId === undefined ? { kind, message } : { kind, message, sensorId } };
}

/** Strict number parsing: "", "NaN", "1.2abc" are not numbers (parseFloat would accept the last). */
export function parseNumber(field: string | undefined): number | undefined {
  if (field === undefined) return undefined;
  const trimmed = field.trim();
  if (trimmed === "") return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}
