/**
 * The unit the edge is built from (zigbee2mqtt's "extension", without its
 * global settings singleton).
 *
 * A module's constructor only stores what it is given (its config slice, the
 * bus, the modules it needs); `start()` opens things and subscribes to the
 * bus, `stop()` undoes that. Modules talk through the typed event bus
 * (edge/core/events.ts); a module that serves commands exposes a
 * `CommandTable` that the composition root registers with the command server.
 *
 * How a new feature becomes a module (docs/architecture.md has the long form):
 *   1. add the events it emits to `EdgeEvents` (edge/core/events.ts);
 *   2. write `edge/modules/<feature>.ts`: a class implementing `Module` that
 *      subscribes in `start()` and unsubscribes in `stop()`;
 *   3. give it a `commands(): CommandTable` if it answers commands;
 *   4. construct it in `EdgeRuntime`'s constructor, in dependency order;
 *   5. test it with a bare `EventBus` and fakes (test/modules/*).
 */
import type { Logger } from "../log.js";

export interface Module {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `modules` in order. If one fails, the ones already started are
 * stopped (reverse order) and the error is rethrown: a failed start leaves
 * nothing running.
 */
export async function startAll(modules: readonly Module[], logger: Logger): Promise<void> {
  for (let i = 0; i < modules.length; i++) {
    try {
      await modules[i]!.start();
    } catch (err) {
      await stopAll(modules.slice(0, i), logger);
      throw err;
    }
  }
}

/** Stops `modules` in reverse order; a failing stop is logged and the rest still stop. */
export async function stopAll(modules: readonly Module[], logger: Logger): Promise<void> {
  for (const m of [...modules].reverse()) {
    try {
      await m.stop();
    } catch (err) {
      logger.error(`stopping ${m.name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
