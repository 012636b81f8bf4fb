/**
 * Namespaced structured logger: one JSON object per line on stderr (stdout is
 * left to the CLI's human output). Debug messages are lazy (pass a function) so
 * the hot path pays nothing when debug is off. Never log secrets: fields named
 * like credentials are redacted.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET = /pass(word)?|secret|token|private|key$/i;

export interface LogSink {
  write(line: string): void;
}

export interface Logger {
  debug(msg: string | (() => string), fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(namespace: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  /** "json" (default) or "pretty" one-line text for a terminal. */
  format?: "json" | "pretty";
}

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = SECRET.test(k) ? "[redacted]" : v;
  return out;
}

export function createLogger(namespace: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? ((process.env.GAIT_LOG_LEVEL as LogLevel | undefined) ?? "info");
  const sink = options.sink ?? { write: (line: string) => process.stderr.write(line + "\n") };
  const format = options.format ?? "json";
  const min = ORDER[level] ?? ORDER.info;

  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[lvl] < min) return;
    const extra = fields ? redact(fields) : {};
    if (format === "pretty") {
      const kv = Object.entries(extra)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      sink.write(`${lvl.toUpperCase().padEnd(5)} [${namespace}] ${msg}${kv ? " " + kv : ""}`);
    } else {
      sink.write(JSON.stringify({ time: new Date().toISOString(), level: lvl, ns: namespace, msg, ...extra }));
    }
  };

  return {
    debug: (msg, fields) => {
      if (ORDER.debug < min) return;
      emit("debug", typeof msg === "function" ? msg() : msg, fields);
    },
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (ns) => createLogger(`${namespace}:${ns}`, { level, sink, format }),
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(namespace = "test"): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger(namespace, { level: "debug", sink: { write: (l) => lines.push(l) } });
  return Object.assign(logger, { lines });
}
