/**
 * Nagle's algorithm off on every MQTT socket the device owns (issue #11, per-sample
 * latency). With it on, a 100 Hz stream of small `angles/sample` messages waits
 * for the receiver's delayed ACK (up to 40 ms on Linux) whenever one segment
 * is still unacknowledged: `make bench` showed runs of 4 messages arriving
 * together 10-40 ms late. What these tests hold is the socket option, not a
 * timing (timing figures come from `make bench`).
 */
import net from "node:net";
import { readFile } from "node:fs/promises";
import { connect as mqttConnect } from "mqtt";
import { afterEach, describe, expect, it, vi } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { EmbeddedBroker } from "../../edge/mqtt/embeddedBroker.js";
import { startMosquitto, type RunningMosquitto } from "../helpers/mosquitto.js";
import { connectionWithClients, testConfig, waitFor } from "./brokerSuite.js";

describe("TCP_NODELAY on the device's MQTT sockets", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  });

  /** The sockets `setNoDelay(true)` was called on. */
  function watchNoDelay(): Set<net.Socket> {
    const spy = vi.spyOn(net.Socket.prototype, "setNoDelay");
    const on = new Set<net.Socket>();
    const original = spy.getMockImplementation();
    spy.mockImplementation(function (this: net.Socket, enable?: boolean) {
      if (enable !== false) on.add(this);
      return original ? original.call(this, enable) : this;
    });
    return on;
  }

  it("the connection turns Nagle off on its socket, on the first connect and after a reconnect", async () => {
    const mosquitto: RunningMosquitto = await startMosquitto();
    let broker = mosquitto;
    cleanups.push(() => broker.stop());
    const noDelay = watchNoDelay();
    const { conn, clients } = connectionWithClients(testConfig(mosquitto.url));
    cleanups.push(() => conn.stop());
    await conn.start();
    expect(conn.connected).toBe(true);
    const first = clients[0]!.stream as net.Socket;
    expect(noDelay.has(first)).toBe(true);

    // A reconnect builds a new socket: it must get the option too.
    await mosquitto.kill();
    await waitFor("the connection to notice the broker is gone", () => !conn.connected, 10_000);
    broker = await startMosquitto({ port: mosquitto.port });
    await waitFor("the reconnect", () => conn.connected, 15_000);
    const second = clients[0]!.stream as net.Socket;
    expect(second).not.toBe(first);
    expect(noDelay.has(second)).toBe(true);
  });

  it("the embedded broker turns Nagle off on the sockets it accepts", async () => {
    const broker = new EmbeddedBroker({ host: "127.0.0.1", port: 0 }, { logger: memoryLogger("broker") });
    const url = await broker.start();
    cleanups.push(() => broker.stop());
    const noDelay = watchNoDelay();
    const client = mqttConnect(url, { protocolVersion: 4, reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync(true));
    await waitFor("the client to connect", () => client.connected, 10_000);
    // The broker's end of the link: a socket whose remote port is our client's local one.
    const local = (client.stream as net.Socket).localPort;
    expect([...noDelay].some((s) => s.remotePort === local)).toBe(true);
  });

  it("the shipped mosquitto config and the benchmark's broker set TCP_NODELAY toward subscribers", async () => {
    const shipped = await readFile("deploy/mosquitto/mosquitto.conf", "utf8");
    expect(shipped).toMatch(/^set_tcp_nodelay true$/m);
    const bench = await readFile("edge/bench/mosquitto.ts", "utf8");
    expect(bench).toContain('"set_tcp_nodelay true"');
  });
});
