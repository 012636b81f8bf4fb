/**
 * The CLI's exit codes, from sysexits.h, and which error gets which. Systemd
 * (deploy/systemd/gait-edge.service, RestartPreventExitStatus=78) does not
 * restart on 78: a bad config or a missing input file stays bad however often
 * the service is started, so restarting it would only hide the message in a loop.
 *
 *   0   ok (also --help)
 *   1   a runtime failure (a bug, a crash, a device that answered "error")
 *   64  EX_USAGE: the command line is wrong (unknown command/option, bad value)
 *   78  EX_CONFIG: a configuration or input problem found at start
 */
export const EXIT = { ok: 0, failure: 1, usage: 64, config: 78 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * Errors the user fixes by editing a file or an argument, by `name` so that
 * classes from other parts of the code need no import here:
 * ConfigError (edge/runtime/configError.ts), ContractError (a bad model manifest),
 * SourceConfigError (edge/sources: a source's device or file is unusable).
 */
const CONFIG_ERRORS: ReadonlySet<string> = new Set(["ConfigError", "ContractError", "SourceConfigError"]);

/** Commander's own errors (it throws them with exitOverride): `code` "commander.*" and the exit it asks for. */
interface CommanderLike {
  readonly code: string;
  readonly exitCode: number;
}

function isCommanderError(err: unknown): err is CommanderLike {
  const e = err as Partial<CommanderLike> | null;
  return err instanceof Error && typeof e?.code === "string" && e.code.startsWith("commander.") && typeof e.exitCode === "number";
}

export function isConfigError(err: unknown): boolean {
  return err instanceof Error && CONFIG_ERRORS.has(err.name);
}

/** The exit code for an error that ended a command. */
export function exitCodeFor(err: unknown): ExitCode {
  // Help and version end in a CommanderError with exitCode 0; anything else it throws is a usage error.
  if (isCommanderError(err)) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  return isConfigError(err) ? EXIT.config : EXIT.failure;
}

/**
 * What to print for it on stderr: the message alone for the user's errors
 * (a stack trace would bury it), the stack for a failure (that is a bug report).
 * Commander errors have printed themselves already.
 */
export function errorText(err: unknown): string | undefined {
  if (isCommanderError(err)) return undefined;
  if (isConfigError(err)) return (err as Error).message;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
