/**
 * A small in-process MQTT broker (aedes) for a device with no broker on its
 * network: the edge runtime publishes to it and dashboards on the LAN subscribe
 * to it directly. aedes speaks MQTT 3.1.1 only, so clients must use protocol
 * version 4. Retained messages live in memory and are lost on restart; the
 * publisher re-publishes its retained topics on every (re)connect.
 */
import net from "node:net";
import type { Duplex } from "node:stream";
import { Aedes } from "aedes";
import { z } from "zod";
import type { Logger } from "../log.js";

export const embeddedBrokerConfigSchema = z.object({
  /** 0.0.0.0 so phones and laptops on the LAN can subscribe; 127.0.0.1 keeps it local. */
  host: z.string().default("0.0.0.0"),
  /** 0 picks a free port (tests). */
  port: z.number().int().min(0).max(65535).default(1883),
});
export type EmbeddedBrokerConfig = z.infer<typeof embeddedBrokerConfigSchema>;

export class EmbeddedBroker {
  private broker: Aedes | undefined;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private boundPort: number | undefined;

  constructor(
    private readonly config: EmbeddedBrokerConfig,
    private readonly deps: { logger: Logger },
  ) {}

  /** Listens and returns the URL a local client connects to. */
  async start(): Promise<string> {
    if (this.server) throw new Error("embedded broker already started");
    const log = this.deps.logger;
    const broker = await Aedes.createBroker();
    broker.on("clientError", (client, err) => log.debug(() => `client ${client.id} error: ${err.message}`));
    broker.on("connectionError", (_client, err) => log.debug(() => `connection error: ${err.message}`));

    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.config.port, this.config.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      const e = err as NodeJS.ErrnoException;
      throw new Error(`embedded MQTT broker cannot listen on ${this.config.host}:${this.config.port}: ${e.code ?? e.message}`);
    }
    server.on("error", (err) => log.error("embedded broker server error", { error: err.message }));

    this.broker = broker;
    this.server = server;
    this.boundPort = (server.address() as net.AddressInfo).port;
    log.info("embedded MQTT broker listening", { host: this.config.host, port: this.boundPort });
    return this.url;
  }

  /**
   * Serves one MQTT connection that arrived another way (the dashboard's
   * WebSocket bridge): the same broker, sessions and checks as a TCP client.
   */
  handle(stream: Duplex): void {
    if (!this.broker) {
      stream.destroy();
      return;
    }
    this.broker.handle(stream);
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error("embedded broker not started");
    return this.boundPort;
  }

  /** Local URL: clients on this machine always reach it on loopback, whatever `host` is. */
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const { broker, server } = this;
    this.broker = undefined;
    this.server = undefined;
    if (!server || !broker) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // aedes.close() ends MQTT sessions; destroy the sockets too so server.close()
    // is not held open by a client that never answers.
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    this.deps.logger.info("embedded MQTT broker stopped");
  }
}
