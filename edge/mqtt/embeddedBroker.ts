/**
 * A small in-process MQTT broker (aedes) for a device with no broker on its
 * network: the edge runtime publishes to it and dashboards subscribe to it
 * directly. aedes speaks MQTT 3.1.1 only, so clients must use protocol
 * version 4. Retained messages live in memory and are lost on restart; the
 * publisher re-publishes its retained topics on every (re)connect.
 *
 * Security (issue #13: an anonymous LAN peer once rolled a model back and
 * installed an OTA bundle through it):
 * - it listens on 127.0.0.1 by default, open to local clients only;
 * - with `users`, every client must log in, and what it may publish and read
 *   follows the shipped mosquitto ACL (embeddedAcl.ts); a client id held by
 *   one user cannot be taken over by another (MQTT would disconnect the holder);
 * - any other `host` without `users` is refused (config and start()).
 * The runtime's own client logs in with a random password made at each start.
 */
import { pbkdf2, randomBytes, timingSafeEqual, createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { listen } from "../net/listen.js";
import type { Duplex } from "node:stream";
import { promisify } from "node:util";
// aedes itself is imported in start(): a device on an external broker never loads it (RSS, issue #11).
import type { Aedes, AuthenticateError, Client } from "aedes";
import { z } from "zod";
import type { Logger } from "../log.js";
import { mayAccess, type EmbeddedRole, type Identity } from "./embeddedAcl.js";
import { deviceIdSchema } from "./topics.js";

const pbkdf2Async = promisify(pbkdf2);

/**
 * How long aedes waits for a subscriber's socket to drain before dropping it.
 * While it waits, delivery to every other client waits too (aedes's default,
 * 60 s, let one sleeping phone stall the device's angles for everyone). A
 * client that has not taken a byte for 5 s is gone for a live stream.
 */
export const EMBEDDED_DRAIN_TIMEOUT_MS = 5000;

/** mosquitto_passwd's format (mosquitto 2.x): $7$<iterations>$<salt base64>$<PBKDF2-SHA512 base64>. */
const MOSQUITTO_HASH = /^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

export const embeddedUserSchema = z
  .object({
    /** One topic level: a device's username is its deviceId, as with mosquitto. */
    username: deviceIdSchema,
    /** device: its own topics only; operator: commands and OTA for every device; viewer: read-only. */
    role: z.enum(["device", "operator", "viewer"]),
    /** A file holding the password (first line), readable by the service only. */
    passwordFile: z.string().min(1).optional(),
    /** A mosquitto_passwd hash ($7$...): `mosquitto_passwd -c -b FILE NAME PASSWORD`, then copy the part after "NAME:". */
    passwordHash: z.string().regex(MOSQUITTO_HASH, "must be a mosquitto_passwd hash: $7$<iterations>$<salt>$<hash>").optional(),
  })
  .strict()
  .refine((u) => (u.passwordFile === undefined) !== (u.passwordHash === undefined), {
    message: "give exactly one of passwordFile or passwordHash (never a plain password in the config)",
  });
export type EmbeddedUser = z.infer<typeof embeddedUserSchema>;

export const embeddedBrokerConfigSchema = z
  .object({
    /** 127.0.0.1: this machine only. 0.0.0.0 (phones and laptops on the LAN) needs `users`. */
    host: z.string().default("127.0.0.1"),
    /** 0 picks a free port (tests). */
    port: z.number().int().min(0).max(65535).default(1883),
    /** Accounts; when present every client logs in. */
    users: z.array(embeddedUserSchema).min(1).optional(),
  })
  .refine((c) => !c.users || new Set(c.users.map((u) => u.username)).size === c.users.length, {
    message: "usernames must be unique",
    path: ["users"],
  });
export type EmbeddedBrokerConfig = z.input<typeof embeddedBrokerConfigSchema>;

/** Hosts that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Undefined when the config is safe; else what is wrong and what to add. */
export function openBrokerProblem(config: { host?: string | undefined; users?: readonly unknown[] | undefined }): string | undefined {
  const host = config.host ?? "127.0.0.1";
  if (isLoopbackHost(host) || config.users?.length) return undefined;
  return (
    `the embedded MQTT broker would listen on ${host} with no authentication: anyone on the network could send commands and OTA updates. ` +
    `Add mqtt.embedded.users, e.g. [{"username": "ops", "role": "operator", "passwordFile": "/etc/gait-edge/mqtt-ops.password"}], ` +
    `or set mqtt.embedded.host to "127.0.0.1"`
  );
}

export interface EmbeddedBrokerDeps {
  readonly logger: Logger;
  /** Topic prefix the ACL applies to (mqtt.prefix); default "gait". */
  readonly prefix?: string;
  /** The runtime's own device id: it gets an account with a random password (`selfCredentials`). */
  readonly deviceId?: string;
}

/** A user ready to check passwords against. */
interface Account {
  readonly role: EmbeddedRole;
  verify(password: Buffer): Promise<boolean>;
}

export class EmbeddedBroker {
  private broker: Aedes | undefined;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private boundPort: number | undefined;
  private boundAddress: string | undefined;
  private readonly config: z.infer<typeof embeddedBrokerConfigSchema>;
  private readonly prefix: string;
  /** Set once start() has read the password files; undefined = no users configured (loopback, open). */
  private accounts: Map<string, Account> | undefined;
  /** Who each connected client logged in as. */
  private readonly identities = new WeakMap<Client, Identity>();
  /** Refusals logged at most once a second: an attacker in a loop must not flood the journal. */
  private refusalLog = { lastAtMs: 0, suppressed: 0 };
  /** The runtime's own login: random, made per instance, never logged. */
  readonly selfCredentials: { readonly username: string; readonly password: string } | undefined;

  constructor(config: EmbeddedBrokerConfig, private readonly deps: EmbeddedBrokerDeps) {
    this.config = embeddedBrokerConfigSchema.parse(config);
    this.prefix = deps.prefix ?? "gait";
    if (deps.deviceId !== undefined) this.selfCredentials = { username: deps.deviceId, password: randomBytes(24).toString("base64url") };
  }

  /** Listens and returns the URL a local client connects to. */
  async start(): Promise<string> {
    if (this.server) throw new Error("embedded broker already started");
    const log = this.deps.logger;
    const problem = openBrokerProblem(this.config);
    if (problem) throw new Error(problem);
    // Read the password files before listening, so a bad path leaves nothing running.
    this.accounts = this.config.users ? await loadAccounts(this.config.users, this.selfCredentials?.username) : undefined;
    const { Aedes } = await import("aedes");
    const broker = await Aedes.createBroker({
      drainTimeout: EMBEDDED_DRAIN_TIMEOUT_MS,
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then(
          (refusal) => done(refusal, refusal === null),
          (err: unknown) => {
            log.error("embedded broker: authentication failed", { error: err instanceof Error ? err.message : String(err) });
            done(authError("server unavailable", 3), false);
          },
        );
      },
      // A refused publish makes aedes close that client's connection (MQTT 3.1.1
      // has no way to say no): stricter than mosquitto, which drops it silently.
      authorizePublish: (client, packet, done) => {
        if (client && this.allowed(client, "write", packet.topic)) return done(null);
        // client is null only for a will left by a client of an earlier broker instance: nobody vouches for it.
        if (!client && !this.accounts && !packet.topic.startsWith("$SYS")) return done(null);
        this.logRefusal("refused a publish", { client: client?.id, user: client ? this.identities.get(client)?.username : undefined, topic: packet.topic });
        done(new Error(`not authorized to publish to ${packet.topic}`));
      },
      // A plain topic the client may never read is refused (SUBACK 128: the subscriber
      // learns of it). A wildcard filter may match some topics it may read and some it
      // may not: it is accepted, and each message is checked as it goes out (authorizeForward).
      authorizeSubscribe: (client, subscription, done) => {
        const plain = !/[+#]/.test(subscription.topic);
        if (plain && !this.allowed(client, "read", subscription.topic)) {
          this.logRefusal("refused a subscription", { client: client.id, user: this.identities.get(client)?.username, topic: subscription.topic });
          return done(null, null);
        }
        done(null, subscription);
      },
      authorizeForward: (client, packet) => (this.allowed(client, "read", packet.topic) ? packet : null),
    });
    broker.on("clientError", (client, err) => log.debug(() => `client ${client.id} error: ${err.message}`));
    broker.on("connectionError", (_client, err) => log.debug(() => `connection error: ${err.message}`));

    const server = net.createServer((socket) => {
      // Live angles are small and frequent: with Nagle on, each waits for the
      // subscriber's delayed ACK (up to 40 ms) behind an unacknowledged one.
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    try {
      await listen(server, this.config.port, this.config.host, "embedded MQTT broker");
    } catch (err) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      throw err;
    }
    server.on("error", (err) => log.error("embedded broker server error", { error: err.message }));

    this.broker = broker;
    this.server = server;
    const address = server.address() as net.AddressInfo;
    this.boundPort = address.port;
    this.boundAddress = address.address;
    log.info("embedded MQTT broker listening", {
      host: this.config.host,
      port: this.boundPort,
      auth: this.accounts ? `${this.config.users?.length ?? 0} users` : "none (loopback only)",
    });
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

  /** The address it listens on ("127.0.0.1", "0.0.0.0", ...). */
  get address(): string {
    if (this.boundAddress === undefined) throw new Error("embedded broker not started");
    return this.boundAddress;
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

  /** null when the client may connect, else the CONNACK refusal. */
  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | null> {
    const accounts = this.accounts;
    if (!accounts) return null; // no users configured: loopback only, open (checked at start)
    const refuse = (why: string, code: 2 | 4 | 5): AuthenticateError => {
      this.logRefusal(`refused a client: ${why}`, { client: client.id, user: username });
      return authError(why, code);
    };
    if (username === undefined) return refuse("no username (anonymous clients are not allowed)", 5);
    const self = this.selfCredentials;
    let identity: Identity | undefined;
    if (self && username === self.username) {
      if (password && safeEqual(password, Buffer.from(self.password))) identity = { username, role: "self" };
    } else {
      const account = accounts.get(username);
      if (account && password && (await account.verify(password))) identity = { username, role: account.role };
    }
    if (!identity) return refuse("bad username or password", 4);
    // MQTT disconnects the holder of a client id when another connection claims it:
    // only the same user may do that (its own reconnect), never another one.
    // aedes keeps its connected clients by id (not in its type definitions).
    // aedes keeps its connected clients in `clients`, which its type declarations leave out.
    const clients = (this.broker as unknown as { clients?: Record<string, Client | undefined> } | undefined)?.clients;
    const holder = clients?.[client.id];
    const holderName = holder ? this.identities.get(holder)?.username : undefined;
    if (holderName !== undefined && holderName !== username) return refuse(`client id ${client.id} belongs to another user`, 2);
    this.identities.set(client, identity);
    return null;
  }

  private logRefusal(what: string, fields: Record<string, string | undefined>): void {
    const now = Date.now();
    if (now - this.refusalLog.lastAtMs < 1000) {
      this.refusalLog.suppressed++;
      return;
    }
    const suppressed = this.refusalLog.suppressed;
    this.refusalLog = { lastAtMs: now, suppressed: 0 };
    this.deps.logger.warn(`embedded broker: ${what}`, suppressed ? { ...fields, refusalsNotLogged: String(suppressed) } : fields);
  }

  private allowed(client: Client, access: "read" | "write", topic: string): boolean {
    // $SYS is the broker's own (aedes's default rule, kept: see aedes issue #597).
    if (access === "write" && topic.startsWith("$SYS")) return false;
    if (!this.accounts) return true;
    const who = this.identities.get(client);
    return who !== undefined && mayAccess(this.prefix, who, access, topic);
  }
}

async function loadAccounts(users: readonly EmbeddedUser[], selfName: string | undefined): Promise<Map<string, Account>> {
  const accounts = new Map<string, Account>();
  for (const [i, user] of users.entries()) {
    const field = `mqtt.embedded.users[${i}]`;
    if (user.username === selfName) {
      throw new Error(`${field}.username "${user.username}" is this device's own id: the runtime logs in under it by itself`);
    }
    if (user.role === "device" && user.username === "fleet") throw new Error(`${field}.username "fleet" is reserved (the fleet OTA offers live under <prefix>/fleet/)`);
    accounts.set(user.username, { role: user.role, verify: await verifier(field, user) });
  }
  return accounts;
}

async function verifier(field: string, user: EmbeddedUser): Promise<(password: Buffer) => Promise<boolean>> {
  if (user.passwordFile !== undefined) {
    let text: string;
    try {
      text = await readFile(user.passwordFile, "utf8");
    } catch (err) {
      throw new Error(`${field}.passwordFile: cannot read ${user.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    const expected = Buffer.from(text.split(/\r?\n/)[0] ?? "");
    if (expected.length === 0) throw new Error(`${field}.passwordFile: ${user.passwordFile} is empty`);
    return async (password) => safeEqual(password, expected);
  }
  const [, iterations, salt, hash] = MOSQUITTO_HASH.exec(user.passwordHash ?? "") ?? [];
  if (!iterations || !salt || !hash) throw new Error(`${field}: passwordFile or passwordHash is required`);
  const expected = Buffer.from(hash, "base64");
  return async (password) => {
    const actual = await pbkdf2Async(password, Buffer.from(salt, "base64"), Number(iterations), expected.length, "sha512");
    return timingSafeEqual(actual, expected);
  };
}

/** Constant-time comparison of secrets of any length (hashing first makes the lengths equal). */
function safeEqual(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

function authError(message: string, returnCode: 2 | 3 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}
