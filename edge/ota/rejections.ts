/**
 * Models rolled back on this device, remembered across restarts.
 *
 * The operator's offer stays retained on the broker, so every start (and every
 * reconnect) hands it to the agent again. A model that probation (or an
 * operator's `rollback`) undid must not be installed again by itself from it:
 * that would put the device back on probation with a model known to be bad,
 * after every restart. So the undo is written to `<ota.dir>/rejected` BEFORE
 * the disk forgets the candidate (rollout.ts, modelStore.ts), and an offer of a
 * model listed there is held as `available` with code `rolled_back_before`
 * until an operator sends `accept` (install it anyway) or `forget_rejected`.
 *
 * A model is identified by its name, version AND model file digest (sha256):
 * a fixed re-release, under a new version or with another file, is a new
 * model and is offered normally. The list keeps the latest REJECTED_KEPT
 * entries, so the file cannot grow without end.
 *
 * Pure: parsing, formatting and list updates; the store does the file I/O.
 */
import { z } from "zod";
import { OTA_REASON_CODES } from "./messages.js";

export const REJECTED_FORMAT = "gait-ota-rejected/1";
/** Far more models than an operator rolls back between two clean-ups; a bound on the file. */
export const REJECTED_KEPT = 16;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "expected a sha256 in lowercase hex");

export const rejectedModelSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  /** sha256 of the model file (manifest `model.sha256`). */
  digest: sha256Hex,
  /** Why it was undone, as the state topic said it ("NaN in the output", "device restarted during probation"...). */
  reason: z.string(),
  code: z.enum(OTA_REASON_CODES),
  /** When it was undone (ISO 8601). */
  at: z.iso.datetime(),
  /** The offer it came from, when known. */
  transferId: z.string().nullable(),
});
export type RejectedModel = z.infer<typeof rejectedModelSchema>;

const fileSchema = z.object({ format: z.literal(REJECTED_FORMAT), models: z.array(rejectedModelSchema) });

/** What identifies a model for this list: a manifest's, or a probation record's fields. */
export interface ModelIdentity {
  readonly name: string;
  readonly version: string;
  readonly digest: string;
}

export function identityOf(manifest: { readonly name: string; readonly version: string; readonly model: { readonly sha256: string } }): ModelIdentity {
  return { name: manifest.name, version: manifest.version, digest: manifest.model.sha256 };
}

const same = (a: ModelIdentity, b: ModelIdentity): boolean => a.name === b.name && a.version === b.version && a.digest === b.digest;

/** The entry that rejects this model, if any. */
export function findRejection(list: readonly RejectedModel[], model: ModelIdentity): RejectedModel | undefined {
  return list.find((r) => same(r, model));
}

/** The list with `entry` as its newest (an older entry of the same model replaced), the oldest beyond REJECTED_KEPT dropped. */
export function withRejection(list: readonly RejectedModel[], entry: RejectedModel): RejectedModel[] {
  return [...list.filter((r) => !same(r, entry)), entry].slice(-REJECTED_KEPT);
}

/** The state reason of an offer held because its model is `r` (what the operator reads, and what to do). */
export function heldOfferReason(r: RejectedModel): string {
  return (
    `${r.name} ${r.version} (model sha256 ${r.digest.slice(0, 12)}) was rolled back on this device at ${r.at} (${r.reason}); ` +
    "not installed by itself: `accept` installs it anyway, `forget_rejected` forgets the rollback"
  );
}

/** Which entries `forget_rejected` (or `accept`) removes: all, one model, or every model with a digest. */
export type RejectionFilter = { readonly all: true } | { readonly model: ModelIdentity } | { readonly digest: string };

export function withoutRejections(list: readonly RejectedModel[], filter: RejectionFilter): RejectedModel[] {
  if ("all" in filter) return [];
  if ("model" in filter) return list.filter((r) => !same(r, filter.model));
  return list.filter((r) => r.digest !== filter.digest);
}

/** The file's text. */
export function formatRejected(list: readonly RejectedModel[]): string {
  return JSON.stringify({ format: REJECTED_FORMAT, models: list }, null, 2) + "\n";
}

/** Parses the file's text; throws an Error naming `file` and the bad field. */
export function parseRejected(text: string, file: string): RejectedModel[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new Error(`${file}: ${first.path.join(".") || "(root)"}: ${first.message}`);
  }
  return parsed.data.models.slice(-REJECTED_KEPT);
}
