/**
 * Unknown config fields, found by walking the zod schema next to the raw JSON.
 *
 * zod's default object mode strips unknown keys silently, so a misspelled
 * `staleAfterMS` used to be ignored and the default ran instead. Rather than
 * ask every module to remember `.strict()` on each of its objects (they live
 * in many files, some owned elsewhere), the runtime checks the whole config
 * tree once, against whatever schemas compose it: a module that adds a config
 * section is covered without doing anything. Objects that opt out with
 * `.loose()`/`.passthrough()` (a catchall) are respected.
 *
 * Pure: schema + value in, findings out.
 */
import type { z } from "zod";

export interface UnknownField {
  /** Full path of the unknown key: ["pipeline", "staleAfterMS"]. */
  readonly path: ReadonlyArray<string | number>;
  /** The key names the schema accepts at that place, for the did-you-mean. */
  readonly known: readonly string[];
  /** The closest known key, when one is close enough to be a typo. */
  readonly suggestion?: string;
}

/** The bits of zod 4's internal definition we read (`schema._zod.def`). */
interface Def {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly shape?: Readonly<Record<string, z.ZodType>>;
  readonly catchall?: z.ZodType;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly items?: readonly z.ZodType[];
  readonly rest?: z.ZodType | null;
  readonly options?: readonly z.ZodType[];
  readonly discriminator?: string;
  readonly in?: z.ZodType;
  readonly left?: z.ZodType;
  readonly right?: z.ZodType;
  readonly getter?: () => z.ZodType;
  readonly values?: readonly unknown[];
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Wrappers whose inner schema describes the same value. */
const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "catch", "readonly", "nonoptional", "success"]);

export function findUnknownFields(schema: z.ZodType, value: unknown): UnknownField[] {
  const found: UnknownField[] = [];
  walk(schema, value, [], found);
  return found;
}

function walk(schema: z.ZodType, value: unknown, path: Array<string | number>, out: UnknownField[]): void {
  const def = defOf(schema);
  if (WRAPPERS.has(def.type) && def.innerType) return walk(def.innerType, value, path, out);
  switch (def.type) {
    case "pipe": // transforms: the input side is what the user wrote
      if (def.in) walk(def.in, value, path, out);
      return;
    case "lazy":
      if (def.getter) walk(def.getter(), value, path, out);
      return;
    case "object": {
      if (!isPlainObject(value) || !def.shape) return;
      const known = Object.keys(def.shape);
      // A catchall other than `never` (.loose(), .catchall(x)) accepts extra keys on purpose.
      const open = def.catchall !== undefined && defOf(def.catchall).type !== "never";
      for (const [key, child] of Object.entries(value)) {
        const field = def.shape[key];
        if (field) walk(field, child, [...path, key], out);
        else if (!open) out.push({ path: [...path, key], known, ...suggest(key, known) });
      }
      return;
    }
    case "array":
      if (Array.isArray(value) && def.element) value.forEach((v, i) => walk(def.element!, v, [...path, i], out));
      return;
    case "tuple":
      if (!Array.isArray(value)) return;
      value.forEach((v, i) => {
        const item = def.items?.[i] ?? def.rest ?? undefined;
        if (item) walk(item, v, [...path, i], out);
      });
      return;
    case "record":
      if (isPlainObject(value) && def.valueType) for (const [k, v] of Object.entries(value)) walk(def.valueType, v, [...path, k], out);
      return;
    case "intersection":
      // Rare in configs; each side sees only its own keys, so walking them would
      // flag the other side's keys. Left to zod.
      return;
    case "union": {
      const option = pickOption(def, value);
      if (option) walk(option, value, path, out);
      return;
    }
    default:
      return;
  }
}

/**
 * The union member the value is meant for: by discriminator when there is one
 * (an unknown `kind` is zod's to report), else the first member it parses as.
 */
function pickOption(def: Def, value: unknown): z.ZodType | undefined {
  const options = def.options ?? [];
  if (def.discriminator !== undefined) {
    if (!isPlainObject(value)) return undefined;
    const tag = value[def.discriminator];
    return options.find((o) => discriminatorValues(o, def.discriminator!).includes(tag));
  }
  return options.find((o) => o.safeParse(value).success);
}

function discriminatorValues(option: z.ZodType, key: string): readonly unknown[] {
  let def = defOf(option);
  while (WRAPPERS.has(def.type) && def.innerType) def = defOf(def.innerType);
  const field = def.shape?.[key];
  return field ? (defOf(field).values ?? []) : [];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The nearest known key within a typo's distance (case differences count as near). */
export function suggest(key: string, known: readonly string[]): { suggestion?: string } {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    // A case slip (`anglesQoS`) is the likeliest typo of all: rank it first.
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  // Up to a third of the word may be wrong (at least 2 edits): "recoder", "pipline".
  const limit = Math.max(2, Math.floor(key.length / 3));
  return best !== undefined && bestDistance <= limit ? { suggestion: best } : {};
}

/** Levenshtein distance (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** "  pipeline.staleAfterMS: unknown field (did you mean "staleAfterMs"?)" */
export function formatUnknownField(f: UnknownField): string {
  const hint = f.suggestion ? `did you mean "${f.suggestion}"?` : f.known.length ? `known fields: ${f.known.join(", ")}` : "no fields belong here";
  return `  ${f.path.join(".")}: unknown field (${hint})`;
}
