/**
 * The shape of the edge's code, held by tests: no import cycles (a cycle means
 * two modules that cannot be understood, tested or replaced one at a time),
 * and no file over 400 lines without its reason stated at its top.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOTS = ["edge", "web"];
const MAX_LINES = 400;

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** Pure: relative imports (static, re-exports and dynamic; type-only ones too) of one file's source. */
export function relativeImports(file: string, source: string): string[] {
  const specs = [
    ...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.{1,2}\/[^"']+)["']/g),
    ...source.matchAll(/import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g),
  ].map((m) => m[1]!);
  return specs.map((s) => path.normalize(path.join(path.dirname(file), s.replace(/\.js$/, ".ts"))));
}

/** Pure: every cycle found by a depth-first walk, each as "a -> b -> a". */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (node: string): void => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next].join(" -> "));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

const files = ROOTS.flatMap((r) => sourceFiles(r));

describe("code layout", () => {
  it("finds a cycle when there is one (the checker itself)", () => {
    const g = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(findCycles(g)).toEqual(["a.ts -> b.ts -> c.ts -> a.ts"]);
    expect(relativeImports("edge/x/y.ts", 'import { a } from "../z/a.js";\nconst m = await import("./b.js");')).toEqual(["edge/z/a.ts", "edge/x/b.ts"]);
  });

  it("has no import cycles in edge/ or web/", () => {
    const graph = new Map(files.map((f) => [f, relativeImports(f, readFileSync(f, "utf8"))] as const));
    expect(graph.size).toBeGreaterThan(50);
    expect(findCycles(graph)).toEqual([]);
  });

  it(`says at its top why any file is over ${MAX_LINES} lines`, () => {
    const unexplained = files.filter((f) => {
      const text = readFileSync(f, "utf8");
      const lines = text.split("\n").length;
      return lines > MAX_LINES && !/over 400 lines/i.test(text.split("\n").slice(0, 40).join("\n"));
    });
    expect(unexplained).toEqual([]);
  });
});
