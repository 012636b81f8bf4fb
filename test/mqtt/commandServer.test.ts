/**
 * The one command server, against a fake connection: every refusal is an
 * error reply and a counter, nothing a client sends makes it throw, and a
 * flood is rate limited without a reply (or a log line) per request.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { command, commandReplySchema, type CommandReply, type CommandTable } from "../../edge/commands/types.js";
import { memoryLogger } from "../../edge/log.js";
import { CommandServer, MAX_COMMAND_BYTES, type CommandConnection } from "../../edge/mqtt/commandServer.js";
import type { MessageHandler } from "../../edge/mqtt/connection.js";
import { waitFor } from "../helpers/waitFor.js";

class FakeConnection implements CommandConnection {
  readonly handlers = new Map<string, MessageHandler>();
  readonly replies: Array<{ topic: string; reply: CommandReply }> = [];
  failPublish = false;
  subscribe(filter: string, handler: MessageHandler): () => Promise<void> {
    this.handlers.set(filter, handler);
    return async () => void this.handlers.delete(filter);
  }
  async publish(topic: string, payload: string): Promise<boolean> {
    if (this.failPublish) throw new Error("broker went away");
    this.replies.push({ topic, reply: commandReplySchema.parse(JSON.parse(payload)) });
    return true;
  }
  /** A client's request arriving on `topic`. */
  send(topic: string, payload: string | object, retained = false): void {
    const body = Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
    this.handlers.get(topic)!(topic, body, retained);
  }
}

const table: CommandTable = {
  calibrate: command({
    summary: "test",
    args: z.object({ durationS: z.number().positive().optional() }).strict(),
    run: async ({ durationS }) => ({ durationS: durationS ?? 2 }),
  }),
  explode: command({
    summary: "test",
    args: z.object({}).strict(),
    run: async () => {
      throw new Error("boom");
    },
  }),
  bigint: command({ summary: "test", args: z.object({}).strict(), run: async () => ({ n: 1n }) }),
};

function server(options: { now?: () => number } = {}) {
  const connection = new FakeConnection();
  const logger = memoryLogger();
  const s = new CommandServer({ logger, connection, base: "gait/dev", rateLimit: { burst: 5, perSecond: 2 }, ...options });
  s.register("command", table);
  return { connection, logger, s, topic: "gait/dev/command" };
}

async function replies(connection: FakeConnection, n: number): Promise<CommandReply[]> {
  await waitFor(`${n} replies`, () => connection.replies.length >= n);
  return connection.replies.map((r) => r.reply);
}

