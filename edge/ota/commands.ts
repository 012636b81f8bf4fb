/**
 * The OTA commands (check, accept, postpone, rollback, forget_rejected) as a CommandTable of the
 * device's one command protocol (edge/commands/types.ts), and a small server
 * for the `ota/command` topic that speaks that same protocol. The shared
 * command server (edge/mqtt/commandServer.ts) serves the table once it is
 * wired; until then the agent serves its own topic with `serveCommandTopic`
 * (OtaAgentDeps.serveCommands). Either way: one request schema, one reply schema.
 */
import { z } from "zod";
import { command, commandIdSchema, commandReplySchema, commandRequestSchema, type CommandReply, type CommandTable } from "../commands/types.js";
import type { Logger } from "../log.js";
import type { OtaCommandName, OtaStateMessage } from "./messages.js";
import type { OtaMqtt } from "./ports.js";

/** Each command's arguments: strict (an unknown field is an error); only forget_rejected takes one. */
const ARGS = {
  check: z.object({}).strict(),
  accept: z.object({}).strict(),
  postpone: z.object({}).strict(),
  rollback: z.object({}).strict(),
  forget_rejected: z
    .object({ digest: z.string().regex(/^[0-9a-f]{64}$/, "expected the model file's sha256, 64 lowercase hex digits").optional() })
    .strict(),
} satisfies Record<OtaCommandName, z.ZodType>;

/** The union of every command's arguments (each command's schema admits its own part only). */
export type OtaCommandArgs = { readonly digest?: string };

export interface OtaCommandHandlers {
  /** Why `name` may not run now (busy, nothing to accept...), else undefined. */
  refusal(name: OtaCommandName): Promise<string | undefined>;
  run(name: OtaCommandName, args: OtaCommandArgs): Promise<void>;
  /** The state to reply with once a command ran. */
  state(): OtaStateMessage;
  readonly logger: Logger;
}

const SUMMARIES: Readonly<Record<OtaCommandName, string>> = {
  check: "re-read the retained offers, forgetting earlier decisions",
  accept: "download and install the available offer (also retries a stalled download or re-installs a model rolled back here)",
  postpone: "stop a download / keep the offer available; autoInstall leaves it alone until accept",
  rollback: "back to the model before the last update (at once during probation, else `previous` from disk, self-tested)",
  forget_rejected: "forget the rollbacks of models (all, or args.digest: one model file's sha256): their offers are no longer held",
};

/** Each command resolves to the OTA state, or throws an Error saying why it was refused or failed. */
export function otaCommandTable(h: OtaCommandHandlers): CommandTable {
  const spec = (name: OtaCommandName) =>
    command({
      summary: SUMMARIES[name],
      args: ARGS[name] as z.ZodType<OtaCommandArgs>,
      run: async (args) => {
        const refused = await h.refusal(name);
        if (refused) {
          h.logger.warn(`OTA command ${name} refused: ${refused}`);
          throw new Error(refused);
        }
        try {
          await h.run(name, args);
        } catch (err) {
          h.logger.warn(`OTA command ${name} failed: ${(err as Error).message}`);
          throw err;
        }
        h.logger.info(`OTA command ${name} ok`);
        return h.state();
      },
    });
  return { check: spec("check"), accept: spec("accept"), postpone: spec("postpone"), rollback: spec("rollback"), forget_rejected: spec("forget_rejected") };
}

const issuesOf = (e: z.ZodError): string => e.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`).join("; ");

/** The reply to one request payload; never throws (a failing command is an error reply). */
export async function answerCommand(table: CommandTable, payload: Buffer): Promise<CommandReply> {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString("utf8"));
  } catch (err) {
    return { id: null, status: "error", error: `invalid JSON: ${(err as Error).message}` };
  }
  // Echo the id even when the rest is wrong, so the caller can tell which request failed.
  const rawId = commandIdSchema.safeParse((raw as { id?: unknown } | null)?.id);
  const id = rawId.success ? rawId.data : null;
  const request = commandRequestSchema.safeParse(raw);
  if (!request.success) return { id, status: "error", error: `invalid command request: ${issuesOf(request.error)}` };
  const spec = Object.hasOwn(table, request.data.command) ? table[request.data.command] : undefined;
  if (!spec) return { id, status: "error", error: `unknown command "${request.data.command}" (known: ${Object.keys(table).join(", ")})` };
  const args = spec.args.safeParse(request.data.args ?? {});
  if (!args.success) return { id, status: "error", error: `invalid arguments for ${request.data.command}: ${issuesOf(args.error)}` };
  try {
    // The table erased the argument type; `args` was just validated with the command's own schema.
    return { id, status: "ok", data: await spec.run(args.data as never) };
  } catch (err) {
    return { id, status: "error", error: err instanceof Error ? err.message : String(err) };
  }
}

/** Serves `topic` with the table, replies on `<topic>/response`. Returns the unsubscribe. */
export function serveCommandTopic(deps: { mqtt: OtaMqtt; topic: string; table: CommandTable; logger: Logger }): () => Promise<void> {
  const { mqtt, topic, table, logger } = deps;
  const responseTopic = `${topic}/response`;
  const handle = async (payload: Buffer): Promise<void> => {
    const reply = commandReplySchema.parse(await answerCommand(table, payload));
    await mqtt.publish(responseTopic, JSON.stringify(reply), { qos: 1 });
  };
  return mqtt.subscribe(
    topic,
    (_t, payload, retained) => {
      if (retained) {
        // A retained command would run again on every reconnect.
        logger.warn(`ignoring retained message on ${topic}: commands must not be retained`);
        return;
      }
      void handle(payload).catch((err: Error) => logger.error(`OTA command handling failed: ${err.message}`));
    },
    1,
  );
}
