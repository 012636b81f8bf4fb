import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../edge/runtime/config.js";

describe("shipped configs", () => {
  const dir = "deploy/config";
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    it(`${file} is valid`, async () => {
      const c = await loadConfig(path.join(dir, file));
      expect(c.sources.length).toBeGreaterThan(0);
    });
  }
});
