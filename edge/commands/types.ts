/**
 * The one command protocol of the device. Every command topic (`command`,
 * `ota/command`, and any a later module adds) speaks it, and one command server
 * (edge/mqtt) serves them all: it parses and validates the request, finds the
 * command in the table of the module that owns the topic, validates the
 * arguments with that command's schema, runs it, and publishes the reply on
 * `<topic>/response`. Callers (`gait-edge calibrate`, `ota-publish`, the
 * dashboard) validate replies with the same schema.
 *
 *   request  {id?, command, args?}
 *   reply    {id, status: "ok" | "error", error?, data?}
 */
import { z } from "zod";

export const commandIdSchema = z.union([z.string().max(128), z.number()]);

export const commandRequestSchema = z
  .object({
    /** Echoed in the reply so the caller can match it to its request. */
    id: commandIdSchema.optional(),
    command: z.string().min(1).max(64),
    args: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type CommandRequest = z.infer<typeof commandRequestSchema>;

export const commandReplySchema = z
  .object({
    /** The request's id; null when the request was too broken to have one. */
    id: commandIdSchema.nullable(),
    status: z.enum(["ok", "error"]),
    error: z.string().optional(),
    data: z.unknown().optional(),
  })
  .strict();
export type CommandReply = z.infer<typeof commandReplySchema>;

/**
 * One command a module serves. `run` resolves to the reply's `data`; an Error it
 * throws becomes `{status: "error", error: message}` (the server never crashes
 * on a failing command).
 */
export interface CommandSpec<A> {
  readonly summary: string;
  readonly args: z.ZodType<A>;
  run(args: A): Promise<unknown>;
}

/** Build a spec with its argument type inferred from the schema. */
export function command<S extends z.ZodType>(spec: {
  summary: string;
  args: S;
  run(args: z.infer<S>): Promise<unknown>;
}): CommandSpec<z.infer<S>> {
  return { summary: spec.summary, args: spec.args as z.ZodType<z.infer<S>>, run: (args) => spec.run(args) };
}

/** Name -> spec. The command server lists the valid names when a request names an unknown one. */
// The table erases each command's argument type; the server validates with `args`
// first and then calls `run(parsed as never)`.
export interface AnyCommandSpec {
  readonly summary: string;
  readonly args: z.ZodType;
  run(args: never): Promise<unknown>;
}
export type CommandTable = Readonly<Record<string, AnyCommandSpec>>;

/** Topic suffixes (under `<prefix>/<deviceId>/`) that carry commands. */
export type CommandTopic = "command" | "ota/command";

