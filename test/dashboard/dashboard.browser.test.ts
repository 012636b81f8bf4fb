/**
 * The dashboard in a real browser (Debian's Chromium, headless, driven by
 * playwright-core) against a live runtime: aedes on TCP for the EdgeRuntime
 * (simulator source, walking in real time), the same broker bridged to the
 * page through DashboardServer's /mqtt WebSocket, and the bundle built fresh.
 *
 * Skips (with a message) when /usr/bin/chromium is absent.
 *
 *   UPDATE_SCREENSHOTS=1   save the screenshot to docs/img/dashboard.png (else a temp dir)
 *   DASHBOARD_SOAK_S=60    also run the memory soak: page heap every 10 s for that long
 *                          (a figure to read, not an assertion)
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Aedes } from "aedes";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDashboard } from "../../edge/dashboard/build.js";
import { dashboardConfigSchema } from "../../edge/dashboard/config.js";
import { DashboardServer } from "../../edge/dashboard/server.js";
import { memoryLogger } from "../../edge/log.js";
import { parseConfig } from "../../edge/runtime/config.js";
import { EdgeRuntime } from "../../edge/runtime/runtime.js";
import { freePort, startMosquitto } from "../helpers/mosquitto.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard browser test skipped: ${CHROMIUM} not found (apt-get install chromium)`);
const SOAK_S = Number(process.env.DASHBOARD_SOAK_S ?? 0);

// Without the background-networking flags Chromium's own connections are refused here
// and it stalls; --disable-quic keeps it on TCP.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

interface Live {
  broker: Aedes;
  tcp: net.Server;
  runtime: EdgeRuntime;
  dashboard: DashboardServer;
  context: BrowserContext;
  page: Page;
  profile: string;
  assetsDir: string;
  pageErrors: string[];
}
let live: Live | undefined;

async function listenTcp(broker: Aedes): Promise<net.Server> {
  const tcp = net.createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(0, "127.0.0.1", () => resolve());
  });
  return tcp;
}

/**
 * Runs `probe` in the page until it returns something other than false,
 * undefined or null, and returns that (the page updates on its own schedule: a
 * condition, never a sleep). The probe runs through the DevTools protocol, so
 * the page's CSP (no eval) does not apply to it.
 */
async function waitForValue<T, A extends string | number | null = null>(
  page: Page,
  what: string,
  probe: (arg: A) => T | false | undefined | null,
  arg?: A,
  timeoutMs = 20_000,
): Promise<T> {
  try {
    // Playwright types the probe's argument through its own unexported helper; ours is a plain value.
    const run = probe as (arg: unknown) => T | false | undefined | null;
    const handle = await page.waitForFunction(run, arg ?? null, { timeout: timeoutMs, polling: 50 });
    return (await handle.jsonValue()) as T;
  } catch (err) {
    throw new Error(`timed out waiting for ${what}: ${(err as Error).message.split("\n")[0]}`, { cause: err });
  }
}

/**
 * The shipped simulator config, with a v1 test model: the dashboard needs angles within seconds, and
 * the shipped model (gait-features/2) publishes none until each sensor is calibrated from 20 s of
 * walking (and the simulator's foot is left-handed until the simulator fix, branch wt-sim).
 */
async function simulatorConfig(): Promise<Record<string, unknown>> {
  const simulator = JSON.parse(await readFile("deploy/config/simulator.json", "utf8")) as Record<string, unknown>;
  return { ...simulator, model: "test/fixtures/models/tiny-v1/manifest.json" };
}

