/**
 * A configuration or input problem found at start (bad config field, missing
 * file named by the config or the command line): the user's to fix, so the
 * CLI prints the message without a stack and exits 78 (EX_CONFIG), which
 * systemd's RestartPreventExitStatus treats as "do not restart"
 * (edge/runtime/exitCodes.ts). The message names the file, field or path.
 *
 * Its own module, free of imports, so that any part of the edge (the config
 * schema's own pieces included) can throw it without an import cycle.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}
