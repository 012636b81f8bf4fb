/**
 * The live dashboard (docs/dashboard.md): serves the browser page, its
 * `/config.json`, and — with the embedded broker — a `/mqtt` WebSocket bridge
 * into that same broker, so a laptop on the LAN needs only the one port. The
 * page itself talks MQTT to the device like any other client; this module
 * only serves it.
 *
 * Started after the MQTT connection (the embedded broker must exist to be
 * bridged) and stopped before it. The server's code (node:http, and with it
 * Node's undici: ~10 MB of RSS) is imported only when the dashboard is on
 * (issue #11: one wearer's RSS).
 */
import type { Duplex } from "node:stream";
import type { Module } from "../core/module.js";
import type { DashboardConfig } from "../dashboard/config.js";
import type { DashboardServer } from "../dashboard/server.js";
import type { Logger } from "../log.js";

export interface DashboardModuleDeps {
  readonly logger: Logger;
  readonly prefix: string;
  readonly deviceId: string;
  /** The embedded broker's stream handler, read at start (undefined with an external broker). */
  readonly mqttStreamHandler: () => ((stream: Duplex) => void) | undefined;
  /** The bundle's folder (tests); default dist/dashboard. */
  readonly assetsDir?: string;
}

export class DashboardModule implements Module {
  readonly name = "dashboard";
  private server: DashboardServer | undefined;
  private pageUrl: string | undefined;

  constructor(
    private readonly config: DashboardConfig | undefined,
    private readonly deps: DashboardModuleDeps,
  ) {}

  /** The page's URL once started (undefined when the dashboard is off). */
  get url(): string | undefined {
    return this.pageUrl;
  }

  async start(): Promise<void> {
    if (!this.config?.enabled) return;
    const { DashboardServer } = await import("../dashboard/server.js");
    const handler = this.deps.mqttStreamHandler();
    const server = new DashboardServer(this.config, {
      logger: this.deps.logger,
      ...(handler ? { mqttStreamHandler: handler } : {}),
      deviceInfo: { prefix: this.deps.prefix, deviceId: this.deps.deviceId },
      ...(this.deps.assetsDir ? { assetsDir: this.deps.assetsDir } : {}),
    });
    this.pageUrl = await server.start();
    this.server = server;
    if (this.pageUrl) this.deps.logger.info(`dashboard at ${this.pageUrl}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.stop();
  }
}
