/**
 * A TCP proxy between the publisher and a broker that a test can cut and
 * restore. Cutting it looks, to the broker, exactly like a device that lost
 * power (no DISCONNECT: the last will fires) and, to the publisher, like a
 * network outage; meanwhile the test's own subscriber stays connected to the
 * broker directly, so it sees precisely what the publisher sent.
 *
 * `freeze()` is the nastier outage (issue #13): a link that stays open and
 * silently stops carrying anything, both ways, as a Wi-Fi dropout or a dead
 * NAT entry does. Nothing closes: only a keepalive can tell.
 */
import net from "node:net";

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket; frozen: boolean }>();
  private listenPort = 0;

  constructor(private readonly targetPort: number) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.listenPort}`;
  }

  /** Starts accepting (again, on the same port after a cut). */
  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const pair = { client, upstream, frozen: false };
      this.pairs.add(pair);
      client.once("close", () => this.pairs.delete(pair));
      client.pipe(upstream);
      upstream.pipe(client);
      // A frozen link must not pass on a close either (the broker drops its side after its keepalive).
      client.once("close", () => pair.frozen || upstream.destroy());
      upstream.once("close", () => pair.frozen || client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.listenPort, "127.0.0.1", () => resolve());
    });
    this.listenPort = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Drops every connection abruptly and refuses new ones until start(). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /**
   * Stops forwarding on every open connection, both ways, without closing
   * anything: bytes sent into it are neither delivered nor refused. New
   * connections are still accepted and forwarded.
   */
  freeze(): void {
    for (const pair of this.pairs) {
      pair.frozen = true;
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.client.pause();
      pair.upstream.pause();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}
