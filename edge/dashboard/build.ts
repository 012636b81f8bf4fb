/**
 * Bundles the dashboard page (web/dashboard) into static files with esbuild:
 * one script (mqtt.js, uPlot and zod inside, nothing fetched from a CDN at run
 * time: the Pi may be offline), one stylesheet, index.html.
 *
 *   npx tsx edge/dashboard/build.ts [outDir]     (default dist/dashboard; `npm run build:dashboard`)
 *
 * esbuild is a dev dependency: this runs at build time (`npm run build`, the
 * installer, the tests), never in the runtime, which only serves the result.
 */
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DASHBOARD_SOURCE = path.join(ROOT, "web", "dashboard");
export const DEFAULT_OUT_DIR = path.join(ROOT, "dist", "dashboard");

export interface BuildResult {
  readonly outDir: string;
  /** Output file -> bytes. */
  readonly files: Record<string, number>;
}

export async function buildDashboard(options: { outDir?: string; minify?: boolean } = {}): Promise<BuildResult> {
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: { dashboard: path.join(DASHBOARD_SOURCE, "main.ts"), style: path.join(DASHBOARD_SOURCE, "dashboard.css") },
    outdir: outDir,
    bundle: true,
    platform: "browser",
    format: "esm",
    // Browsers of the last few years: phones and laptops at the bench.
    target: ["es2022", "chrome100", "firefox100", "safari15"],
    minify: options.minify ?? true,
    sourcemap: "linked",
    metafile: true,
    logLevel: "silent",
    legalComments: "eof",
  });
  await copyFile(path.join(DASHBOARD_SOURCE, "index.html"), path.join(outDir, "index.html"));
  const files: Record<string, number> = {};
  for (const [file, info] of Object.entries(result.metafile.outputs)) files[path.relative(outDir, file)] = info.bytes;
  return { outDir, files };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildDashboard({ outDir: process.argv[2] ? path.resolve(process.argv[2]) : undefined })
    .then(({ outDir, files }) => {
      for (const [file, bytes] of Object.entries(files)) console.log(`${path.join(path.relative(process.cwd(), outDir), file)}  ${(bytes / 1024).toFixed(1)} KiB`);
    })
    .catch((err: Error) => {
      console.error(`dashboard build failed: ${err.message}`);
      process.exitCode = 1;
    });
}
