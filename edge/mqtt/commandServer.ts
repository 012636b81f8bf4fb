/**
 * One command server for every command topic (`command`, `ota/command`, ...),
 * speaking the one protocol of edge/commands/types.ts:
 *
 *   <base>/<topic>            {id?, command, args?}
 *   <base>/<topic>/response   {id, status: "ok" | "error", error?, data?}
 *
 * A module owns a topic by handing its `CommandTable` to `register()`. For
 * each request the server: ignores a retained one (it would re-run on every
 * reconnect: a surprise recalibration), refuses one over 64 KiB, applies the
 * topic's rate limit, parses the JSON, validates it, finds the command
 * (unknown: an error listing the valid names), validates the arguments with
 * the command's schema, runs it and replies. Nothing a client sends can make
 * it throw; every refusal is an error reply and a counter.
 *
 * Rate limit: a token bucket per topic. A flood (20,000 commands once stalled
 * the angle stream and wrote 20,000 log lines) is answered with
 * `rate limited` at most once per second, logged at most once per second,
 * and counted; the commands in it do not run.
 */
import { commandReplySchema, commandRequestSchema, type CommandReply, type CommandTable, type CommandTopic } from "../commands/types.js";
import type { Logger } from "../log.js";
import type { MessageHandler } from "./connection.js";
import { describeZodError } from "./topics.js";

export const MAX_COMMAND_BYTES = 64 * 1024;

/** The slice of MqttConnection the server needs (tests substitute a fake). */
export interface CommandConnection {
  subscribe(filter: string, handler: MessageHandler, qos?: 0 | 1): () => Promise<void>;
  publish(topic: string, payload: string, options?: { qos?: 0 | 1; retain?: boolean }): Promise<boolean>;
}

export interface RateLimit {
  /** Requests that may arrive at once. */
  readonly burst: number;
  /** Sustained requests per second. */
  readonly perSecond: number;
}
export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 20, perSecond: 10 };

export interface CommandServerDeps {
  readonly logger: Logger;
  readonly connection: CommandConnection;
  /** `<prefix>/<deviceId>`. */
  readonly base: string;
  readonly rateLimit?: RateLimit;
  /** Monotonic ms, for the token bucket (tests inject a fake). */
  readonly now?: () => number;
}

export interface CommandTopicStats {
  requests: number;
  ok: number;
  errors: number;
  tooLarge: number;
  rateLimited: number;
  retainedIgnored: number;
}

interface Served {
  readonly topic: string;
  readonly replyTopic: string;
  readonly table: CommandTable;
  readonly stats: CommandTopicStats;
  tokens: number;
  refilledAtMs: number;
  /** When the last `rate limited` reply and log line went out. */
  limitedNoticeAtMs: number;
  unsubscribe: () => Promise<void>;
}

export class CommandServer {
  readonly name = "commands";
  private readonly served = new Map<CommandTopic, Served>();
  private readonly rate: RateLimit;
  private readonly now: () => number;

  constructor(private readonly deps: CommandServerDeps) {
    this.rate = deps.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.now = deps.now ?? (() => performance.now());
  }

  /** Serve `table` on `<base>/<topic>`. One table per topic: registering a topic twice is a bug. */
  register(topic: CommandTopic, table: CommandTable): void {
    if (this.served.has(topic)) throw new Error(`command topic ${topic} is already registered`);
    const full = `${this.deps.base}/${topic}`;
    const served: Served = {
      topic: full,
      replyTopic: `${full}/response`,
      table,
      stats: { requests: 0, ok: 0, errors: 0, tooLarge: 0, rateLimited: 0, retainedIgnored: 0 },
      tokens: this.rate.burst,
      refilledAtMs: this.now(),
      limitedNoticeAtMs: -Infinity,
      unsubscribe: async () => undefined,
    };
    served.unsubscribe = this.deps.connection.subscribe(full, (_t, payload, retained) => this.onRequest(served, payload, retained), 1);
    this.served.set(topic, served);
  }

  /** Nothing to open: `register()` subscribes, and the connection subscribes on every connect. */
  async start(): Promise<void> {}

  /** Stop serving every topic. */
  async stop(): Promise<void> {
    // The entries stay (stats() after stop() still counts); only the subscriptions go.
    for (const s of this.served.values()) {
      const unsubscribe = s.unsubscribe;
      s.unsubscribe = async () => undefined;
      await unsubscribe();
    }
  }

  stats(): Record<string, CommandTopicStats> {
    return Object.fromEntries([...this.served].map(([topic, s]) => [topic, { ...s.stats }]));
  }

