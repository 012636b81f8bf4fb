/**
 * The ota-crash check can fail: with issue #13's defect put back between the
 * kill and the restart (`current` names the model on probation, as the old
 * install wrote it), it must report the boot on the unproven model. The
 * passing run is in reliability.test.ts (quick mode, every scenario).
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { runOtaCrash } from "../../edge/reliability/otaCrash.js";

describe("reliability ota-crash", () => {
  it("reports a device that boots the model it was killed on probation with (the old defect, put back)", async () => {
    const r = await runOtaCrash({
      quick: true,
      only: ["probation"],
      logger: memoryLogger(),
      beforeRestart: async (otaDir) => {
        const record = JSON.parse(await readFile(path.join(otaDir, "probation"), "utf8")) as { folder: string };
        await writeFile(path.join(otaDir, "current"), record.folder + "\n");
      },
    });
    expect(r.ok).toBe(false);
    expect(r.figures).toMatchObject({ kills_during_probation: 1, boots: 2, boots_on_unproven_model: 1 });
  }, 120_000);
});
