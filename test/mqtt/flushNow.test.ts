/**
 * A live message leaves the device's socket when it is published, not when
 * the event loop next runs its nextTick queue (issue #11, aligned bursts).
 * mqtt-packet corks the socket for every packet and uncorks it on
 * process.nextTick; when the main thread runs many wearers' windows back to
 * back, resumed in microtasks, those ticks only run after the whole burst: at
 * 100 wearers whose strides ended on one tick the socket was corked 69 deep
 * (p50, 281 at most) and the burst's angles reached the subscriber 40 ms
 * after they were published. What this holds is the socket state after each
 * publish, not a timing.
 */
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startMosquitto } from "../helpers/mosquitto.js";
import { connectionWithClients, testConfig } from "./brokerSuite.js";

describe("live publishes are flushed at once", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  });

  it.each([0, 1] as const)("QoS %i: a chain of publishes resumed in microtasks (as inference results are) leaves the socket uncorked after each", async (qos) => {
    const mosquitto = await startMosquitto();
    cleanups.push(() => mosquitto.stop());
    // liveProbeTimeoutMs 0: written at once, not held for the broker's probe answer (liveGate.ts).
    const { conn, clients } = connectionWithClients(testConfig(mosquitto.url, { liveProbeTimeoutMs: 0 }));
    cleanups.push(() => conn.stop());
    await conn.start();
    const socket = clients[0]!.stream as net.Socket;
    const corked: number[] = [];
    for (let i = 0; i < 20; i++) {
      await Promise.resolve(); // a microtask, as a window's result resumes its pipeline: no nextTick runs in between
      conn.publishLive(`gait/test/angles`, JSON.stringify({ seq: i }), qos, 100);
      corked.push(socket.writableCorked);
    }
    expect(corked).toEqual(corked.map(() => 0));
  });
});
