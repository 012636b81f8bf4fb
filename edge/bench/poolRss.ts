/**
 * RSS of the inference sessions: one process per configuration loads the
 * model through the runtime's own loader (`onnxModelLoader`), runs 1600
 * windows, and prints its RSS (every thread of the process: the workers
 * included). docs/architecture.md "A pool of inference workers" quotes it.
 *
 * Run it compiled, as the service runs (under tsx every worker thread would
 * load tsx too), with the systemd unit's node flags:
 *
 *   node_modules/.bin/esbuild $(git ls-files 'edge/*.ts' | grep -v edge/dashboard/build.ts) --outdir=out/js/edge --format=esm --platform=node --log-level=warning
 *   cp package.json out/js/ && ln -sfn ../../node_modules out/js/node_modules
 *   for c in "main 1" "worker 1" "worker 2" "worker 3"; do node --max-semi-space-size=4 out/js/edge/bench/poolRss.js $c; done
 */
import { loadManifest } from "../contract/manifest.js";
import { InferenceConfigSchema } from "../inference/onnxModel.js";
import { onnxModelLoader } from "../ota/ports.js";
import { DEFAULT_MODEL } from "../runtime/config.js";

async function main(argv: readonly string[]): Promise<void> {
  const [thread = "main", workers = "1", model = DEFAULT_MODEL] = argv;
  if (thread !== "main" && thread !== "worker") throw new Error(`usage: poolRss main|worker <workers> [manifest] (got thread ${JSON.stringify(thread)})`);
  const contract = await loadManifest(model);
  const before = process.memoryUsage().rss;
  const config = InferenceConfigSchema.parse(thread === "main" ? {} : { thread, workers: Number(workers) });
  const session = await onnxModelLoader(config)(contract);
  const window = Float32Array.from({ length: contract.pipeline.window * contract.featureCount }, (_, i) => Math.sin(i * 0.37));
  for (let i = 0; i < 200; i++) await Promise.all(Array.from({ length: 8 }, () => session.run(window, 1)));
  await new Promise((r) => setTimeout(r, 300));
  const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;
  process.stdout.write(JSON.stringify({ thread, workers: config.workers, rss_before_load_mb: mb(before), rss_mb: mb(process.memoryUsage().rss) }) + "\n");
  await session.stop();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
