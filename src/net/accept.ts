/**
 * The accept loop and connection registry that the proxy and the replay server share: accept
 * until told to stop (a failed accept, such as EMFILE, is logged and retried after a pause while
 * the connections already open go on), number connections from 1, and close or drain them.
 *
 * @module
 */

import type { Endpoint } from "./endpoint.ts";
import type { Logger } from "../log.ts";

/** A connection being served. */
export interface ServedConnection {
  /** Ends the connection now. */
  close(): void;
  /** Settles when the connection has ended; never rejects. */
  done: Promise<void>;
}

/** What {@link acceptConnections} runs. */
export interface AcceptOptions {
  /** The listening address (a unix socket's file is removed when accepting stops). */
  endpoint: Endpoint;
  logger: Logger;
  /** Serves one accepted connection; `id` counts from 1. Undefined: nothing to track (refused). */
  serve(conn: Deno.Conn, id: number): ServedConnection | undefined;
}

/** The open connections of a listener, and the ways to stop. */
export interface AcceptedConnections {
  /** Connections open now. */
  readonly size: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Closes the listener and waits for the accept loop to end. */
  stopAccepting(): Promise<void>;
  /** Stops accepting, closes every open connection and waits until each has ended. */
  closeAll(): Promise<void>;
  /** Stops accepting and waits until every open connection has ended by itself. */
  drain(): Promise<void>;
}

/** Pause after a failed accept (EMFILE and friends) before the next. */
const ACCEPT_RETRY_MS = 100;

/**
 * Accepts connections from `listener` until `stopAccepting()`, serving each with `serve`.
 *
 * @example
 * ```ts ignore
 * const accepted = acceptConnections(listener, { endpoint, logger, serve: (conn, id) => handle(conn, id) });
 * await accepted.closeAll();
 * ```
 */
export function acceptConnections(
  listener: Deno.Listener,
  options: AcceptOptions,
): AcceptedConnections {
  const { logger } = options;
  const open = new Map<number, ServedConnection>();
  let accepted = 0;
  let accepting = true;
  const loop = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (!accepting) return;
        logger.log("error", "accept-failed", `Cannot accept a connection: ${describe(error)}`);
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      const id = ++accepted;
      const served = options.serve(conn, id);
      if (!served) continue;
      open.set(id, served);
      served.done.finally(() => open.delete(id));
    }
  })();

  const stopAccepting = async () => {
    if (!accepting) return;
    accepting = false;
    try {
      listener.close();
    } catch {
      // already closed
    }
    await loop;
    const { endpoint } = options;
    if (endpoint.transport === "unix") await Deno.remove(endpoint.path).catch(() => {});
  };
  const waitAll = () => Promise.all([...open.values()].map((c) => c.done));

  return {
    get size() {
      return open.size;
    },
    get accepted() {
      return accepted;
    },
    stopAccepting,
    async closeAll() {
      await stopAccepting();
      for (const connection of open.values()) connection.close();
      await waitAll();
    },
    async drain() {
      await stopAccepting();
      while (open.size > 0) await waitAll();
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
