/**
 * Settings of over-the-air model updates (docs/ota.md). The device holds only
 * PUBLIC keys: whoever holds the private key decides what runs on the fleet.
 */
import { z } from "zod";

export const otaConfigSchema = z.object({
  /** Models state directory: one folder per installed model plus the `current` / `previous` pointers. */
  dir: z.string().min(1).default("/var/lib/gait-edge/models"),
  /** Trusted ed25519 public keys: PEM text, or paths of PEM files. Any one of them may sign. */
  publicKeys: z.array(z.string().min(1)).min(1, "at least one public key is needed to verify updates"),
  /** Also listen for offers to this fleet (`<prefix>/fleet/<fleetId>/ota/offer`). */
  fleetId: z
    .string()
    .regex(/^[^/+#\u0000]+$/, "must be one topic level: no '/', '+' or '#'")
    .optional(),
  /** Largest update accepted (all files together), bytes. */
  maxBytes: z.number().int().positive().default(16 * 1024 * 1024),
  /** Install a valid offer at once; false: wait for an `accept` command. */
  autoInstall: z.boolean().default(false),
  /** Windows the new model must produce sane angles for before the old one is released. 0: no watch. */
  probationStrides: z.number().int().min(0).default(20),
  /** An angle beyond this (or NaN) during probation rolls the update back. */
  maxAbsAngleDeg: z.number().positive().default(360),
  /** Chunks requested ahead of what has arrived. */
  chunksInFlight: z.number().int().min(1).max(256).default(8),
  /** No chunk for this long: ask again for the missing ones (lost messages, reconnects). */
  requestTimeoutMs: z.number().int().positive().default(2000),
  /** No chunk for this long: the download fails ("stalled"). */
  stallTimeoutMs: z.number().int().positive().default(60_000),
});
export type OtaConfig = z.infer<typeof otaConfigSchema>;
export type OtaConfigInput = z.input<typeof otaConfigSchema>;
