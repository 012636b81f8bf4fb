/**
 * The dashboard's HTTP server: the page's static files (bundled by
 * edge/dashboard/build.ts into dist/dashboard), `/config.json` (which device,
 * which broker URL; never credentials, see pageConfig.ts), and optionally
 * `/mqtt`, a WebSocket that hands each connection to an MQTT broker's stream
 * handler, so a browser reaches the embedded aedes broker through this port
 * (browsers speak MQTT only over WebSocket).
 *
 *   GET /             index.html
 *   GET /<file>       a file of the bundle (only those present at start: no path ever reaches the disk)
 *   GET /config.json  PageConfig
 *   WS  /mqtt         MQTT over WebSocket (subprotocol "mqtt"), when `mqttStreamHandler` is given
 *
 * Constructor stores dependencies; `start()` listens, `stop()` closes every
 * connection (a browser's WebSocket would otherwise hold `close()` open).
 */
import { readdir, readFile } from "node:fs/promises";
import http from "node:http";
import { listen } from "../net/listen.js";
import path from "node:path";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
// `ws` itself is imported when the bridge starts: a device without the dashboard never loads it (RSS, issue #11).
import type { WebSocket, WebSocketServer } from "ws";
import type { Logger } from "../log.js";
import type { DashboardConfig } from "./config.js";
import { MQTT_WS_PATH, type PageConfig } from "./pageConfig.js";


export interface DashboardDeps {
  readonly logger: Logger;
  /** Serves one MQTT connection over a stream (aedes: `(stream) => broker.handle(stream)`). Absent: no `/mqtt`. */
  readonly mqttStreamHandler?: (stream: Duplex) => void;
  readonly deviceInfo: {
    readonly prefix: string;
    readonly deviceId: string;
    /** Overrides the config's `brokerWsUrl` (for a runtime that derives it). */
    readonly brokerWsUrl?: string;
  };
  /** The bundle's folder; default dist/dashboard of this package. */
  readonly assetsDir?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/**
 * Scripts only from this origin (nothing from a CDN: the Pi may be offline, and
 * a page that can command a device should run no one else's code); sockets to
 * any ws/wss host, since the broker may be on another port or machine. mqtt.js
 * runs its keepalive timer in a worker it makes from a blob, because browsers
 * slow a background tab's timers below the keepalive and the broker would drop
 * a dashboard left behind another tab.
 */
const CSP =
  "default-src 'self'; script-src 'self'; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

/** dist/dashboard next to this package's package.json, whether we run from edge/ (tsx) or dist/edge/ (compiled). */
export async function defaultAssetsDir(): Promise<string> {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      await readFile(path.join(dir, "package.json"));
      return path.join(dir, "dist", "dashboard");
    } catch {
      const up = path.dirname(dir);
      if (up === dir) throw new Error("cannot find this package's folder (no package.json above edge/dashboard)");
      dir = up;
    }
  }
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

export class DashboardServer {
  private server: http.Server | undefined;
  private wss: WebSocketServer | undefined;
  private assets = new Map<string, Asset>();
  private boundPort: number | undefined;

  constructor(
    private readonly config: DashboardConfig,
    private readonly deps: DashboardDeps,
  ) {}

  /** What `/config.json` says. */
  pageConfig(): PageConfig {
    const { prefix, deviceId } = this.deps.deviceInfo;
    const brokerWsUrl = this.deps.deviceInfo.brokerWsUrl ?? this.config.brokerWsUrl ?? (this.deps.mqttStreamHandler ? MQTT_WS_PATH : null);
    return { prefix, deviceId, brokerWsUrl };
  }

