import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll } from "vitest";
import { memoryLogger } from "../../../edge/log.js";
import { ReplaySource, replaySourceSchema } from "../../../edge/sources/replay/index.js";
import { sourceSuite } from "../sourceSuite.js";
import { removeTempDirs, tempDir } from "./helpers.js";

afterAll(removeTempDirs);

const HEADER = '{"format":"gait-recording","version":1,"created":"x","deviceId":"suite"}';
const row = (id: string, t: number): string => JSON.stringify({ k: "s", id, t, a: [0, 0, 9.8], g: [0.1, 0, 0] });

// Thigh and foot, 10 samples each at 100 Hz, interleaved as a recorder writes them.
const expected = Array.from({ length: 10 }, (_, k) => [
  ["femur_r", k * 10_000],
  ["calcn_r", k * 10_000],
] as const).flat();

function fixture(variant: "good" | "bad" | "silent"): string {
  const lines = [HEADER];
  expected.forEach(([id, t], i) => {
    // silent: a 0.4 s hole after the first pair (played at speed 1, so the source is really quiet).
    lines.push(row(id, variant === "silent" && i >= 2 ? t + 400_000 : t));
    if (variant === "bad" && i % 7 === 3) lines.push(JSON.stringify({ k: "s", id, t, a: [0, 0], g: [0, 0, 0] }));
  });
  const file = join(tempDir(), `${variant}.jsonl`);
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

sourceSuite({
  name: "replay (a gait recording fixture)",
  expected,
  finite: true,
  badInput: { kind: "bad_value", count: 3 },
  canBeSilent: true,
  create: async (variant, { noDataTimeoutMs }) => ({
    source: new ReplaySource(
      replaySourceSchema.parse({ file: fixture(variant), speed: variant === "silent" ? 1 : 0, noDataTimeoutMs }),
      { logger: memoryLogger() },
    ),
    feed: async () => undefined, // a file plays by itself
    close: async () => undefined,
  }),
});
