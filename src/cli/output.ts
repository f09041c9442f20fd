/**
 * Terminal output for the CLI: buffered stdout lines (traces can be many) and a stderr logger.
 *
 * @module
 */

import { createLogger, type Logger, type LogLevel } from "../log.ts";

const encoder = new TextEncoder();

/**
 * Collects lines and writes them to a stream in batches, once per event-loop turn, so a trace of
 * thousands of packets a second costs a few writes instead of one per line.
 */
export class LineWriter {
  #lines: string[] = [];
  #scheduled = false;
  #file: { writeSync(p: Uint8Array): number };

  constructor(file: { writeSync(p: Uint8Array): number } = Deno.stdout) {
    this.#file = file;
  }

  /** Queues one line (without its newline). */
  write(line: string): void {
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), 0);
    }
  }

  /** Writes everything queued now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#lines.length === 0) return;
    const bytes = encoder.encode(this.#lines.join("\n") + "\n");
    this.#lines = [];
    let written = 0;
    try {
      while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
    } catch {
      // The terminal or pipe went away (EPIPE): output is best effort, the proxy goes on.
    }
  }
}

/**
 * The logger the CLI uses: stderr, human or JSON lines. Log lines are few (per connection, not per
 * packet), so each is written at once: none is lost when the process exits right after.
 */
export function stderrLogger(format: "human" | "json", level: LogLevel): Logger {
  return createLogger({ format, level, write: (line) => writeLineSync(Deno.stderr, line) });
}

function writeLineSync(file: { writeSync(p: Uint8Array): number }, line: string): void {
  const bytes = encoder.encode(line + "\n");
  try {
    for (let written = 0; written < bytes.length;) {
      written += file.writeSync(bytes.subarray(written));
    }
  } catch {
    // stderr is gone: nothing better to do.
  }
}