  /** Listens; resolves to the page's URL (undefined when disabled). */
  async start(): Promise<string | undefined> {
    const log = this.deps.logger;
    if (!this.config.enabled) return undefined;
    if (this.server) throw new Error("dashboard server already started");
    const dir = this.deps.assetsDir ?? (await defaultAssetsDir());
    this.assets = await loadAssets(dir);
    if (!this.assets.has("/index.html")) {
      // Still serve /config.json and /mqtt: the runtime is not broken, the page is missing.
      log.warn(`dashboard page not built (no ${path.join(dir, "index.html")}): run 'npm run build:dashboard'`);
    }
    if (!this.pageConfig().brokerWsUrl) log.warn("dashboard: no broker WebSocket (neither dashboard.brokerWsUrl nor the embedded broker's bridge): the page cannot connect");

    const server = http.createServer((req, res) => this.onRequest(req, res));
    if (this.deps.mqttStreamHandler) this.bridgeMqtt(server, this.deps.mqttStreamHandler, await import("ws"));
    const address = await listen(server, this.config.port, this.config.host, "dashboard");
    server.on("error", (err) => log.error("dashboard server error", { error: err.message }));
    this.server = server;
    this.boundPort = address.port;
    log.info("dashboard listening", { url: this.url, mqttBridge: Boolean(this.deps.mqttStreamHandler) });
    return this.url;
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error("dashboard server not started");
    return this.boundPort;
  }

  /** On this machine; from elsewhere use the device's name or address with this port. */
  get url(): string {
    const host = this.config.host === "0.0.0.0" || this.config.host === "::" ? "127.0.0.1" : this.config.host;
    return `http://${host.includes(":") ? `[${host}]` : host}:${this.port}/`;
  }

  async stop(): Promise<void> {
    const { server, wss } = this;
    this.server = undefined;
    this.wss = undefined;
    if (!server) return;
    for (const client of wss?.clients ?? []) client.terminate();
    wss?.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    this.deps.logger.info("dashboard stopped");
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const headers = { "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": CSP };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...headers, Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" }).end("method not allowed\n");
      return;
    }
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    if (pathname === "/config.json") {
      res.writeHead(200, { ...headers, "Content-Type": CONTENT_TYPES[".json"]! }).end(JSON.stringify(this.pageConfig()));
      return;
    }
    const asset = this.assets.get(pathname === "/" ? "/index.html" : pathname);
    if (asset) {
      res.writeHead(200, { ...headers, "Content-Type": asset.type, "Content-Length": asset.body.length });
      res.end(req.method === "HEAD" ? undefined : asset.body);
      return;
    }
    if (pathname === "/" || pathname === "/index.html") {
      res.writeHead(503, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end("dashboard page not built: run 'npm run build:dashboard'\n");
      return;
    }
    res.writeHead(404, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end("not found\n");
  }

  /** `/mqtt`: each WebSocket becomes one byte stream for the broker, as a TCP socket would be. */
  private bridgeMqtt(server: http.Server, handle: (stream: Duplex) => void, wsModule: typeof import("ws")): void {
    const log = this.deps.logger;
    const { createWebSocketStream } = wsModule;
    const wss = new wsModule.WebSocketServer({
      noServer: true,
      // MQTT over WebSocket names the subprotocol "mqtt" (MQTT 3.1.1 §6); browsers drop a
      // connection whose requested subprotocol the server does not echo.
      handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : protocols.has("mqttv3.1") ? "mqttv3.1" : false),
    });
    this.wss = wss;
    server.on("upgrade", (req, socket, head) => {
      if (new URL(req.url ?? "/", "http://localhost").pathname !== MQTT_WS_PATH) {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        const stream = createWebSocketStream(ws);
        // A browser closing its tab mid-packet is routine; the broker sees the stream end.
        stream.on("error", (err) => log.debug(() => `dashboard MQTT socket: ${err.message}`));
        handle(stream);
      });
    });
  }
}

/** Every file of the bundle, keyed by URL path. Read once: the bundle is small (~0.3 MB) and changes only with a release. */
async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return assets;
    throw err;
  }
  for (const entry of entries) {
    const name = entry.name;
    const type = CONTENT_TYPES[path.extname(name)];
    if (!entry.isFile() || !type) continue;
    assets.set(`/${name}`, { body: await readFile(path.join(dir, name)), type });
  }
  return assets;
}
