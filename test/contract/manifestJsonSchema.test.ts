/**
 * The committed JSON Schema (docs/schema/manifest.schema.json) is exactly what
 * the edge's zod schema generates, so Python, which validates against that
 * file, checks the contract the edge checks. Fails after a change to
 * ManifestSchema until `npm run schema` (or `make schema`) is run and the file committed.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MANIFEST_SCHEMA_FILE, manifestJsonSchema, manifestJsonSchemaText } from "../../edge/contract/manifestJsonSchema.js";

type Branch = { properties: Record<string, { const?: unknown }>; required: string[]; additionalProperties: unknown };

describe("the manifest's JSON Schema", () => {
  it("is committed exactly as generated from ManifestSchema (run `npm run schema` after changing it)", () => {
    const committed = readFileSync(MANIFEST_SCHEMA_FILE, "utf8");
    // Compare parsed first for a readable diff, then the text (formatting included).
    expect(JSON.parse(committed)).toEqual(manifestJsonSchema());
    expect(committed).toBe(manifestJsonSchemaText());
  });

  it("has one strict branch per feature pipeline, v2's with the calibration block", () => {
    const branches = (manifestJsonSchema() as { oneOf: Branch[] }).oneOf;
    expect(branches.map((b) => b.properties.feature_pipeline!.const)).toEqual(["gait-features/1", "gait-features/2"]);
    for (const b of branches) expect(b.additionalProperties).toBe(false);
    expect(branches[1]!.required).toContain("calibration");
    expect(Object.keys(branches[0]!.properties)).not.toContain("calibration");
  });
});
