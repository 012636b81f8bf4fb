import type { ImuSample, SourceIssue } from "../types.js";

/**
 * What a format reader yields: samples in contract units, and the rows it had to
 * skip (with file and line in the message). Readers never throw for a bad row;
 * they throw only when the file as a whole cannot be read (at open) or the
 * bytes end mid-stream (ReplayReadError).
 */
export type ReaderItem =
  /** `where` ("file:line") names the row in later messages (time going back). */
  | { readonly kind: "sample"; readonly sample: ImuSample; readonly where?: string }
  | { readonly kind: "issue"; readonly issue: SourceIssue };

export type ReplayStream = AsyncGenerator<ReaderItem, void, undefined> & {
  /**
   * The sensor ids the file's header declares (Camargo columns, the Xsens
   * file's device, a recording's `sensors`); undefined when the header does not
   * say. Lets start() refuse a file without a sensor the model needs.
   */
  readonly sensors?: readonly string[];
};

/** Attaches the header's sensor list to a reader's generator. */
export function withSensors(stream: AsyncGenerator<ReaderItem, void, undefined>, sensors: readonly string[] | undefined): ReplayStream {
  return sensors === undefined ? stream : Object.assign(stream, { sensors });
}

/** The formats replay understands; "auto" sniffs the first line of each file. */
export type ReplayFormat = "camargo" | "xsens" | "recording";

export function sampleItem(sample: ImuSample, where?: string): ReaderItem {
  return where === undefined ? { kind: "sample", sample } : { kind: "sample", sample, where };
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
