/** The pure rules of the rolled-back list (edge/ota/rejections.ts). */
import { describe, expect, it } from "vitest";
import {
  findRejection, formatRejected, heldOfferReason, parseRejected, REJECTED_KEPT, withoutRejections, withRejection, type RejectedModel,
} from "../../edge/ota/rejections.js";

const entry = (version: string, digest: string, reason = "failed its probation: NaN"): RejectedModel => ({
  name: "m", version, digest: digest.repeat(64), reason, code: "probation_failed", at: "2026-12-02T01:00:00.000Z", transferId: null,
});

describe("rejected models", () => {
  it("a model is its name, version and digest: another version or another file is not rejected", () => {
    const list = [entry("1.0.1", "a")];
    expect(findRejection(list, { name: "m", version: "1.0.1", digest: "a".repeat(64) })).toBe(list[0]);
    expect(findRejection(list, { name: "m", version: "1.0.2", digest: "a".repeat(64) })).toBeUndefined();
    expect(findRejection(list, { name: "m", version: "1.0.1", digest: "b".repeat(64) })).toBeUndefined();
    expect(findRejection(list, { name: "other", version: "1.0.1", digest: "a".repeat(64) })).toBeUndefined();
  });

  it("adding keeps one entry per model (the newest last) and at most REJECTED_KEPT", () => {
    let list: RejectedModel[] = [];
    for (let i = 0; i < REJECTED_KEPT + 3; i++) list = withRejection(list, entry(`1.0.${i}`, "a"));
    list = withRejection(list, entry("1.0.5", "a", "again"));
    expect(list).toHaveLength(REJECTED_KEPT);
    expect(list.at(-1)).toMatchObject({ version: "1.0.5", reason: "again" });
    expect(list.filter((r) => r.version === "1.0.5")).toHaveLength(1);
    expect(list[0]!.version).toBe("1.0.3");
  });

  it("forgetting: all, one model, or every model with a digest", () => {
    const list = [entry("1.0.1", "a"), entry("1.0.2", "a"), entry("1.0.3", "b")];
    expect(withoutRejections(list, { all: true })).toEqual([]);
    expect(withoutRejections(list, { digest: "a".repeat(64) }).map((r) => r.version)).toEqual(["1.0.3"]);
    expect(withoutRejections(list, { model: { name: "m", version: "1.0.2", digest: "a".repeat(64) } }).map((r) => r.version)).toEqual(["1.0.1", "1.0.3"]);
  });

  it("the file round-trips; a bad one is an error naming the file and the field", () => {
    const list = [entry("1.0.1", "a")];
    expect(parseRejected(formatRejected(list), "f")).toEqual(list);
    expect(() => parseRejected("{", "/x/rejected")).toThrow(/^\/x\/rejected: not JSON/);
    expect(() => parseRejected(JSON.stringify({ format: "gait-ota-rejected/1", models: [{ ...list[0], digest: "zz" }] }), "/x/rejected")).toThrow(
      /^\/x\/rejected: models\.0\.digest: expected a sha256/,
    );
  });

  it("a held offer says which model, when, why, and what the operator can do", () => {
    expect(heldOfferReason(entry("1.0.1", "a"))).toBe(
      "m 1.0.1 (model sha256 aaaaaaaaaaaa) was rolled back on this device at 2026-12-02T01:00:00.000Z (failed its probation: NaN); " +
        "not installed by itself: `accept` installs it anyway, `forget_rejected` forgets the rollback",
    );
  });
});
