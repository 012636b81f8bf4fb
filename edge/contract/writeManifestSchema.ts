/**
 * `npm run schema`: (re)write docs/schema/manifest.schema.json from the edge's
 * zod schema; `--check` only compares and exits 1 when the file is stale.
 * Run from the repository root.
 */
import { readFile, writeFile } from "node:fs/promises";
import { MANIFEST_SCHEMA_FILE, manifestJsonSchemaText } from "./manifestJsonSchema.js";

async function main(check: boolean): Promise<number> {
  const text = manifestJsonSchemaText();
  const current = await readFile(MANIFEST_SCHEMA_FILE, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  });
  if (check) {
    if (current === text) return 0;
    console.error(`${MANIFEST_SCHEMA_FILE} is ${current === null ? "missing" : "stale"}: run \`npm run schema\` and commit it`);
    return 1;
  }
  if (current !== text) await writeFile(MANIFEST_SCHEMA_FILE, text);
  console.log(`${MANIFEST_SCHEMA_FILE}: ${current === text ? "up to date" : "written"}`);
  return 0;
}

main(process.argv.includes("--check")).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
