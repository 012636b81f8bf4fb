import { describe, expect, it } from "vitest";
import { startAll, stopAll, type Module } from "../../edge/core/module.js";
import { memoryLogger } from "../../edge/log.js";

function modules(log: string[], failStart?: string, failStop?: string): Module[] {
  return ["model", "mqtt", "pipelines", "sources"].map((name) => ({
    name,
    start: async () => {
      if (name === failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    stop: async () => {
      log.push(`stop ${name}`);
      if (name === failStop) throw new Error(`${name} cannot stop`);
    },
  }));
}

describe("startAll / stopAll", () => {
  it("starts in order and stops in reverse order", async () => {
    const log: string[] = [];
    const m = modules(log);
    await startAll(m, memoryLogger());
    await stopAll(m, memoryLogger());
    expect(log).toEqual(["start model", "start mqtt", "start pipelines", "start sources", "stop sources", "stop pipelines", "stop mqtt", "stop model"]);
  });

  it("a failed start stops what was started, in reverse, and rethrows", async () => {
    const log: string[] = [];
    await expect(startAll(modules(log, "pipelines"), memoryLogger())).rejects.toThrow("pipelines cannot start");
    expect(log).toEqual(["start model", "start mqtt", "stop mqtt", "stop model"]);
  });

  it("a failing stop is logged and the others still stop", async () => {
    const log: string[] = [];
    const logger = memoryLogger();
    await stopAll(modules(log, undefined, "pipelines"), logger);
    expect(log).toEqual(["stop sources", "stop pipelines", "stop mqtt", "stop model"]);
    expect(logger.lines.some((l) => l.includes("stopping pipelines failed: pipelines cannot stop"))).toBe(true);
  });
});
