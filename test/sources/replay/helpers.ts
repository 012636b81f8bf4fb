import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { memoryLogger } from "../../../edge/log.js";
import { ReplaySource, replaySourceSchema, type ReplaySourceDeps } from "../../../edge/sources/replay/index.js";
import type { ImuSample, SourceIssue } from "../../../edge/sources/types.js";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const DEMO_IMU = join(ROOT, "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz");
export const FIXTURES = join(ROOT, "test/fixtures/replay");
export const SHARED = join(ROOT, "../shared/data");

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

const tempDirs: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gait-replay-"));
  tempDirs.push(dir);
  return dir;
}

/** For `afterAll` in each test file that makes temp dirs. */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface Played {
  samples: ImuSample[];
  issues: SourceIssue[];
  ended: boolean;
  source: ReplaySource;
}

/** Plays a replay to its end (as fast as possible unless speed is given). */
export async function playAll(
  config: z.input<typeof replaySourceSchema>,
  deps: ReplaySourceDeps = {},
): Promise<Played> {
  const source = new ReplaySource(replaySourceSchema.parse({ speed: 0, ...config }), {
    logger: memoryLogger(),
    ...deps,
  });
  const played: Played = { samples: [], issues: [], ended: false, source };
  await new Promise<void>((resolve, reject) => {
    source
      .start({
        onSample: (s) => played.samples.push(s),
        onIssue: (i) => played.issues.push(i),
        onEnd: () => {
          played.ended = true;
          resolve();
        },
      })
      .catch(reject);
  });
  await source.stop();
  return played;
}

/** Starts a replay and resolves with the Error its start() rejects with. */
export async function startError(config: z.input<typeof replaySourceSchema>): Promise<Error> {
  const source = new ReplaySource(replaySourceSchema.parse({ speed: 0, ...config }), { logger: memoryLogger() });
  try {
    await source.start({ onSample: () => undefined, onIssue: () => undefined });
  } catch (err) {
    return err as Error;
  }
  await source.stop();
  throw new Error("start() did not fail");
}
