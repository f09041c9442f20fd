/**
 * Calling a hook: awaited, its failure caught and logged (a script that throws costs the step an
 * ERR packet and a log line, never the connection).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { ErrorAnswer, HookConnection, Hooks } from "./types.ts";

/** A connection as hooks see it, writable by the proxy. */
export interface ConnectionState extends HookConnection {
  user: string | undefined;
  database: string | undefined;
}

/** Creates the per-connection state hooks get. */
export function connectionState(
  info: { id: number; client: string },
  server: string | undefined,
): ConnectionState {
  return {
    id: info.id,
    client: info.client,
    server,
    user: undefined,
    database: undefined,
    state: {},
  };
}

/** What a hook call gave: its value, or why it failed. */
export interface HookOutcome {
  value: unknown;
  failed?: unknown;
}

type HookName = keyof Hooks;

/**
 * Calls `hooks[name](event, connection)` if the script has it; a throw or rejection is logged
 * and returned as `failed`.
 *
 * @example
 * ```ts ignore
 * const { value, failed } = await runHook({ hooks, connection, logger }, "readQuery", event);
 * ```
 */
export async function runHook(
  context: { hooks: Hooks; connection: ConnectionState; logger: Logger },
  name: HookName,
  event: unknown,
): Promise<HookOutcome> {
  const hook = context.hooks[name] as
    | ((event: unknown, connection: HookConnection) => unknown)
    | undefined;
  if (typeof hook !== "function") return { value: undefined };
  try {
    return { value: await hook.call(context.hooks, event, context.connection) };
  } catch (error) {
    context.logger.log(
      "warn",
      "script-failed",
      `Script hook ${name} failed: ${error instanceof Error ? error.message : String(error)}`,
      { connection: context.connection.id, hook: name },
    );
    return { value: undefined, failed: error };
  }
}

/** The ERR a client gets for a step whose hook failed: 1105 (ER_UNKNOWN_ERROR). */
export function hookError(where: string, error: unknown): ErrorAnswer {
  const reason = error instanceof Error ? error.message : String(error);
  return {
    kind: "error",
    code: 1105,
    sqlState: "HY000",
    message: `Proxy script failed in ${where}: ${reason}`.slice(0, 500),
  };
}
