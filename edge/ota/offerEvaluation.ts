/**
 * What an offer alone tells, before a single chunk is fetched: is it JSON of
 * the offer schema, is the manifest signed by a trusted key, can this build
 * run its feature pipeline, is it a valid contract with golden vectors, are
 * the files exactly those it names with the sizes it says, does the contract
 * fit the running pipeline (compatibility.ts), is the version an upgrade. Pure: no I/O, no clock, no state (the agent decides what a
 * verdict does).
 *
 * Until an offer passed ALL of it, it is just bytes anyone on the broker
 * could have sent: it must not touch an update in progress (issue #13).
 */
import { z } from "zod";
import { manifestCalibration, parseManifest, type Manifest } from "../contract/manifest.js";
import type { SavedMounting } from "../runtime/calibrationFile.js";
import { compareSemver, contractDifferences, staleMountings, unsupportedPipelineReason, unsupportedReasons } from "./compatibility.js";
import { offerSchema, type OtaOffer, type OtaReasonCode } from "./messages.js";
import { verifyManifestSignature, type TrustedKey } from "./signature.js";

/** An offer that passed every check the offer alone allows. */
export interface VerifiedOffer {
  readonly transferId: string;
  /** The offer topic it came on (a withdrawal there cancels it). */
  readonly topic: string;
  /** The signed bytes, written to the store as they are. */
  readonly manifestBytes: Buffer;
  readonly manifest: Manifest;
  readonly chunkSize: number;
  /** In the offer's order (chunk file indexes), each with the sha256 the signed manifest gives. */
  readonly files: readonly { readonly name: string; readonly bytes: number; readonly sha256: string }[];
  /**
   * Stored mountings (`<wearer>/<placement>`) this model must not use: made by another
   * calibration algorithm than its own (compatibility.ts `staleMountings`). Their
   * sensors calibrate again from walking once it runs. Empty for a v1 model.
   */
  readonly recalibrate: readonly string[];
}

export interface Refusal {
  readonly ok: false;
  readonly code: OtaReasonCode;
  readonly reason: string;
}

export type ParsedOffer = { readonly ok: true; readonly offer: OtaOffer } | Refusal;

export type OfferVerdict =
  | { readonly ok: true; readonly offer: VerifiedOffer }
  /** Signed, valid, and the very model already running: nothing to do. */
  | { readonly ok: "installed" }
  | Refusal;

export interface OfferContext {
  readonly keys: readonly TrustedKey[];
  /** ota.maxBytes: the whole update (all files). */
  readonly maxBytes: number;
  /** The contract running now: the offered one must fit it. */
  readonly running: Manifest;
  /** The mounting calibrations in `calibration.file` (none when absent). */
  readonly storedMountings?: readonly SavedMounting[];
}

const refuse = (code: OtaReasonCode, reason: string): Refusal => ({ ok: false, code, reason });

