/**
 * A typed, synchronous event bus: the only wire between the edge's modules.
 *
 * `EventBus<Events>` takes a map of event name -> payload type, so `emit` and
 * `on` are checked by the compiler. Delivery is synchronous and in
 * subscription order (the sample path must not queue); a listener that throws
 * is logged and counted, and neither the emitter nor the other listeners
 * notice. Listeners return void: one with async work owns its promise
 * (`void work().catch(log)`), so a failure can never float.
 *
 * There is no global instance: the composition root (edge/runtime/runtime.ts)
 * makes one and hands it to each module's constructor.
 */
import type { Logger } from "../log.js";

export type Listener<T> = (payload: T) => void;

/** Logging a throwing listener at most this often per event (the sample event fires at ~200 Hz). */
const LOG_EVERY_MS = 1000;

export class EventBus<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Array<Listener<never>>>();
  private readonly errors = new Map<keyof Events, { count: number; loggedAtMs: number }>();

  constructor(
    private readonly deps: { readonly logger: Logger; readonly now?: () => number },
  ) {}

  /** Subscribe; returns the unsubscribe (modules call it in `stop()`). */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const list = this.listeners.get(event) ?? [];
    // Copy on write: an emit in progress keeps iterating the list it started with.
    this.listeners.set(event, [...list, listener]);
    return () => {
      const current = this.listeners.get(event) ?? [];
      this.listeners.set(
        event,
        current.filter((l) => l !== listener),
      );
    };
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const list = this.listeners.get(event);
    if (!list) return;
    for (const listener of list) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (err) {
        this.listenerFailed(event, err);
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  /** Throwing listeners per event, since start. */
  stats(): { listenerErrors: Record<string, number> } {
    return { listenerErrors: Object.fromEntries([...this.errors].map(([k, e]) => [String(k), e.count])) };
  }

  private listenerFailed(event: keyof Events, err: unknown): void {
    const now = (this.deps.now ?? Date.now)();
    let e = this.errors.get(event);
    if (!e) this.errors.set(event, (e = { count: 0, loggedAtMs: -Infinity }));
    e.count += 1;
    if (now - e.loggedAtMs < LOG_EVERY_MS) return;
    e.loggedAtMs = now;
    this.deps.logger.error(`a listener of "${String(event)}" threw (${e.count} so far): ${err instanceof Error ? err.message : String(err)}`, {
      stack: err instanceof Error ? err.stack : undefined,
    });
  }
}