  private onRequest(served: Served, payload: Buffer, retained: boolean): void {
    const log = this.deps.logger;
    if (retained) {
      served.stats.retainedIgnored++;
      log.warn(`ignoring retained message on ${served.topic}: commands must not be retained`);
      return;
    }
    if (!this.takeToken(served, payload)) return;
    served.stats.requests++;
    if (payload.length > MAX_COMMAND_BYTES) {
      served.stats.tooLarge++;
      log.warn(`command on ${served.topic} rejected: payload too large`, { bytes: payload.length });
      this.reply(served, { id: null, status: "error", error: `command payload too large: ${payload.length} bytes (max ${MAX_COMMAND_BYTES})` });
      return;
    }
    void this.handle(served, payload).catch((err: unknown) =>
      // handle() turns every failure into a reply; reaching here is a bug in the server itself.
      log.error(`command handling on ${served.topic} failed`, { error: errorMessage(err) }),
    );
  }

  /** Token bucket; false when the request is rate limited (answered at most once a second). */
  private takeToken(served: Served, payload: Buffer): boolean {
    const now = this.now();
    served.tokens = Math.min(this.rate.burst, served.tokens + ((now - served.refilledAtMs) / 1000) * this.rate.perSecond);
    served.refilledAtMs = now;
    if (served.tokens >= 1) {
      served.tokens -= 1;
      return true;
    }
    served.stats.rateLimited++;
    if (now - served.limitedNoticeAtMs >= 1000) {
      served.limitedNoticeAtMs = now;
      this.deps.logger.warn(`commands on ${served.topic} rate limited`, { rateLimited: served.stats.rateLimited, ...this.rate });
      // Only the request that gets the notice is parsed (once a second), so its caller can match the reply.
      const id = payload.length <= MAX_COMMAND_BYTES ? salvageId(tryParse(payload)) : null;
      this.reply(served, { id, status: "error", error: `rate limited: at most ${this.rate.perSecond} commands per second (burst ${this.rate.burst})` });
    }
    return false;
  }

  private async handle(served: Served, payload: Buffer): Promise<void> {
    const log = this.deps.logger;
    let json: unknown;
    try {
      json = JSON.parse(payload.toString("utf8"));
    } catch (err) {
      return this.refuse(served, null, `invalid JSON: ${errorMessage(err)}`);
    }
    const request = commandRequestSchema.safeParse(json);
    if (!request.success) return this.refuse(served, salvageId(json), `invalid command: ${describeZodError(request.error)}`);
    const { command: name, args } = request.data;
    const id = request.data.id ?? null;
    const spec = Object.hasOwn(served.table, name) ? served.table[name] : undefined;
    if (!spec) return this.refuse(served, id, `unknown command "${name}"; valid commands: ${Object.keys(served.table).join(", ")}`);
    const parsedArgs = spec.args.safeParse(args ?? {});
    if (!parsedArgs.success) return this.refuse(served, id, `invalid args for ${name}: ${describeZodError(parsedArgs.error)}`);
    let data: unknown;
    try {
      data = await spec.run(parsedArgs.data as never);
    } catch (err) {
      log.warn(`command ${name} failed: ${errorMessage(err)}`, { id });
      return this.refuse(served, id, errorMessage(err), false);
    }
    served.stats.ok++;
    log.info(`command ${name} ok`, { id });
    this.reply(served, data === undefined ? { id, status: "ok" } : { id, status: "ok", data });
  }

  private refuse(served: Served, id: CommandReply["id"], error: string, logIt = true): void {
    served.stats.errors++;
    if (logIt) this.deps.logger.warn(`command on ${served.topic} rejected: ${error}`, { id });
    this.reply(served, { id, status: "error", error });
  }

  /** Publishes a reply; a reply that cannot be sent is logged, never thrown. */
  private reply(served: Served, reply: CommandReply): void {
    let body: string;
    try {
      body = JSON.stringify(commandReplySchema.parse(reply));
    } catch (err) {
      // A command returned data that is not JSON (a BigInt, a cycle): say so instead of staying silent.
      body = JSON.stringify({ id: reply.id, status: "error", error: `the device could not encode its reply: ${errorMessage(err)}` });
    }
    void this.deps.connection
      .publish(served.replyTopic, body, { qos: 1, retain: false })
      .then((sent) => {
        if (!sent) this.deps.logger.warn(`reply on ${served.replyTopic} not sent: not connected`, { id: reply.id });
      })
      .catch((err: unknown) => this.deps.logger.warn(`reply on ${served.replyTopic} not sent: ${errorMessage(err)}`, { id: reply.id }));
  }
}

/** The request id, when a request too broken to validate still carries a usable one. */
function salvageId(json: unknown): CommandReply["id"] {
  const raw = typeof json === "object" && json !== null ? (json as { id?: unknown }).id : undefined;
  return (typeof raw === "string" && raw.length <= 128) || typeof raw === "number" ? raw : null;
}

function tryParse(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined; // not JSON: the notice goes out with id null
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