/** The offer schema, from the raw payload of an offer topic (non-empty: empty is a withdrawal). */
export function parseOffer(payload: Buffer, topic: string): ParsedOffer {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString("utf8"));
  } catch (err) {
    return refuse("invalid_offer", `offer on ${topic} is not JSON (${(err as Error).message})`);
  }
  const parsed = offerSchema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "(offer)"}: ${i.message}`).join("; ");
    return refuse("invalid_offer", `offer on ${topic} is invalid: ${detail}`);
  }
  return { ok: true, offer: parsed.data };
}

/** `"ota": {...}` inside the signed manifest: only what the signer allowed. */
const otaEnvelopeSchema = z.object({ allowDowngrade: z.boolean().optional() }).loose();

/** Signature, manifest, files and sizes, contract, version: in that order (docs/ota.md). */
export function evaluateOffer(offer: OtaOffer, topic: string, ctx: OfferContext): OfferVerdict {
  const manifestBytes = Buffer.from(offer.manifest, "utf8");
  // Signature first: nothing below is worth reading from an unsigned author.
  const sig = verifyManifestSignature(manifestBytes, offer.signature, ctx.keys, offer.keyId);
  if (!sig.ok) return refuse(sig.code, sig.reason);

  let raw: unknown;
  try {
    raw = JSON.parse(offer.manifest);
  } catch (err) {
    return refuse("invalid_manifest", `the signed manifest is not JSON: ${(err as Error).message}`);
  }
  // A feature pipeline this build does not run (a newer one included, whose fields this
  // build cannot even parse) is a matter of the software, not a broken manifest.
  const pipeline = unsupportedPipelineReason((raw as { feature_pipeline?: unknown } | null)?.feature_pipeline);
  if (pipeline) return refuse("incompatible", `incompatible: ${pipeline}`);
  let manifest: Manifest;
  try {
    manifest = parseManifest(raw, "offered manifest");
  } catch (err) {
    return refuse("invalid_manifest", `the signed manifest is not a valid model contract: ${(err as Error).message}`);
  }
  const unsupported = unsupportedReasons(manifest);
  if (unsupported.length) return refuse("incompatible", `incompatible: this edge build cannot compute the features of this model (${unsupported.join("; ")})`);
  if (!manifest.golden) return refuse("invalid_manifest", "the manifest names no golden vectors: the model cannot be self-tested");
  const envelope = otaEnvelopeSchema.safeParse((raw as { ota?: unknown }).ota ?? {});
  const allowDowngrade = envelope.success && envelope.data.allowDowngrade === true;

  const files = offeredFiles(offer, manifest, ctx.maxBytes);
  if ("ok" in files) return files;

  const differences = contractDifferences(ctx.running, manifest);
  if (differences.length) {
    return refuse(
      "incompatible",
      `incompatible contract: the pipeline would build the wrong features for this model (${differences.join("; ")}); ` +
        "a model with another contract is installed with a restart and a new config, not over the air",
    );
  }
  const running = ctx.running;
  const order = compareSemver(manifest.version, running.version);
  if (order === 0 && manifest.model.sha256 === running.model.sha256) return { ok: "installed" };
  if (order === 0) {
    return refuse("same_version", `version ${manifest.version} is installed already with a different model file: give the new build a new version`);
  }
  if (order < 0 && !allowDowngrade) {
    return refuse(
      "downgrade",
      `downgrade refused: ${manifest.version} is lower than the installed ${running.version} (sign the bundle with --allow-downgrade to allow it)`,
    );
  }
  const recalibrate = staleMountings(manifestCalibration(manifest), ctx.storedMountings ?? []);
  return { ok: true, offer: { transferId: offer.transferId, topic, manifestBytes, manifest, chunkSize: offer.chunkSize, files, recalibrate } };
}

/** Exactly the files the signed manifest names (variants optional), with its sizes, within maxBytes. */
function offeredFiles(offer: OtaOffer, manifest: Manifest, maxBytes: number): VerifiedOffer["files"] | Refusal {
  const expected = new Map<string, { sha256: string; bytes?: number }>();
  expected.set(manifest.model.file, { sha256: manifest.model.sha256, bytes: manifest.model.bytes });
  if (manifest.golden) expected.set(manifest.golden.file, { sha256: manifest.golden.sha256 });
  for (const v of Object.values(manifest.variants)) expected.set(v.file, { sha256: v.sha256, bytes: v.bytes });
  const files: { name: string; bytes: number; sha256: string }[] = [];
  for (const f of offer.files) {
    const e = expected.get(f.name);
    if (!e) return refuse("invalid_offer", `the offer carries ${f.name}, which the signed manifest does not name`);
    if (files.some((x) => x.name === f.name)) return refuse("invalid_offer", `the offer lists ${f.name} twice`);
    if (e.bytes !== undefined && f.bytes < e.bytes) {
      return refuse("truncated", `truncated: ${f.name} is offered with ${f.bytes} bytes, the signed manifest says ${e.bytes}`);
    }
    if (e.bytes !== undefined && f.bytes > e.bytes) {
      return refuse("oversize", `oversize: ${f.name} is offered with ${f.bytes} bytes, the signed manifest says ${e.bytes}`);
    }
    files.push({ name: f.name, bytes: f.bytes, sha256: e.sha256 });
  }
  for (const required of [manifest.model.file, manifest.golden?.file]) {
    if (required && !files.some((f) => f.name === required)) return refuse("truncated", `truncated: the offer lacks ${required}`);
  }
  const total = files.reduce((a, f) => a + f.bytes, 0);
  if (total > maxBytes) return refuse("oversize", `oversize: the update is ${total} bytes, ota.maxBytes allows ${maxBytes}`);
  return files;
}

/** The version an offer claims (for the state message of a refusal); null when it cannot tell. */
export function claimedVersion(offer: OtaOffer): string | null {
  try {
    const v = (JSON.parse(offer.manifest) as { version?: unknown } | null)?.version;
    return typeof v === "string" && v ? v : null;
  } catch {
    return null; // an unparsable manifest claims nothing
  }
}
