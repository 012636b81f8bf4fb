import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseConfig, runtimeConfigSchema } from "../../edge/runtime/config.js";
import { editDistance, findUnknownFields, suggest } from "../../edge/runtime/unknownFields.js";

describe("unknown config fields", () => {
  // The three typos of issue #12: each was silently ignored and its default used.
  it.each([
    [{ sources: [{ kind: "simulator" }], recoder: { dir: "r" } }, /\n {2}recoder: unknown field \(did you mean "recorder"\?\)/],
    [{ sources: [{ kind: "simulator" }], mqtt: { anglesQoS: 1 } }, /mqtt\.anglesQoS: unknown field \(did you mean "anglesQos"\?\)/],
    [{ sources: [{ kind: "simulator" }], pipeline: { staleAfterMS: 100 } }, /pipeline\.staleAfterMS: unknown field \(did you mean "staleAfterMs"\?\)/],
  ])("names %j by its full path with a did-you-mean", (raw, message) => {
    expect(() => parseConfig(raw, "my.json")).toThrowError(message);
    expect(() => parseConfig(raw, "my.json")).toThrowError(/^my\.json is invalid:/);
  });

  it("walks into arrays, discriminated unions, records and nested defaults", () => {
    const raw = {
      sources: [{ kind: "simulator" }, { kind: "replay", file: "x.jsonl", sped: 2 }],
      mqtt: { embedded: { host: "127.0.0.1", prot: 1 } },
      pipeline: { resampler: { maxGapz: 0.2 } },
      calibration: { durationS: 2, fil: "c.json" },
    };
    const paths = findUnknownFields(runtimeConfigSchema, raw).map((f) => [f.path.join("."), f.suggestion]);
    expect(paths).toEqual([
      ["sources.1.sped", "speed"],
      ["mqtt.embedded.prot", "port"],
      ["pipeline.resampler.maxGapz", "maxGapS"],
      ["calibration.fil", "file"],
    ]);
  });

  it("lists the known fields when nothing is close", () => {
    expect(() => parseConfig({ sources: [{ kind: "simulator" }], log: { colour: true } })).toThrowError(
      /log\.colour: unknown field \(known fields: level, format\)/,
    );
  });

  it("reports unknown fields and other problems together", () => {
    expect(() => parseConfig({ sources: [], pipline: {} })).toThrowError(/pipline: unknown field \(did you mean "pipeline"\?\)\n {2}sources: at least one source/);
  });

  it("respects objects that accept extra keys on purpose, and free-form records", () => {
    const schema = z.object({ meta: z.object({}).loose(), tags: z.record(z.string(), z.string()) });
    expect(findUnknownFields(schema, { meta: { anything: 1 }, tags: { a: "b" } })).toEqual([]);
  });

  it("does not report what a strict schema reports twice", () => {
    const schema = z.object({ a: z.object({ b: z.number() }).strict() });
    expect(findUnknownFields(schema, { a: { b: 1, c: 2 } })).toHaveLength(1);
  });

  it("edit distance and suggestions", () => {
    expect(editDistance("recoder", "recorder")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(suggest("anglesQoS", ["anglesQos", "anglesQueueLimit"]).suggestion).toBe("anglesQos");
    expect(suggest("zzz", ["model", "sources"]).suggestion).toBeUndefined();
  });

  it("finds nothing in the shipped configs", () => {
    for (const f of readdirSync("deploy/config").filter((n) => n.endsWith(".json"))) {
      const raw: unknown = JSON.parse(readFileSync(path.join("deploy/config", f), "utf8"));
      expect(findUnknownFields(runtimeConfigSchema, raw), f).toEqual([]);
    }
  });
});
