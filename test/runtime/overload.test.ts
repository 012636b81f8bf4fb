/**
 * A device that cannot keep up must not look healthy. A stride window skipped
 * for a newer one is never published (skip-to-newest: its samples leave a gap
 * in `angles`); before the load watch (edge/modules/loadWatch.ts) the status
 * stayed `online` through any number of them. Here the simulator runs far
 * faster than real time, so inference falls behind at once.
 */
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { waitFor } from "../helpers/waitFor.js";

const MODEL = "test/fixtures/models/tiny-v1/manifest.json";

describe("an overloaded device", () => {
  it("is degraded while it skips, the reason naming the skipped windows (clearing: test/modules/loadWatch.test.ts)", async () => {
    const config = parseConfig({
      model: MODEL,
      sources: [{ kind: "simulator", wearers: 20, realtime: false, durationS: 600, seed: 1 }],
      mqtt: { deviceId: "overload", embedded: { host: "127.0.0.1", port: 0 } },
      load: { intervalS: 1, clearAfterS: 1 },
    });
    const runtime = new EdgeRuntime(config, { logger: memoryLogger() });
    try {
      await runtime.start();
      const skipped = (): number => Object.values(runtime.stats().pipelines).reduce((n, p) => n + p.skipped, 0);
      await waitFor("windows skipped", () => skipped() > 0, 20_000);
      await waitFor("the status degraded", () => runtime.stats().status.state === "degraded", 10_000);
      expect(runtime.stats().status.reason).toMatch(/overloaded: \d+ of \d+ stride windows skipped in the last \d+ s/);
      expect(runtime.stats().load).toMatchObject({ overloaded: true });
    } finally {
      await runtime.stop();
    }
  }, 60_000);
});
