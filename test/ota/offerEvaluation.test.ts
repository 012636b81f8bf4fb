/** What an offer alone tells (pure): the order of the checks and what each refusal says. */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadManifest, type Manifest } from "../../edge/contract/manifest.js";
import { readBundle } from "../../edge/ota/bundle.js";
import { OFFER_FORMAT, type OtaOffer } from "../../edge/ota/messages.js";
import { claimedVersion, evaluateOffer, parseOffer, type OfferContext } from "../../edge/ota/offerEvaluation.js";
import { loadPublicKeys } from "../../edge/ota/signature.js";
import { makeBundle, makeKeys, MODEL, tempDir } from "./helpers.js";

let offer: OtaOffer;
let ctx: OfferContext;
let running: Manifest;

beforeAll(async () => {
  const work = await tempDir("evaluate");
  const keys = await makeKeys(path.join(work, "keys"));
  const bundle = await readBundle(await makeBundle(work, "b101", keys));
  const sizes = await Promise.all(bundle.files.map(async (f) => (await readFile(f.path)).length));
  offer = {
    format: OFFER_FORMAT,
    transferId: "0123456789abcdef0123456789abcdef",
    manifest: bundle.manifestBytes.toString("utf8"),
    signature: bundle.signature!,
    keyId: bundle.keyId!,
    chunkSize: 65536,
    files: bundle.files.map((f, i) => ({ name: f.name, bytes: sizes[i]! })),
  };
  running = (await loadManifest(MODEL)).manifest;
  ctx = { keys: await loadPublicKeys([keys.publicKey]), maxBytes: 16 * 1024 * 1024, running };
});

describe("parseOffer", () => {
  it("refuses what is not JSON of the offer schema, naming the topic", () => {
    expect(parseOffer(Buffer.from("{x"), "t")).toMatchObject({ ok: false, code: "invalid_offer", reason: expect.stringMatching(/^offer on t is not JSON/) });
    expect(parseOffer(Buffer.from("null"), "t")).toMatchObject({ ok: false, code: "invalid_offer" });
    expect(parseOffer(Buffer.from(JSON.stringify({ ...offer, transferId: "XYZ" })), "t")).toMatchObject({ reason: expect.stringMatching(/transferId/) });
    expect(parseOffer(Buffer.from(JSON.stringify(offer)), "t")).toEqual({ ok: true, offer });
  });
});

describe("evaluateOffer", () => {
  it("accepts a signed, fitting upgrade with the sha256 of every file from the signed manifest", () => {
    const v = evaluateOffer(offer, "t", ctx);
    expect(v.ok).toBe(true);
    if (v.ok !== true) return;
    expect(v.offer.manifest.version).toBe("1.0.1");
    expect(v.offer.files.map((f) => f.sha256)).toEqual(v.offer.files.map((f) => (f.name === v.offer.manifest.model.file ? v.offer.manifest.model.sha256 : v.offer.manifest.golden!.sha256)));
  });

  it("checks the signature before reading anything else", () => {
    const forged = { ...offer, manifest: offer.manifest.replace('"1.0.1"', '"9.9.9"'), files: [{ name: "evil.sh", bytes: 1 }] };
    expect(evaluateOffer(forged, "t", ctx)).toMatchObject({ ok: false, code: "bad_signature" });
    expect(evaluateOffer({ ...offer, signature: undefined }, "t", ctx)).toMatchObject({ ok: false, code: "unsigned" });
  });

  it("files: only those the manifest names, once, with its sizes, within maxBytes", () => {
    const [model, golden] = offer.files;
    expect(evaluateOffer({ ...offer, files: [model!, model!, golden!] }, "t", ctx)).toMatchObject({ code: "invalid_offer", reason: expect.stringMatching(/twice/) });
    expect(evaluateOffer({ ...offer, files: [model!] }, "t", ctx)).toMatchObject({ code: "truncated", reason: "truncated: the offer lacks golden.json" });
    expect(evaluateOffer({ ...offer, files: [{ ...model!, bytes: model!.bytes + 1 }, golden!] }, "t", ctx)).toMatchObject({ code: "oversize" });
    expect(evaluateOffer(offer, "t", { ...ctx, maxBytes: 1000 })).toMatchObject({ code: "oversize", reason: expect.stringMatching(/ota.maxBytes allows 1000/) });
  });

  it("the very model already running is 'installed'; a lower version is a downgrade", () => {
    expect(evaluateOffer(offer, "t", { ...ctx, running: { ...running, version: "1.0.1", model: { ...running.model } } })).toEqual({ ok: "installed" });
    expect(evaluateOffer(offer, "t", { ...ctx, running: { ...running, version: "2.0.0" } })).toMatchObject({ code: "downgrade" });
  });

  it("claimedVersion reads the version an offer claims, or null", () => {
    expect(claimedVersion(offer)).toBe("1.0.1");
    expect(claimedVersion({ ...offer, manifest: "{]" })).toBeNull();
  });
});
