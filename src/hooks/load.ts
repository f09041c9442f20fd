/**
 * Loading a `--script`: a TypeScript (or JavaScript) module imported by path, with the
 * permissions Deno was started with. Its hooks are its named exports, or its default export.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Hooks } from "./types.ts";

const HOOK_NAMES = [
  "connectServer",
  "readHandshake",
  "readAuth",
  "readQuery",
  "readQueryResult",
  "disconnectClient",
] as const;

/** A script that cannot be loaded or exports no hook; the message says which and why. */
export class ScriptError extends Error {
  /** An error with the message saying which script and why. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ScriptError";
  }
}

/**
 * Imports a hooks module: `path` relative to the current directory, or a URL.
 *
 * @example
 * ```ts ignore
 * const hooks = await loadScript("examples/show_databases.ts");
 * ```
 */
export async function loadScript(path: string): Promise<Hooks> {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(path) && !/^[a-z]:[\\/]/i.test(path)
    ? path
    : pathToFileURL(isAbsolute(path) ? path : resolve(path)).href;
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (error) {
    throw new ScriptError(
      `Cannot load script ${path}: ${error instanceof Error ? error.message : error}`,
      { cause: error },
    );
  }
  return hooksOf(module, path);
}

/** The hooks of an imported module: its default export when that is an object, else its named exports. */
export function hooksOf(module: Record<string, unknown>, path: string): Hooks {
  const source = typeof module.default === "object" && module.default !== null
    ? module.default as Record<string, unknown>
    : module;
  const hooks: Record<string, unknown> = {};
  for (const name of HOOK_NAMES) {
    const hook = source[name];
    if (hook === undefined) continue;
    if (typeof hook !== "function") {
      throw new ScriptError(`Script ${path}: ${name} is not a function`);
    }
    hooks[name] = (hook as (...args: unknown[]) => unknown).bind(source);
  }
  if (Object.keys(hooks).length === 0) {
    throw new ScriptError(
      `Script ${path} exports no hook (one of ${
        HOOK_NAMES.join(", ")
      }, or a default export with them)`,
    );
  }
  return hooks as Hooks;
}
