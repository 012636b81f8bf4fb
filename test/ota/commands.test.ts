/** The OTA command topic speaks the device's one command protocol (edge/commands/types.ts). */
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { command, commandReplySchema, type CommandTable } from "../../edge/commands/types.js";
import { memoryLogger } from "../../edge/log.js";
import { answerCommand, serveCommandTopic } from "../../edge/ota/commands.js";
import { FakeMqtt } from "./fakeMqtt.js";

const table: CommandTable = {
  hello: command({ summary: "says hello", args: z.object({ name: z.string() }).strict(), run: async ({ name }) => ({ hello: name }) }),
  broken: command({
    summary: "always refuses",
    args: z.object({}).strict(),
    run: async () => {
      throw new Error("not now: busy");
    },
  }),
};

const ask = (payload: unknown) => answerCommand(table, Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload)));

describe("answerCommand", () => {
  it("runs a valid request and echoes its id", async () => {
    expect(await ask({ id: 7, command: "hello", args: { name: "pi" } })).toEqual({ id: 7, status: "ok", data: { hello: "pi" } });
  });

  it("turns every kind of bad request into an error reply that validates, with the id when there is one", async () => {
    const replies = [
      await ask("{nope"),
      await ask("null"),
      await ask({ id: "a", command: "hello", args: { name: 5 } }),
      await ask({ id: "b", command: "hello", args: { name: "x" }, extra: 1 }),
      await ask({ id: "c", command: "launch" }),
      await ask({ id: "d", command: "broken" }),
      await ask({ id: "x".repeat(500), command: "hello" }),
      await ask({ id: "e", command: "toString" }),
    ];
    for (const r of replies) expect(commandReplySchema.safeParse(r).success, JSON.stringify(r)).toBe(true);
    expect(replies.map((r) => [r.id, r.status])).toEqual([
      [null, "error"],
      [null, "error"],
      ["a", "error"],
      ["b", "error"],
      ["c", "error"],
      ["d", "error"],
      [null, "error"],
      ["e", "error"],
    ]);
    expect(replies[0]!.error).toMatch(/invalid JSON/);
    expect(replies[2]!.error).toMatch(/invalid arguments for hello: name/);
    expect(replies[3]!.error).toMatch(/invalid command request/);
    expect(replies[4]!.error).toBe('unknown command "launch" (known: hello, broken)');
    expect(replies[5]!.error).toBe("not now: busy");
    expect(replies[7]!.error).toMatch(/unknown command "toString"/);
  });
});

describe("serveCommandTopic", () => {
  it("replies on <topic>/response and ignores retained commands", async () => {
    const mqtt = new FakeMqtt();
    const logger = memoryLogger();
    // Retained before the server subscribes: it arrives flagged retained (would rerun on every reconnect).
    mqtt.inject("gait/d/ota/command", JSON.stringify({ id: 1, command: "hello", args: { name: "a" } }), { retain: true });
    const unsubscribe = serveCommandTopic({ mqtt, topic: "gait/d/ota/command", table, logger });
    mqtt.inject("gait/d/ota/command", JSON.stringify({ id: 2, command: "hello", args: { name: "b" } }));
    await mqtt.settle();
    await new Promise((r) => setImmediate(r)); // the reply is published after the command's promise
    await mqtt.settle();
    expect(mqtt.json("gait/d/ota/command/response")).toEqual([{ id: 2, status: "ok", data: { hello: "b" } }]);
    expect(logger.lines.join("\n")).toMatch(/ignoring retained message on gait\/d\/ota\/command/);
    await unsubscribe();
  });
});
