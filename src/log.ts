/**
 * Structured logging: one record per event, printed for humans or as JSON lines.
 *
 * @module
 */

/** Severity of a log record, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra machine-readable fields of a record (connection id, bytes, durations, ...). */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Receives log records. */
export interface Logger {
  /**
   * Logs one event. `event` is a stable kebab-case name (`connection-closed`) for machines;
   * `message` is the sentence a human reads.
   */
  log(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** `human` (default): `12:00:01.234 conn#3 message`; `json`: one JSON object per line. */
  format?: "human" | "json";
  /** Records below this level are dropped. Default `info`. */
  level?: LogLevel;
  /** Where lines go (each without its newline). */
  write: (line: string) => void;
  /** Clock, for tests. */
  now?: () => Date;
}

/**
 * Creates a logger that formats records for humans or as JSON lines.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const logger = createLogger({ format: "json", write: (line) => lines.push(line) });
 * logger.log("info", "listening", "Listening on 127.0.0.1:3307", { address: "127.0.0.1:3307" });
 * console.assert(JSON.parse(lines[0]).event === "listening");
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const threshold = LEVELS[options.level ?? "info"];
  const now = options.now ?? (() => new Date());
  const json = options.format === "json";
  return {
    log(level, event, message, fields = {}) {
      if (LEVELS[level] < threshold) return;
      const time = now();
      if (json) {
        options.write(
          JSON.stringify({ time: time.toISOString(), level, event, message, ...fields }),
        );
        return;
      }
      const clock = time.toISOString().slice(11, 23);
      const tag = level === "info" ? "" : `${level.toUpperCase()} `;
      const connection = fields.connection === undefined ? "" : `conn#${fields.connection} `;
      options.write(`${clock} ${tag}${connection}${message}`);
    },
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { log() {} };
