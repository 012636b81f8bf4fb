/**
 * DashboardServer over real sockets: the static files, /config.json, and the
 * /mqtt bridge into a real aedes broker (mqtt.js's Node client over ws://
 * stands in for the browser; the browser itself: dashboard.browser.test.ts),
 * and the runtime's DashboardModule, which imports the server only when on.
 */
import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Aedes } from "aedes";
import { connectAsync } from "mqtt";
import { WebSocket } from "ws";
import { afterEach, describe, expect, it } from "vitest";
import { dashboardConfigSchema } from "../../edge/dashboard/config.js";
import { DashboardServer, type DashboardDeps } from "../../edge/dashboard/server.js";
import { DashboardModule } from "../../edge/modules/dashboard.js";
import { memoryLogger } from "../../edge/log.js";
import { waitFor } from "../helpers/waitFor.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function assets(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "dash-assets-"));
  await writeFile(path.join(dir, "index.html"), "<!doctype html><title>dash</title>");
  await writeFile(path.join(dir, "dashboard.js"), "console.log(1)");
  await writeFile(path.join(dir, "notes.txt"), "not served: unknown type");
  await mkdir(path.join(dir, "sub.js")); // a folder named like a file is not served either
  return dir;
}

async function started(deps: Partial<DashboardDeps> & { assetsDir: string }): Promise<DashboardServer> {
  const server = new DashboardServer(dashboardConfigSchema.parse({ port: 0 }), {
    logger: memoryLogger(),
    deviceInfo: { prefix: "gait", deviceId: "sim" },
    ...deps,
  });
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

describe("DashboardServer", () => {
  it("defaults to loopback on 8080, enabled", () => {
    expect(dashboardConfigSchema.parse({})).toEqual({ enabled: true, host: "127.0.0.1", port: 8080 });
    expect(dashboardConfigSchema.parse({ brokerWsUrl: "wss://pi-01.local:9001" }).brokerWsUrl).toBe("wss://pi-01.local:9001");
    expect(dashboardConfigSchema.safeParse({ brokerWsUrl: "mqtt://pi-01.local:1883" }).success).toBe(false);
  });

  it("serves the bundle's files with their types, and nothing else", async () => {
    const server = await started({ assetsDir: await assets() });
    const index = await fetch(server.url);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
    expect(await index.text()).toContain("<title>dash</title>");
    expect((await fetch(new URL("dashboard.js", server.url))).headers.get("content-type")).toMatch(/^text\/javascript/);
    for (const p of ["notes.txt", "sub.js", "nope.js", "..%2Fpackage.json", "%2e%2e/%2e%2e/etc/passwd"]) {
      expect([p, (await fetch(new URL(p, server.url))).status]).toEqual([p, 404]);
    }
    expect((await fetch(server.url, { method: "POST" })).status).toBe(405);
  });

  it("tells the page its device and broker, never credentials", async () => {
    const withBroker = await started({
      assetsDir: await assets(),
      deviceInfo: { prefix: "lab/gait", deviceId: "pi-01", brokerWsUrl: "wss://pi-01.local:9001" },
    });
    expect(await (await fetch(new URL("config.json", withBroker.url))).json()).toEqual({ prefix: "lab/gait", deviceId: "pi-01", brokerWsUrl: "wss://pi-01.local:9001" });
    // Bridged: the page connects back to this port; neither configured: null (the page says so).
    const bridged = await started({ assetsDir: await assets(), mqttStreamHandler: () => undefined });
    expect((await (await fetch(new URL("config.json", bridged.url))).json()).brokerWsUrl).toBe("/mqtt");
    const fromConfig = new DashboardServer(dashboardConfigSchema.parse({ port: 0, brokerWsUrl: "wss://b:9001" }), {
      logger: memoryLogger(),
      deviceInfo: { prefix: "gait", deviceId: "sim" },
      mqttStreamHandler: () => undefined,
    });
    expect(fromConfig.pageConfig().brokerWsUrl).toBe("wss://b:9001"); // a configured broker wins over the bridge
    const none = await started({ assetsDir: await assets() });
    expect((await (await fetch(new URL("config.json", none.url))).json()).brokerWsUrl).toBeNull();
  });

  it("answers 503 with the fix when the page was never built, and still serves config.json", async () => {
    const logger = memoryLogger();
    const server = await started({ assetsDir: path.join(tmpdir(), "no-such-dashboard-build"), logger });
    const res = await fetch(server.url);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/npm run build:dashboard/);
    expect((await fetch(new URL("config.json", server.url))).status).toBe(200);
    expect(logger.lines.some((l) => /dashboard page not built/.test(l))).toBe(true);
  });

  it("does not listen when disabled", async () => {
    const server = new DashboardServer(dashboardConfigSchema.parse({ enabled: false, port: 0 }), { logger: memoryLogger(), deviceInfo: { prefix: "gait", deviceId: "sim" } });
    expect(await server.start()).toBeUndefined();
    expect(() => server.port).toThrow(/not started/);
    await server.stop();
  });

  it("bridges /mqtt WebSockets into the broker: two WebSocket clients meet through it", async () => {
    const broker = await Aedes.createBroker();
    cleanups.push(() => new Promise<void>((r) => broker.close(() => r())));
    const server = await started({ assetsDir: await assets(), mqttStreamHandler: (stream) => broker.handle(stream) });
    const wsUrl = server.url.replace(/^http/, "ws") + "mqtt";
    const a = await connectAsync(wsUrl, { protocolVersion: 4, reconnectPeriod: 0 });
    const b = await connectAsync(wsUrl, { protocolVersion: 4, reconnectPeriod: 0 });
    const got: string[] = [];
    a.on("message", (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await a.subscribeAsync("gait/sim/#", { qos: 1 });
    await b.publishAsync("gait/sim/command", '{"command":"get_status"}', { qos: 1 });
    await waitFor("the message through the bridge", () => got.length > 0);
    expect(got).toEqual(['gait/sim/command {"command":"get_status"}']);
    // Any other path is not a WebSocket endpoint.
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(server.url.replace(/^http/, "ws") + "other", "mqtt");
      ws.on("open", () => resolve("opened"));
      ws.on("error", (err) => resolve(err.message));
    });
    expect(refused).toMatch(/404/);
    // stop() closes live WebSockets instead of waiting for the browser to leave.
    const closed = new Promise<void>((r) => a.once("close", () => r()));
    await server.stop();
    await closed;
    await b.endAsync(true);
    await a.endAsync(true);
  });
});

describe("DashboardModule (the runtime's side)", () => {
  const module = (config: unknown, assetsDir: string): DashboardModule =>
    new DashboardModule(config === undefined ? undefined : dashboardConfigSchema.parse(config), {
      logger: memoryLogger(),
      prefix: "gait",
      deviceId: "sim",
      mqttStreamHandler: () => undefined,
      assetsDir,
    });

  it("imports and starts the server when the dashboard is on (the server's code is loaded only then)", async () => {
    const m = module({ port: 0 }, await assets());
    await m.start();
    cleanups.push(() => m.stop());
    expect(m.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(new URL("config.json", m.url));
    expect(await res.json()).toEqual({ prefix: "gait", deviceId: "sim", brokerWsUrl: null });
  });

  it("serves nothing without a dashboard section, or with enabled: false", async () => {
    for (const config of [undefined, { enabled: false, port: 0 }]) {
      const m = module(config, await assets());
      await m.start();
      expect(m.url).toBeUndefined();
      await m.stop();
    }
  });
});
