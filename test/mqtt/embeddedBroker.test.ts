import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { EmbeddedBroker } from "../../edge/mqtt/embeddedBroker.js";
import { subscriber, waitFor } from "./brokerSuite.js";

describe("EmbeddedBroker", () => {
  it("listens on a random port, routes messages, and can restart on the same port", async () => {
    const first = new EmbeddedBroker({ host: "127.0.0.1", port: 0 }, { logger: memoryLogger() });
    const url = await first.start();
    expect(url).toBe(`mqtt://127.0.0.1:${first.port}`);
    const s = await subscriber(url, ["t/#"]);
    await s.client.publishAsync("t/1", '{"a":1}');
    await waitFor("message", () => s.messages[0]);
    expect(s.messages[0]).toMatchObject({ topic: "t/1", json: { a: 1 } });
    await first.stop(); // must not hang on the subscriber's open socket
    await s.end();

    const second = new EmbeddedBroker({ host: "127.0.0.1", port: first.port }, { logger: memoryLogger() });
    await expect(second.start()).resolves.toBe(url);
    await second.stop();
  });

  it("fails start() clearly when the port is taken", async () => {
    const first = new EmbeddedBroker({ host: "127.0.0.1", port: 0 }, { logger: memoryLogger() });
    await first.start();
    try {
      const second = new EmbeddedBroker({ host: "127.0.0.1", port: first.port }, { logger: memoryLogger() });
      await expect(second.start()).rejects.toThrow(`embedded MQTT broker cannot listen on 127.0.0.1:${first.port}: EADDRINUSE`);
    } finally {
      await first.stop();
    }
  });
});
