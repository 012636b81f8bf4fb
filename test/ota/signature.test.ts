import { writeFile } from "node:fs/promises";
import { generateKeyPairSync } from "node:crypto";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { generateSigningKeys, loadPublicKeys, privateKeyFromPem, signManifest, verifyManifestSignature } from "../../edge/ota/signature.js";
import { tempDir } from "./helpers.js";

describe("manifest signatures", () => {
  const a = generateSigningKeys();
  const b = generateSigningKeys();
  const manifest = Buffer.from('{"name":"m","version":"1.0.1"}\n');

  it("verifies against any trusted key, from PEM text or a file", async () => {
    const dir = await tempDir("sig");
    await writeFile(path.join(dir, "b.pem"), b.publicPem);
    const keys = await loadPublicKeys([a.publicPem, path.join(dir, "b.pem")]);
    expect(keys[1]!.origin).toBe(path.join(dir, "b.pem"));
    const sig = signManifest(manifest, privateKeyFromPem(b.privatePem));
    expect(verifyManifestSignature(manifest, sig, keys)).toEqual({ ok: true, keyId: keys[1]!.keyId });
  });

  it("tells unsigned, malformed, untrusted key and bad signature apart", async () => {
    const keys = await loadPublicKeys([a.publicPem]);
    const [trusted] = keys;
    const otherKeys = await loadPublicKeys([b.publicPem]);
    expect(verifyManifestSignature(manifest, undefined, keys)).toMatchObject({ ok: false, code: "unsigned" });
    expect(verifyManifestSignature(manifest, "bm90IGEgc2ln", keys)).toMatchObject({ ok: false, code: "malformed_signature" });
    const byB = signManifest(manifest, privateKeyFromPem(b.privatePem));
    expect(verifyManifestSignature(manifest, byB, keys, otherKeys[0]!.keyId)).toMatchObject({ ok: false, code: "untrusted_key", reason: expect.stringContaining(trusted!.keyId) });
    const byA = signManifest(manifest, privateKeyFromPem(a.privatePem));
    const altered = Buffer.from(manifest.toString().replace("1.0.1", "1.0.2"));
    expect(verifyManifestSignature(altered, byA, keys, trusted!.keyId)).toMatchObject({ ok: false, code: "bad_signature" });
    expect(verifyManifestSignature(manifest, byA, keys, trusted!.keyId).ok).toBe(true);
  });

  it("refuses keys that are not ed25519, naming the entry", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" }).toString();
    await expect(loadPublicKeys([rsa])).rejects.toThrow(/ota.publicKeys\[0\].*ed25519/);
    await expect(loadPublicKeys(["/nonexistent/key.pem"])).rejects.toThrow(/cannot read \/nonexistent\/key.pem/);
    expect(() => privateKeyFromPem("nope", "key.pem")).toThrow(/key.pem: not a PEM private key/);
  });
});