describe("CommandServer", () => {
  it("runs a command with validated args and replies on <topic>/response with the request id", async () => {
    const { connection, topic } = server();
    connection.send(topic, { id: "a1", command: "calibrate", args: { durationS: 0.5 } });
    connection.send(topic, { id: 2, command: "calibrate" });
    expect(await replies(connection, 2)).toEqual([
      { id: "a1", status: "ok", data: { durationS: 0.5 } },
      { id: 2, status: "ok", data: { durationS: 2 } },
    ]);
    expect(connection.replies[0]!.topic).toBe("gait/dev/command/response");
  });

  it("answers every kind of bad request with an error reply naming the problem", async () => {
    const { connection, topic, s } = server();
    connection.send(topic, "{oops");
    connection.send(topic, { id: 9, command: "fly" });
    connection.send(topic, { id: 10, command: "calibrate", args: { seconds: 3 } });
    connection.send(topic, { id: 11, command: "explode" });
    connection.send(topic, { id: "x", command: "calibrate", extra: true });
    const all = await replies(connection, 5);
    // A command that runs replies when it is done: match replies by id, not by order.
    const byId = (id: CommandReply["id"]) => all.find((r) => r.id === id);
    const [json, unknown, args, thrown, strict] = [byId(null), byId(9), byId(10), byId(11), byId("x")];
    expect(json).toMatchObject({ id: null, status: "error", error: expect.stringMatching(/^invalid JSON: /) });
    expect(unknown).toEqual({ id: 9, status: "error", error: 'unknown command "fly"; valid commands: calibrate, explode, bigint' });
    expect(args).toMatchObject({ id: 10, status: "error", error: expect.stringMatching(/^invalid args for calibrate: .*seconds/) });
    expect(thrown).toEqual({ id: 11, status: "error", error: "boom" });
    expect(strict).toMatchObject({ id: "x", status: "error", error: expect.stringMatching(/^invalid command: /) });
    expect(s.stats().command).toMatchObject({ requests: 5, ok: 0, errors: 5 });
  });

  it("does not look up inherited names: `constructor` is an unknown command", async () => {
    const { connection, topic } = server();
    connection.send(topic, { id: 1, command: "constructor" });
    expect((await replies(connection, 1))[0]).toMatchObject({ status: "error", error: expect.stringMatching(/^unknown command "constructor"/) });
  });

  it("says so when a command's data cannot be encoded, instead of staying silent", async () => {
    const { connection, topic } = server();
    connection.send(topic, { id: 1, command: "bigint" });
    expect((await replies(connection, 1))[0]).toMatchObject({ id: 1, status: "error", error: expect.stringMatching(/could not encode its reply/) });
  });

  it("refuses a payload over 64 KiB without parsing it, and counts it", async () => {
    const { connection, topic, s } = server();
    connection.send(topic, JSON.stringify({ id: 1, command: "calibrate", pad: "x".repeat(MAX_COMMAND_BYTES) }));
    expect((await replies(connection, 1))[0]).toMatchObject({ id: null, status: "error", error: expect.stringMatching(/too large/) });
    expect(s.stats().command!.tooLarge).toBe(1);
  });

  it("ignores a retained command (it would run again on every reconnect)", async () => {
    const { connection, topic, s } = server();
    connection.send(topic, { id: 1, command: "calibrate" }, true);
    connection.send(topic, { id: 2, command: "calibrate" });
    expect((await replies(connection, 1)).map((r) => r.id)).toEqual([2]);
    expect(s.stats().command).toMatchObject({ retainedIgnored: 1, requests: 1 });
  });

  it("rate limits a flood: the burst runs, the rest get one `rate limited` reply per second and one log line", async () => {
    let t = 0;
    const { connection, topic, s, logger } = server({ now: () => t });
    for (let i = 0; i < 1000; i++) connection.send(topic, { id: i, command: "calibrate" });
    const got = await replies(connection, 6);
    const limited = got.filter((r) => r.error?.startsWith("rate limited"));
    expect(limited).toHaveLength(1);
    expect(limited[0]!.id).toBe(5); // the first request over the burst gets the notice, with its id
    expect(got.filter((r) => r.status === "ok")).toHaveLength(5); // the burst
    expect(s.stats().command).toMatchObject({ requests: 5, rateLimited: 995 });
    expect(logger.lines.filter((l) => l.includes("rate limited"))).toHaveLength(1);
    // A second later the bucket holds 2 tokens again, and the next excess gets a new notice.
    t = 1000;
    for (let i = 0; i < 10; i++) connection.send(topic, { id: `b${i}`, command: "calibrate" });
    const after = await replies(connection, 9);
    expect(after.slice(6).filter((r) => r.status === "ok")).toHaveLength(2);
    expect(after.slice(6).filter((r) => r.error?.startsWith("rate limited"))).toHaveLength(1);
    expect(s.stats().command!.rateLimited).toBe(995 + 8);
  });

  it("logs a reply that cannot be published, and never throws or leaves a rejection floating", async () => {
    const { connection, topic, logger } = server();
    connection.failPublish = true;
    connection.send(topic, { id: 1, command: "calibrate" });
    await waitFor("the failed reply logged", () => logger.lines.find((l) => l.includes("not sent: broker went away")));
  });

  it("refuses to register one topic twice (two modules cannot own one topic)", () => {
    const { s } = server();
    expect(() => s.register("command", {})).toThrow(/already registered/);
  });

  it("stops serving on stop(), keeping its counters", async () => {
    const { connection, s, topic } = server();
    connection.send(topic, "{oops");
    await s.stop();
    expect(connection.handlers.size).toBe(0);
    expect(s.stats().command).toMatchObject({ requests: 1, errors: 1 });
  });
});
