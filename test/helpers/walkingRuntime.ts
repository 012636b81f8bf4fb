/** A runtime on a simulated walker (embedded broker, recording only on command), and a raw recording reader. */
import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { memoryLogger } from "../../edge/log.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";

// A gait-features/1 model (angles from the first window, no mounting calibration): this tests the runtime, not the shipped model.
const MODEL = "test/fixtures/models/tiny-v1/manifest.json";

/** Starts a runtime on a simulated walker with an embedded broker; recording only on command. */
export async function walkingRuntime(dir: string, deviceId: string): Promise<{ runtime: EdgeRuntime; angles: () => number }> {
  let angles = 0;
  const config = parseConfig({
    model: MODEL,
    sources: [{ kind: "simulator" }],
    mqtt: { deviceId, embedded: { host: "127.0.0.1", port: 0 } },
    recorder: { dir, deviceId, autoStart: false },
  });
  const runtime = new EdgeRuntime(config, { logger: memoryLogger(), onAngles: () => (angles += 1) });
  await runtime.start();
  return { runtime, angles: () => angles };
}

export async function readRecording(file: string): Promise<Array<Record<string, unknown>>> {
  const bytes = await readFile(file);
  const text = (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString("utf8");
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

