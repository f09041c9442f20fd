/**
 * Graceful shutdown on SIGINT/SIGTERM for the long-running subcommands.
 *
 * @module
 */

import type { Logger } from "../log.ts";

/** A server that can stop accepting and wait (`drain`) or stop at once (`close`). */
export interface Drainable {
  readonly activeConnections: number;
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Resolves once the server has shut down after SIGINT or SIGTERM: the first signal stops
 * accepting and waits for open connections to end; a second one closes them at once.
 */
export async function untilSignal(server: Drainable, logger: Logger): Promise<void> {
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let count = 0;
  let first!: () => void;
  const signalled = new Promise<void>((resolve) => first = resolve);
  const onSignal = () => {
    count++;
    if (count === 1) {
      first();
      return;
    }
    logger.log("warn", "shutdown-forced", "Second signal: closing open connections now");
    server.close();
  };
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  try {
    await signalled;
    const open = server.activeConnections;
    logger.log(
      "info",
      "shutdown",
      open === 0
        ? "Shutting down"
        : `Shutting down: waiting for ${open} open connection(s) to finish (signal again to close them now)`,
      { connections: open },
    );
    await server.drain();
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  }
}
