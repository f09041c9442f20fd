/**
 * What a cassette does, decided from its options and the environment: the record mode and the
 * real server (address, and for the `new` mode the credentials of its own connections).
 *
 * The environment wins over the code, on purpose: a team re-records every cassette with one
 * command (`MYSQL_CASSETTE_MODE=record deno task test`) without touching a test file.
 *
 * @module
 */

import { type Endpoint, formatEndpoint, parseEndpoint } from "../net/endpoint.ts";

/**
 * How a cassette gets its answers:
 *
 * - `once`: replay when the file exists, else record it (the default);
 * - `replay`: only replay; never touch a server (a missing file is an error);
 * - `record`: always record, replacing the file;
 * - `new`: replay what the file knows, forward what it does not to the real server and append
 *   those exchanges to the file;
 * - `passthrough`: a plain proxy to the real server; the file is neither read nor written.
 */
export type CassetteMode = "once" | "replay" | "record" | "new" | "passthrough";

/** The modes, for validation and messages. */
export const CASSETTE_MODES: readonly CassetteMode[] = [
  "once",
  "replay",
  "record",
  "new",
  "passthrough",
];

/** The environment variable that overrides every cassette's mode. */
export const MODE_VARIABLE = "MYSQL_CASSETTE_MODE";
/** The environment variable that overrides every cassette's server. */
export const SERVER_VARIABLE = "MYSQL_CASSETTE_SERVER";
/** Where the real server is when neither the options nor the environment say. */
export const DEFAULT_SERVER = "127.0.0.1:3306";

/** The real server of a cassette. */
export interface ServerTarget {
  endpoint: Endpoint;
  /** The user the `new` mode logs in as (from a `mysql://` URL). */
  user?: string;
  /** Its password (from the URL; never written anywhere). */
  password?: string;
  /** The database its connections start in (from the URL's path). */
  database?: string;
  /** Where the setting came from, for messages: `MYSQL_CASSETTE_SERVER`, `options.server`. */
  from: string;
}

/**
 * The mode to use: the environment's, else the options', else `once`. Throws a `TypeError`
 * naming the variable for an unknown mode.
 *
 * @example
 * ```ts
 * import { resolveMode } from "./config.ts";
 * console.assert(resolveMode(undefined, () => "record") === "record");
 * console.assert(resolveMode("replay", () => undefined) === "replay");
 * ```
 */
export function resolveMode(
  mode: CassetteMode | undefined,
  env: (name: string) => string | undefined,
): CassetteMode {
  const fromEnv = env(MODE_VARIABLE)?.trim();
  if (fromEnv) return checkMode(fromEnv, MODE_VARIABLE);
  if (mode !== undefined) return checkMode(mode, "options.mode");
  return "once";
}

function checkMode(value: string, from: string): CassetteMode {
  if ((CASSETTE_MODES as readonly string[]).includes(value)) return value as CassetteMode;
  throw new TypeError(
    `Cannot use cassette mode "${value}" (from ${from}): expected one of ${
      CASSETTE_MODES.join(", ")
    }`,
  );
}

/**
 * The real server: `MYSQL_CASSETTE_SERVER`, else `options.server`, else `127.0.0.1:3306`. Each is
 * `HOST:PORT`, `[IPV6]:PORT`, `unix:/PATH` or `mysql://USER:PASSWORD@HOST:PORT/DATABASE` (the
 * URL's credentials are what the `new` mode logs in with; the other modes relay the client's own
 * login).
 *
 * @example
 * ```ts
 * import { resolveServer } from "./config.ts";
 * const target = resolveServer("mysql://app:secret@db.local:3307/shop", () => undefined);
 * console.assert(target.user === "app" && target.database === "shop");
 * ```
 */
export function resolveServer(
  server: string | undefined,
  env: (name: string) => string | undefined,
): ServerTarget {
  const fromEnv = env(SERVER_VARIABLE)?.trim();
  if (fromEnv) return parseServer(fromEnv, SERVER_VARIABLE);
  if (server !== undefined) return parseServer(server, "options.server");
  return parseServer(DEFAULT_SERVER, "the default");
}

/**
 * Parses one server setting; `from` names where it came from in error messages.
 *
 * @example
 * ```ts
 * import { parseServer } from "./config.ts";
 * console.assert(parseServer("unix:/run/mysqld/mysqld.sock", "test").endpoint.transport === "unix");
 * ```
 */
export function parseServer(text: string, from: string): ServerTarget {
  if (!/^mysql:\/\//i.test(text)) {
    try {
      return { endpoint: parseEndpoint(text), from };
    } catch (error) {
      throw new TypeError(
        `Cannot use the cassette server "${text}" (from ${from}): ${(error as Error).message}; ` +
          "expected HOST:PORT, unix:/PATH or mysql://USER:PASSWORD@HOST:PORT/DATABASE",
      );
    }
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`Cannot use the cassette server (from ${from}): not a valid mysql:// URL`);
  }
  if (url.hostname === "") {
    throw new TypeError(`Cannot use the cassette server (from ${from}): the URL has no host`);
  }
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const target: ServerTarget = {
    endpoint: { transport: "tcp", hostname, port: url.port === "" ? 3306 : Number(url.port) },
    from,
  };
  if (url.username !== "") target.user = decodeURIComponent(url.username);
  if (url.password !== "") target.password = decodeURIComponent(url.password);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (database !== "") target.database = database;
  return target;
}

/**
 * The server for messages: its address and user, never the password.
 *
 * @example
 * ```ts
 * import { describeServer, parseServer } from "./config.ts";
 * const text = describeServer(parseServer("mysql://app:secret@127.0.0.1:3306/shop", "test"));
 * console.assert(text === "app@127.0.0.1:3306" && !text.includes("secret"));
 * ```
 */
export function describeServer(target: ServerTarget): string {
  const address = formatEndpoint(target.endpoint);
  return target.user === undefined ? address : `${target.user}@${address}`;
}

/** Reads a variable, or nothing where the environment may not be read. */
export function processEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
