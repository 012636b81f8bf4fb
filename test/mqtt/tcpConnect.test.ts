import { createRequire } from "node:module";
import { connect as mqttConnect } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../../edge/log.js";
import { EmbeddedBroker } from "../../edge/mqtt/embeddedBroker.js";
import { connectBroker, plainTcpBroker } from "../../edge/mqtt/tcpConnect.js";

describe("plainTcpBroker: which URLs skip mqtt.js's connect()", () => {
  const none = {};
  it("takes a plain mqtt:// or tcp:// URL, with mqtt's default port", () => {
    expect(plainTcpBroker("mqtt://127.0.0.1:1884", none, none)).toEqual({ host: "127.0.0.1", port: 1884 });
    expect(plainTcpBroker("mqtt://broker.lan", none, none)).toEqual({ host: "broker.lan", port: 1883 });
    expect(plainTcpBroker("tcp://broker.lan:1883/", none, none)).toEqual({ host: "broker.lan", port: 1883 });
    expect(plainTcpBroker("mqtt://[::1]:1883", none, none)).toEqual({ host: "::1", port: 1883 });
  });

  it("leaves to connect() what it treats specially: other schemes, logins and queries in the URL, client certificates, SOCKS, servers, unclean sessions, options overriding the URL", () => {
    for (const url of ["mqtts://broker.lan:8883", "ws://broker.lan:9001", "wss://broker.lan/mqtt", "mqtt://user:pw@broker.lan", "mqtt://user@broker.lan", "mqtt://broker.lan?clientId=x", "mqtt://broker.lan/path", "not a url"]) {
      expect(plainTcpBroker(url, none, none), url).toBeUndefined();
    }
    const url = "mqtt://broker.lan:1883";
    expect(plainTcpBroker(url, { cert: "c", key: "k" }, none)).toBeUndefined(); // connect() upgrades this to mqtts
    expect(plainTcpBroker(url, { socksProxy: "socks5://proxy:1080" }, none)).toBeUndefined();
    expect(plainTcpBroker(url, none, { MQTTJS_SOCKS_PROXY: "socks5://proxy:1080" })).toBeUndefined();
    expect(plainTcpBroker(url, { servers: [{ host: "a", port: 1 }] }, none)).toBeUndefined();
    expect(plainTcpBroker(url, { clean: false, clientId: "c" }, none)).toBeUndefined();
    for (const o of [{ protocol: "mqtts" as const }, { host: "other" }, { hostname: "other" }, { port: 1884 }, { path: "/p" }]) expect(plainTcpBroker(url, o, none), JSON.stringify(o)).toBeUndefined();
    expect(plainTcpBroker(url, { username: "u", password: "p", clean: true }, none)).toEqual({ host: "broker.lan", port: 1883 }); // a login in the options is the client's business
  });
});

/** npm packages of mqtt.js's other transports in this process's CommonJS cache. */
function transportsLoaded(): string[] {
  const cache = createRequire(import.meta.url).cache;
  const names = Object.keys(cache).map((f) => /\/node_modules\/(ws|socks|ip-address|smart-buffer)\//.exec(f)?.[1]);
  return [...new Set(names.filter((n): n is string => n !== undefined))].sort();
}

describe("connectBroker", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it("connects a plain-TCP client that publishes and receives through a real broker", async () => {
    const broker = new EmbeddedBroker({ host: "127.0.0.1", port: 0 }, { logger: memoryLogger() });
    const url = await broker.start();
    cleanups.push(() => broker.stop());
    const client = connectBroker(url, { protocolVersion: 4, clientId: "tcp-connect-test", reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync());
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    await client.subscribeAsync("t/#");
    const received = new Promise<string>((resolve) => client.once("message", (topic, payload) => resolve(`${topic} ${payload.toString()}`)));
    await client.publishAsync("t/x", "hello");
    expect(await received).toBe("t/x hello");
    // What the shortcut is for (~4 MB RSS): mqtt.js's transports were never loaded. A fresh worker per file (vitest.config.ts).
    expect(transportsLoaded()).toEqual([]);
  });

  it("(the check above sees mqtt.js's transports once connect() has loaded them)", async () => {
    const client = mqttConnect("mqtt://127.0.0.1:1", { reconnectPeriod: 0, connectTimeout: 100 });
    await client.endAsync(true);
    expect(transportsLoaded()).toEqual(expect.arrayContaining(["socks", "ws"]));
  });
});
