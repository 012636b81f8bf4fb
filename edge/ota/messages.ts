/**
 * The MQTT surface of OTA updates (docs/ota.md):
 *
 *   <prefix>/<deviceId>/ota/offer              OtaOffer, retained (from the publisher tool)
 *   <prefix>/fleet/<fleetId>/ota/offer         OtaOffer, retained, to every device of the fleet
 *   <prefix>/<deviceId>/ota/request            OtaChunkRequest (device -> publisher tool)
 *   <prefix>/<deviceId>/ota/chunk              binary chunk (chunkCodec.ts)
 *   <prefix>/<deviceId>/ota/state              OtaStateMessage, retained
 *   <prefix>/<deviceId>/ota/command            CommandRequest (edge/commands/types.ts)
 *   <prefix>/<deviceId>/ota/command/response   CommandReply
 *
 * Incoming payloads are zod schemas: anyone on the broker can send anything.
 */
import { z } from "zod";
import type { CommandReply } from "../commands/types.js";
import { TRANSFER_ID } from "./chunkCodec.js";

export const OFFER_FORMAT = "gait-ota-offer/1";
/** Topic level reserved for fleets: no device may be called "fleet". */
export const FLEET_LEVEL = "fleet";

export interface OtaTopics {
  readonly offer: string;
  readonly request: string;
  readonly chunk: string;
  readonly state: string;
  readonly command: string;
  readonly commandResponse: string;
}

export function otaTopicsFor(prefix: string, deviceId: string): OtaTopics {
  const base = `${prefix}/${deviceId}/ota`;
  return {
    offer: `${base}/offer`,
    request: `${base}/request`,
    chunk: `${base}/chunk`,
    state: `${base}/state`,
    command: `${base}/command`,
    commandResponse: `${base}/command/response`,
  };
}

export function fleetOfferTopic(prefix: string, fleetId: string): string {
  return `${prefix}/${FLEET_LEVEL}/${fleetId}/ota/offer`;
}

/** A file name inside a bundle: one plain name, no folders. */
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "expected a plain file name");

export const offerSchema = z.object({
  format: z.literal(OFFER_FORMAT),
  transferId: z.string().regex(TRANSFER_ID, "expected 32 lowercase hex digits"),
  /** The manifest's exact bytes (UTF-8), as signed. */
  manifest: z.string().min(2).max(1_000_000),
  /** ed25519 signature of `manifest`, base64; absent: unsigned (refused). */
  signature: z.string().optional(),
  /** Fingerprint of the signer's public key (not trusted: only for the error message). */
  keyId: z.string().max(64).optional(),
  chunkSize: z.number().int().min(1024).max(1024 * 1024),
  files: z.array(z.object({ name: fileName, bytes: z.number().int().min(0) })).min(1).max(16),
});
export type OtaOffer = z.infer<typeof offerSchema>;

export const chunkRequestSchema = z.object({
  transferId: z.string().regex(TRANSFER_ID),
  file: z.number().int().min(0).max(255),
  chunks: z.array(z.number().int().min(0)).min(1).max(256),
});
export type OtaChunkRequest = z.infer<typeof chunkRequestSchema>;

export const OTA_COMMANDS = ["check", "accept", "postpone", "rollback", "forget_rejected"] as const;
export type OtaCommandName = (typeof OTA_COMMANDS)[number];

/** Requests and replies on `ota/command` are the device's one command protocol (edge/commands/types.ts). */
export type OtaCommandResponse = CommandReply;

export const OTA_STATES = ["idle", "available", "downloading", "verifying", "installing", "rolled_back", "failed"] as const;
export type OtaStateName = (typeof OTA_STATES)[number];

/** Why an update was refused, failed or undone: stable codes for dashboards and tests. */
export const OTA_REASON_CODES = [
  "invalid_offer",
  "unsigned",
  "malformed_signature",
  "untrusted_key",
  "bad_signature",
  "invalid_manifest",
  "truncated",
  "oversize",
  "incompatible",
  "downgrade",
  "same_version",
  "sha256_mismatch",
  "download_stalled",
  "install_failed",
  "load_failed",
  "self_test_failed",
  "probation_failed",
  "rollback_command",
  "postponed",
  "withdrawn",
  "rolled_back_before",
] as const;
export type OtaReasonCode = (typeof OTA_REASON_CODES)[number];

export interface OtaStateMessage {
  state: OtaStateName;
  /** 0..1: download progress while downloading, 1 once the files are all here. */
  progress: number;
  installed_version: string;
  offered_version: string | null;
  reason: string | null;
  code: OtaReasonCode | null;
  transfer_id: string | null;
  /** Unix ms of this message. */
  since: number;
  /**
   * The models rolled back on this device, newest last (at most 16): an offer of
   * one of them is held (`available`, code `rolled_back_before`) instead of
   * installed, until `accept` or `forget_rejected` (rejections.ts).
   */
  rejected: RejectedModelMessage[];
}

/** One entry of `rejected` (the store's entry: identity, why, when). */
export interface RejectedModelMessage {
  name: string;
  version: string;
  /** sha256 of the model file. */
  digest: string;
  reason: string;
  code: OtaReasonCode;
  /** ISO 8601. */
  at: string;
  transferId: string | null;
}

/**
 * What a device's state topic must carry to be believed (the publisher tool
 * reads it; anyone can publish anything there, `null` included). Unknown extra
 * fields are kept: a newer device may say more.
 */
export const otaStateMessageSchema = z
  .object({
    state: z.enum(OTA_STATES),
    progress: z.number().min(0).max(1),
    installed_version: z.string(),
    offered_version: z.string().nullable(),
    reason: z.string().nullable(),
    code: z.enum(OTA_REASON_CODES).nullable(),
    transfer_id: z.string().nullable(),
    since: z.number(),
    /** Devices from before the list was kept do not send it: they remembered no rollback across restarts, so []. */
    rejected: z
      .array(z.object({ name: z.string(), version: z.string(), digest: z.string(), reason: z.string(), code: z.enum(OTA_REASON_CODES), at: z.string(), transferId: z.string().nullable() }).loose())
      .default([]),
  })
  .loose();
