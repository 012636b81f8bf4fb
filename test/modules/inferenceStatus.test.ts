/** A lost inference worker (an `inferenceHealth` event, edge/inference/inferencePool.ts) degrades the device's status until its session stops. */
import { describe, expect, it } from "vitest";
import { EventBus } from "../../edge/core/bus.js";
import type { EdgeEvents, StatusChange } from "../../edge/core/events.js";
import { memoryLogger } from "../../edge/log.js";
import { StatusModule } from "../../edge/modules/status.js";

describe("status and the inference pool", () => {
  it("is degraded with the pool's reason while a worker is lost, and online again once that session stopped", async () => {
    const logger = memoryLogger();
    const bus = new EventBus<EdgeEvents>({ logger });
    const published: unknown[] = [];
    const status = new StatusModule({ logger, bus, device: { publishRetained: async (_s, p) => void published.push(p) }, snapshot: () => ({}), now: () => 1 });
    const changes: StatusChange[] = [];
    bus.on("status", (s) => changes.push(s));
    await status.start();
    const reason = "m 1.0.0: inference worker 2 of 2 lost (the inference thread exited (code 1)); 1 left";
    bus.emit("inferenceHealth", { session: "m 1.0.0 #1", health: { healthy: false, reason } });
    expect(status.status).toEqual({ state: "degraded", reason });
    // Another session (an OTA candidate) being fine does not clear the first one's problem.
    bus.emit("inferenceHealth", { session: "m 1.1.0 #2", health: { healthy: true } });
    expect(status.status.state).toBe("degraded");
    bus.emit("inferenceHealth", { session: "m 1.0.0 #1", health: { healthy: true } });
    expect(status.status).toEqual({ state: "online" });
    expect(changes.map((c) => c.state)).toEqual(["degraded", "online"]);
    expect(published.length).toBe(3); // at start, degraded, online
    await status.stop();
  });
});
