/**
 * What a plain runtime start loads (issue #11: one wearer's RSS under 100 MB).
 * Some modules cost far more memory than their size suggests and only serve
 * features a device may not use, so the runtime imports them at first use
 * (`await import(...)`); a static import added anywhere on the start-up path
 * would quietly load them again. This walks the runtime's static import graph
 * (esbuild's, as `make bench`'s memory probe is built: type-only imports
 * dropped, dynamic ones not followed) and names what must stay off it.
 */
import * as esbuild from "esbuild";
import { describe, expect, it } from "vitest";

/** Each module kept off the start-up path, and why (RSS measured by docs/bench.md "Memory"). */
const LAZY: Readonly<Record<string, string>> = {
  // An ES-module import of node:http also loads Node's bundled undici (~10 MB RSS).
  "node:http": "the dashboard's server, when the dashboard is on",
  "edge/dashboard/server.ts": "the dashboard's server, when the dashboard is on",
  ws: "the dashboard's MQTT bridge",
  aedes: "the embedded broker, when no broker URL is configured",
  serialport: "serial sources",
};

/** Pure: the inputs and external modules reachable from `entry` through static imports only. */
export function staticImports(metafile: esbuild.Metafile, entry: string): { files: Set<string>; external: Set<string> } {
  const files = new Set([entry]);
  const external = new Set<string>();
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    for (const imp of metafile.inputs[file]?.imports ?? []) {
      if (imp.kind !== "import-statement" && imp.kind !== "require-call") continue; // dynamic: loaded at first use
      if (imp.external) external.add(imp.path);
      else if (!files.has(imp.path)) {
        files.add(imp.path);
        queue.push(imp.path);
      }
    }
  }
  return { files, external };
}

async function metafileOf(entry: string): Promise<esbuild.Metafile> {
  const r = await esbuild.build({ entryPoints: [entry], bundle: true, format: "esm", platform: "node", packages: "external", write: false, metafile: true, outdir: "out/startup-imports", logLevel: "error" });
  return r.metafile;
}

describe("what a plain runtime start loads", () => {
  it("follows static imports and not dynamic ones (the walker itself)", () => {
    const meta = {
      inputs: {
        "a.ts": { bytes: 1, imports: [{ path: "b.ts", kind: "import-statement" }, { path: "c.ts", kind: "dynamic-import" }, { path: "zod", kind: "import-statement", external: true }] },
        "b.ts": { bytes: 1, imports: [{ path: "node:fs", kind: "import-statement", external: true }] },
        "c.ts": { bytes: 1, imports: [{ path: "ws", kind: "import-statement", external: true }] },
      },
      outputs: {},
    } as unknown as esbuild.Metafile;
    const { files, external } = staticImports(meta, "a.ts");
    expect([...files]).toEqual(["a.ts", "b.ts"]);
    expect([...external].sort()).toEqual(["node:fs", "zod"]);
  });

  it("keeps the modules of unused features off the runtime's start-up path", async () => {
    const entry = "edge/runtime/runtime.ts";
    const { files, external } = staticImports(await metafileOf(entry), entry);
    expect(files.size).toBeGreaterThan(50); // the graph was walked
    expect(external).toContain("onnxruntime-node");
    const loaded = Object.keys(LAZY).filter((m) => files.has(m) || external.has(m));
    expect(loaded.map((m) => `${m} (only for ${LAZY[m]})`)).toEqual([]);
  });
});
