/**
 * ed25519 signatures over the exact bytes of a model manifest. The manifest
 * carries the sha256 of every file, so one signature covers the whole bundle.
 *
 * Verification reports WHY it fails, because the fix differs: an unsigned
 * bundle needs `gait-edge bundle`, an untrusted key needs the device config's
 * `ota.publicKeys`, a bad signature means the manifest or signature changed
 * after signing.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";

export interface SigningKeys {
  readonly privatePem: string;
  readonly publicPem: string;
}

export function generateSigningKeys(): SigningKeys {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

/** Short fingerprint of a public key (first 16 hex digits of the sha256 of its SPKI DER). */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return createHash("sha256").update(pub.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

export function privateKeyFromPem(pem: string, origin = "private key"): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${origin}: not a PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`${origin}: an ed25519 key is needed, got ${key.asymmetricKeyType}`);
  return key;
}

/** Detached signature, base64. */
export function signManifest(manifestBytes: Buffer, privateKey: KeyObject): string {
  return sign(null, manifestBytes, privateKey).toString("base64");
}

export interface TrustedKey {
  readonly key: KeyObject;
  readonly keyId: string;
  /** The file it came from, or "publicKeys[i]". */
  readonly origin: string;
}

/** `ota.publicKeys` entries: PEM text or a file path. Throws naming the bad entry. */
export async function loadPublicKeys(entries: readonly string[]): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const inline = entry.includes("-----BEGIN");
    const origin = inline ? `ota.publicKeys[${i}]` : entry;
    let pem = entry;
    if (!inline) {
      try {
        pem = await readFile(entry, "utf8");
      } catch (err) {
        throw new Error(`ota.publicKeys[${i}]: cannot read ${entry} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
      }
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new Error(`${origin}: not a PEM public key (${(err as Error).message})`, { cause: err });
    }
    if (key.asymmetricKeyType !== "ed25519") throw new Error(`${origin}: an ed25519 public key is needed, got ${key.asymmetricKeyType}`);
    keys.push({ key, keyId: keyIdOf(key), origin });
  }
  return keys;
}

export type SignatureCode = "unsigned" | "malformed_signature" | "untrusted_key" | "bad_signature";
export type SignatureVerdict = { ok: true; keyId: string } | { ok: false; code: SignatureCode; reason: string };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * `keyIdHint` (unsigned, from the offer) only chooses the message: every
 * trusted key is tried whatever it says.
 */
export function verifyManifestSignature(
  manifestBytes: Buffer,
  signatureB64: string | undefined,
  keys: readonly TrustedKey[],
  keyIdHint?: string,
): SignatureVerdict {
  if (!signatureB64) return { ok: false, code: "unsigned", reason: "unsigned: the offer carries no signature (make bundles with `gait-edge bundle --key`)" };
  const sig = Buffer.from(signatureB64.trim(), "base64");
  if (!BASE64.test(signatureB64.trim()) || sig.length !== 64) {
    return { ok: false, code: "malformed_signature", reason: `malformed signature: expected 64 bytes of ed25519 signature in base64, got ${sig.length} bytes` };
  }
  for (const k of keys) {
    if (verify(null, manifestBytes, k.key, sig)) return { ok: true, keyId: k.keyId };
  }
  const trusted = keys.map((k) => k.keyId).join(", ");
  if (keyIdHint && !keys.some((k) => k.keyId === keyIdHint)) {
    return { ok: false, code: "untrusted_key", reason: `signed with an untrusted key (key id ${keyIdHint}; this device trusts ${trusted})` };
  }
  return {
    ok: false,
    code: "bad_signature",
    reason: `bad signature: it does not verify against ${keyIdHint ? `key ${keyIdHint}` : `any trusted key (${trusted})`} -- the manifest or its signature changed after signing`,
  };
}