describe.skipIf(!hasChromium)("dashboard in Chromium against a live runtime", () => {
  beforeAll(async () => {
    const assetsDir = await mkdtemp(path.join(tmpdir(), "dashboard-build-"));
    await buildDashboard({ outDir: assetsDir });

    const broker = await Aedes.createBroker();
    const tcp = await listenTcp(broker);
    const port = (tcp.address() as net.AddressInfo).port;

    const simulator = await simulatorConfig();
    const config = parseConfig({ ...simulator, mqtt: { url: `mqtt://127.0.0.1:${port}`, deviceId: "sim" }, log: { level: "warn" } });
    const runtime = new EdgeRuntime(config, { logger: memoryLogger() });
    await runtime.start();

    const dashboard = new DashboardServer(dashboardConfigSchema.parse({ port: 0 }), {
      logger: memoryLogger(),
      mqttStreamHandler: (stream) => broker.handle(stream),
      deviceInfo: { prefix: config.mqtt.prefix, deviceId: config.mqtt.deviceId },
      assetsDir,
    });
    await dashboard.start();

    const profile = await mkdtemp(path.join(tmpdir(), "dashboard-chromium-"));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      viewport: { width: 1280, height: 1000 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") pageErrors.push(msg.text());
    });
    live = { broker, tcp, runtime, dashboard, context, page, profile, assetsDir, pageErrors };
    await page.goto(dashboard.url);
  }, 60_000);

  afterAll(async () => {
    if (!live) return;
    await live.context.close();
    await live.dashboard.stop();
    await live.runtime.stop();
    await new Promise<void>((r) => live!.broker.close(() => r()));
    await new Promise<void>((r) => live!.tcp.close(() => r()));
    await rm(live.profile, { recursive: true, force: true });
    await rm(live.assetsDir, { recursive: true, force: true });
  }, 30_000);

  it("plots live angles, moves the stick figure, shows model and status, and round-trips a calibrate", async () => {
    const page = live!.page;
    const publish = (topic: string, payload: unknown): Promise<void> =>
      new Promise((resolve, reject) =>
        live!.broker.publish({ cmd: "publish", topic, payload: Buffer.from(JSON.stringify(payload)), qos: 0, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
      );
    await waitForValue(page, "the connection", () => document.getElementById("connection")?.dataset.state === "connected");
    await waitForValue(page, "the retained model", () => document.getElementById("model")?.textContent?.includes("tiny-v1"));
    await waitForValue(page, "the retained status", () => document.getElementById("device-status")?.dataset.state === "online");

    // The plots fill: more samples after the next messages, and the readout moves.
    const plotted = (atLeast: number): number | false => {
      const n = Number(document.getElementById("plots")?.dataset.samples);
      return n >= atLeast && n;
    };
    const first = await waitForValue(page, "plotted samples", plotted, 25);
    const more = await waitForValue(page, "more plotted samples", plotted, first + 100);
    expect(more).toBeGreaterThan(first);
    const knee = await page.locator("#value-knee_flexion_r").textContent();
    expect(knee).toMatch(/^[+-]\d+\.\d°$/);
    await waitForValue(page, "a new knee value", (before) => document.getElementById("value-knee_flexion_r")?.textContent !== before, knee);
    expect(await page.locator("#plots canvas").count()).toBe(5);

    const leg = await page.locator("#leg").getAttribute("points");
    expect(leg).toMatch(/^\S+,\S+ \S+,\S+ \S+,\S+$/); // hip knee ankle
    await waitForValue(page, "the stick figure to move", (before) => document.getElementById("leg")?.getAttribute("points") !== before, leg);

    // get_status is asked on connect: the status table shows the runtime's counters.
    await waitForValue(page, "get_status rows", () => document.getElementById("status-table")?.textContent?.includes("published"));
    expect(await page.locator("#metrics-none").textContent()).toBe("none yet");

    // Topics this runtime does not publish (no OTA in the simulator config, gait metrics
    // not yet): sent here as the device would, they fill their panels.
    await publish("gait/sim/ota/state", {
      state: "downloading",
      progress: 0.4,
      installed_version: "1.0.0",
      offered_version: "1.0.1",
      reason: null,
      code: null,
      transfer_id: "0123456789abcdef0123456789abcdef",
      since: Date.now(),
    });
    await waitForValue(page, "the OTA state", () => document.getElementById("ota-headline")?.textContent === "downloading 40%: 1.0.0 -> 1.0.1");
    expect(await page.locator("#ota-progress").getAttribute("value")).toBe("0.4");
    await publish("gait/sim/gait/stride", { wearer: "default", placement: "calcn_r", startUs: 0, endUs: 1_150_000, strideTimeS: 1.15, cadenceSpm: 104, stancePct: 61 });
    await waitForValue(page, "the gait metrics", () => document.getElementById("metrics")?.textContent?.includes("104.0 steps/min"));
    expect(await page.locator("#metrics-none").isVisible()).toBe(false);

    // Calibrate: with the simulator walking the device may refuse ("moving"); either reply is the round trip.
    await page.locator("#cmd-calibrate").click();
    const reply = await waitForValue(page, "the calibrate reply", () =>
      [...document.querySelectorAll("#command-log li[data-status]")].map((li) => li.textContent ?? "").find((t) => t.includes("calibrate:")),
    );
    expect(reply).toMatch(/calibrate: (ok|error: calibration rejected.*moving)/);

    const shot = process.env.UPDATE_SCREENSHOTS === "1" ? path.resolve("docs/img/dashboard.png") : path.join(await mkdtemp(path.join(tmpdir(), "dashboard-shot-")), "dashboard.png");
    await mkdir(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`dashboard screenshot: ${shot}`);

    // A malformed message is shown as a problem, and the page goes on.
    await publish("gait/sim/gait/stride", { cadenceSpm: "fast" });
    await waitForValue(page, "the problem", () => document.getElementById("problems")?.textContent?.includes("gait/stride:"));
    expect(live!.pageErrors).toEqual([]);
  }, 60_000);

  it("asks for credentials when the broker refuses, and connects with the typed ones", async () => {
    const PASSWORD = "pw-dash-secret";
    // A broker that wants an account, as mosquitto with allow_anonymous false does.
    const broker = await Aedes.createBroker({
      authenticate: (_client, username, password, done) => {
        const ok = username === "dashboard" && password?.toString() === PASSWORD;
        done(ok ? null : Object.assign(new Error("bad credentials"), { returnCode: 4 as const }), ok);
      },
    });
    const dashboard = new DashboardServer(dashboardConfigSchema.parse({ port: 0 }), {
      logger: memoryLogger(),
      mqttStreamHandler: (stream) => broker.handle(stream),
      deviceInfo: { prefix: "gait", deviceId: "locked" },
      assetsDir: live!.assetsDir,
    });
    await dashboard.start();
    const page = await live!.context.newPage();
    try {
      await page.goto(dashboard.url);
      await waitForValue(page, "the refusal", () => document.getElementById("connection")?.dataset.state === "refused");
      expect(await page.locator("#login").isVisible()).toBe(true);
      await page.locator("#login-user").fill("dashboard");
      await page.locator("#login-password").fill(PASSWORD);
      await page.locator("#login button[type=submit]").click();
      await waitForValue(page, "the connection with the typed account", () => document.getElementById("connection")?.dataset.state === "connected");
      expect(await page.locator("#login").isVisible()).toBe(false);
      // The password went to the broker only: not left in the form, not in anything served.
      expect(await page.locator("#login-password").inputValue()).toBe("");
      for (const file of ["", "config.json", "dashboard.js"]) expect(await (await fetch(new URL(file, dashboard.url))).text()).not.toContain(PASSWORD);
    } finally {
      await page.close();
      await dashboard.stop();
      await new Promise<void>((r) => broker.close(() => r()));
    }
  }, 60_000);

  it("connects straight to mosquitto's WebSocket listener (the Pi setup: brokerWsUrl, no bridge)", async () => {
    const wsPort = await freePort();
    const mosquitto = await startMosquitto({ extraConf: `listener ${wsPort} 127.0.0.1\nprotocol websockets` });
    const simulator = await simulatorConfig();
    const config = parseConfig({ ...simulator, mqtt: { url: mosquitto.url, deviceId: "pi-ws" }, log: { level: "warn" } });
    const runtime = new EdgeRuntime(config, { logger: memoryLogger() });
    const dashboard = new DashboardServer(dashboardConfigSchema.parse({ port: 0 }), {
      logger: memoryLogger(),
      deviceInfo: { prefix: "gait", deviceId: "pi-ws", brokerWsUrl: `ws://127.0.0.1:${wsPort}` },
      assetsDir: live!.assetsDir,
    });
    const page = await live!.context.newPage();
    try {
      await runtime.start();
      await dashboard.start();
      await page.goto(dashboard.url);
      await waitForValue(page, "the model over mosquitto", () => document.getElementById("model")?.textContent?.includes("tiny-v1"));
      await waitForValue(page, "angles over mosquitto", () => Number(document.getElementById("plots")?.dataset.samples) >= 25);
      await page.locator("#cmd-heading-reset").click();
      await waitForValue(page, "the heading_reset reply", () => document.getElementById("command-log")?.textContent?.includes("heading_reset: ok"));
    } finally {
      await page.close();
      await dashboard.stop();
      await runtime.stop();
      await mosquitto.stop();
    }
  }, 60_000);

  it("is served by the runtime itself (dashboard config section), bridged into its embedded broker", async () => {
    // What a user gets with `"dashboard": {...}` in the config: the runtime builds
    // nothing, so the bundle is built into its default folder (dist/dashboard) first.
    await buildDashboard();
    const simulator = await simulatorConfig();
    const config = parseConfig({
      ...simulator,
      mqtt: { deviceId: "own", embedded: { host: "127.0.0.1", port: 0 } },
      dashboard: { port: 0 },
      recorder: { dir: await mkdtemp(path.join(tmpdir(), "dashboard-rec-")), autoStart: false },
      log: { level: "warn" },
    });
    const runtime = new EdgeRuntime(config, { logger: memoryLogger() });
    const page = await live!.context.newPage();
    try {
      await runtime.start();
      expect(runtime.dashboardUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      await page.goto(runtime.dashboardUrl!);
      await waitForValue(page, "the connection through /mqtt", () => document.getElementById("connection")?.dataset.state === "connected");
      await waitForValue(page, "the device id", () => document.body.textContent?.includes("own"));
      const plotted = (atLeast: number): number | false => {
        const n = Number(document.getElementById("plots")?.dataset.samples);
        return n >= atLeast && n;
      };
      const first = await waitForValue(page, "plotted samples", plotted, 25);
      await waitForValue(page, "more plotted samples", plotted, first + 50);
      await page.locator("#cmd-heading-reset").click();
      await waitForValue(page, "the heading_reset reply", () => document.getElementById("command-log")?.textContent?.includes("heading_reset: ok"));
      // Recording control from the page: the replies name the session and the files written.
      await page.locator("#cmd-record-start").click();
      await waitForValue(page, "the record_start reply", () => document.getElementById("command-log")?.textContent?.includes("record_start: ok, session"));
      await page.locator("#cmd-record-stop").click();
      const stopped = await waitForValue(page, "the record_stop reply", () =>
        [...document.querySelectorAll("#command-log li")].map((li) => li.textContent ?? "").find((t) => t.includes("record_stop:") && !t.includes("waiting for the reply")),
      );
      expect(stopped).toMatch(/record_stop: ok, session \S+, file .*\.jsonl/);
    } finally {
      await page.close();
      await runtime.stop();
    }
  }, 60_000);

  it.runIf(SOAK_S > 0)(`page memory over ${SOAK_S} s at the real rate (figure, not asserted)`, async () => {
    const page = live!.page;
    const cdp = await live!.context.newCDPSession(page);
    const samples: Array<{ s: number; usedMiB: number; afterGcMiB: number; plotted: number }> = [];
    const t0 = Date.now();
    for (let s = 0; s <= SOAK_S; s += 10) {
      // Wait for the clock, not a fixed sleep: the loop's own work shifts each round.
      while (Date.now() - t0 < s * 1000) await new Promise((r) => setTimeout(r, 200));
      const before = (await cdp.send("Runtime.getHeapUsage")).usedSize;
      await cdp.send("HeapProfiler.collectGarbage");
      const after = (await cdp.send("Runtime.getHeapUsage")).usedSize;
      const plotted = Number(await page.locator("#plots").getAttribute("data-samples"));
      samples.push({ s, usedMiB: +(before / 2 ** 20).toFixed(2), afterGcMiB: +(after / 2 ** 20).toFixed(2), plotted });
    }
    console.log(`dashboard heap (MiB) every 10 s: ${JSON.stringify(samples)}`);
    expect(samples.length).toBeGreaterThan(1);
    expect(live!.pageErrors).toEqual([]);
  }, (SOAK_S + 60) * 1000);
});
