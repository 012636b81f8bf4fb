/**
 * The manifest's JSON Schema, generated from the zod schema the edge validates
 * with (`ManifestSchema`), so the edge and Python check ONE definition.
 *
 * The generated file is committed (docs/schema/manifest.schema.json): Python
 * reads it at export and whenever it loads a manifest
 * (training/gaitlstm/manifest_schema.py), and
 * test/contract/manifestJsonSchema.test.ts fails when it is not what this
 * function generates. After a change to `ManifestSchema`, regenerate it with
 * `npm run schema` (edge/contract/writeManifestSchema.ts) and commit it; the
 * Python tests then hold the exporter to the new contract.
 *
 * What JSON Schema cannot say stays on the edge: zod refinements (unit
 * quaternions, relative file names, each placement once) and the checks
 * across fields in manifest.ts (column order, tensor shapes, dt = 1 / rate).
 * Pure: no I/O.
 */
import { z } from "zod";
import { ManifestSchema, SUPPORTED_SCHEMA } from "./manifest.js";

/** Where the generated schema is committed, relative to the repository root. */
export const MANIFEST_SCHEMA_FILE = "docs/schema/manifest.schema.json";

export function manifestJsonSchema(): Record<string, unknown> {
  // io "input": what a manifest FILE may hold (fields with a default, such as
  // `variants`, are optional there).
  // Inline (no $defs): each pipeline's branch reads on its own, and a change to one
  // field changes the lines of that field only.
  const generated = z.toJSONSchema(ManifestSchema, { io: "input", target: "draft-2020-12", unrepresentable: "throw" });
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: `${SUPPORTED_SCHEMA} manifest`,
    description:
      "GENERATED from edge/contract/manifest.ts (ManifestSchema) by `npm run schema`: do not edit. " +
      "One branch per feature pipeline (docs/contract.md). The edge also checks refinements and cross-field rules this schema cannot express.",
    ...rest,
  };
}

/** The file's exact text: two-space JSON and a final newline, so a regeneration diff is minimal. */
export function manifestJsonSchemaText(): string {
  return JSON.stringify(manifestJsonSchema(), null, 2) + "\n";
}
