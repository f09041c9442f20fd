/**
 * `cassette()`: the one call a test makes to get a MySQL endpoint. Depending on the mode (from the
 * options, overridden by `MYSQL_CASSETTE_MODE`), the endpoint replays a recording, records one
 * against the real server, replays and records what is new, or just proxies. Closing it fails the
 * test, with a readable message, when the code under test sent something the cassette had no
 * answer for, or (strict, the default) left recorded exchanges unused.
 *
 * @module
 */

import { basename, dirname } from "node:path";
import { connect, type Endpoint, formatEndpoint } from "../net/endpoint.ts";
import { startProxy } from "../net/proxy.ts";
import type { Logger } from "../log.ts";
import { record } from "../record/recorder.ts";
import type { RedactRule } from "../record/redact.ts";
import {
  type Miss,
  replay,
  type ReplayOptions,
  type ReplayServer,
  type UnusedExchange,
} from "../replay/server.ts";
import {
  type CassetteMode,
  describeServer,
  MODE_VARIABLE,
  processEnv,
  resolveMode,
  resolveServer,
  SERVER_VARIABLE,
  type ServerTarget,
} from "./config.ts";
import { CassetteError } from "./report.ts";
import { type NewEpisodes, startNewEpisodes } from "./new_mode.ts";

export { CassetteError } from "./report.ts";

export type { CassetteMode } from "./config.ts";

/** Options of {@link cassette}. */
export interface CassetteOptions {
  /**
   * `once` (default), `replay`, `record`, `new` or `passthrough` (see {@link CassetteMode}).
   * `MYSQL_CASSETTE_MODE` overrides it.
   */
  mode?: CassetteMode;
  /**
   * The real server, for the modes that use one: `HOST:PORT`, `unix:/PATH`, or
   * `mysql://USER:PASSWORD@HOST:PORT/DATABASE` (the credentials are needed by `new` only, which
   * opens connections of its own). `MYSQL_CASSETTE_SERVER` overrides it. Default
   * `127.0.0.1:3306`.
   */
  server?: string;
  /**
   * Also fail on close when a recorded exchange was never used (default true: traffic that
   * changed fails loudly). Misses always fail.
   */
  strict?: boolean;
  /** Where the code under test connects. Default `127.0.0.1:0` (a free port). */
  listen?: string | Endpoint;
  /** When recording: `--redact` rules (`column:REGEX`, `query:REGEX`). */
  redact?: (string | RedactRule)[];
  /**
   * The key for redaction pseudonyms (any fixed string). With the same key when recording and
   * replaying, statements carrying redacted values match exactly; recording with `query:` rules
   * requires it, since without it those statements could never match again.
   */
  redactKey?: string;
  /**
   * More options for replaying (`users`, `repeat`, `speed`, ...). `approximate` is off here
   * (values must match; the replay default is on).
   */
  replay?: Omit<ReplayOptions, "listen" | "strict" | "redactKey" | "logger" | "fallback">;
  /** How long to wait for the real server to accept a TCP connection (ms, default 5000). */
  connectTimeoutMs?: number;
  /** Connection events, misses and warnings. Default: silent. */
  logger?: Logger;
  /**
   * Reads environment variables (default `Deno.env.get`); `() => undefined` makes a cassette
   * ignore `MYSQL_CASSETTE_MODE` and `MYSQL_CASSETTE_SERVER`.
   */
  env?: (name: string) => string | undefined;
}

/** A running cassette: a MySQL endpoint for the code under test. */
export interface Cassette extends AsyncDisposable {
  /** The cassette file. */
  readonly path: string;
  /** What it does: `once` resolved to `replay` or `record`. */
  readonly mode: Exclude<CassetteMode, "once">;
  /** Where the code under test connects. */
  readonly endpoint: Endpoint;
  /** TCP host name (or the socket path for unix listeners). */
  readonly hostname: string;
  /** TCP port (0 for unix listeners). */
  readonly port: number;
  /** Commands the cassette had no answer for so far (replay and new modes). */
  readonly misses: readonly Miss[];
  /** Recorded exchanges not used so far (replay and new modes). */
  unused(): UnusedExchange[];
  /**
   * Stops the endpoint, closing open connections; when recording, completes the file. Rejects
   * with a {@link CassetteError} when a command missed, or in strict mode an exchange was never
   * used; with a plain `Error` when recording caught no connection.
   */
  close(): Promise<void>;
}

/**
 * Opens a cassette: a MySQL endpoint that replays `path`, records it, or both, depending on the
 * mode. Any MySQL driver works against `hostname` and `port`, with any password when replaying.
 *
 * @example
 * ```ts ignore
 * import mysql from "npm:mysql2@3.24.5/promise";
 * import { cassette } from "./cassette.ts";
 *
 * Deno.test("lists products", async () => {
 *   // Records against MYSQL_CASSETTE_SERVER the first time, replays the file afterwards.
 *   await using db = await cassette("tests/cassettes/products.jsonl");
 *   const conn = await mysql.createConnection({
 *     host: db.hostname, port: db.port, user: "app", password: "secret", database: "shop",
 *   });
 *   const [rows] = await conn.query("SELECT id, name FROM products ORDER BY id");
 *   await conn.end();
 *   console.log(rows);
 * });
 * ```
 */
export async function cassette(path: string, options: CassetteOptions = {}): Promise<Cassette> {
  const env = options.env ?? processEnv;
  const requested = resolveMode(options.mode, env);
  const server = resolveServer(options.server, env);
  const present = await fileExists(path);
  const mode = requested === "once" ? (present ? "replay" : "record") : requested;
  if ((mode === "replay" || mode === "new") && !present) {
    throw new Deno.errors.NotFound(
      `Cannot ${mode === "new" ? "extend" : "replay"} cassette ${path}: the file does not exist. ` +
        `Record it first (mode "once" or "record", or ${MODE_VARIABLE}=record) against a server ` +
        `(${SERVER_VARIABLE}, now ${describeServer(server)})`,
    );
  }
  if ((mode === "record" || mode === "new") && options.redactKey === undefined) {
    const rule = options.redact?.map((r) => typeof r === "string" ? r : r.source)
      .find((r) => r.startsWith("query:"));
    if (rule !== undefined) {
      throw new TypeError(
        `Cannot record cassette ${path} with the redact rule ${rule} and no redactKey: the ` +
          "statements it changes would never match again when replayed. " +
          "Give a redactKey (any fixed string: it keys the pseudonyms)",
      );
    }
  }
  if (mode !== "replay") await probe(path, mode, requested, server, options);
  const listen = options.listen ?? "127.0.0.1:0";
  switch (mode) {
    case "replay":
      return replaying(path, mode, await replay(path, replayOptions(options, listen)), options);
    case "new": {
      const episodes = await startNewEpisodes(path, server, options);
      let served: ReplayServer;
      try {
        served = await replay(path, {
          ...replayOptions(options, listen),
          // New values must reach the server, not get the answer of a statement like them.
          approximate: false,
          fallback: episodes.fallback,
        });
      } catch (error) {
        await episodes.close();
        throw error;
      }
      return replaying(path, mode, served, options, episodes);
    }
    case "record":
      return await recording(path, server, options, listen);
    case "passthrough": {
      const proxy = await startProxy({
        listen,
        server: server.endpoint,
        logger: options.logger,
        connectTimeoutMs: options.connectTimeoutMs,
      });
      return {
        path,
        mode,
        endpoint: proxy.endpoint,
        hostname: proxy.hostname,
        port: proxy.port,
        misses: [],
        unused: () => [],
        close: proxy.close,
        [Symbol.asyncDispose]: proxy.close,
      };
    }
  }
}

function replayOptions(options: CassetteOptions, listen: string | Endpoint): ReplayOptions {
  return {
    // Values must be equal: a test served the answer of another id fails in confusing ways.
    approximate: false,
    ...options.replay,
    listen,
    redactKey: options.redactKey,
    logger: options.logger,
    onWarning: options.replay?.onWarning ??
      ((warning) => options.logger?.log("warn", "cassette-warning", warning)),
  };
}

function replaying(
  path: string,
  mode: "replay" | "new",
  server: ReplayServer,
  options: CassetteOptions,
  episodes?: NewEpisodes,
): Cassette {
  const strict = options.strict ?? true;
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      try {
        await server.close();
      } finally {
        await episodes?.close();
      }
      const unused = strict ? server.unused() : [];
      if (server.misses.length > 0 || unused.length > 0) {
        throw new CassetteError(path, mode, [...server.misses], unused, episodes?.problems);
      }
    })();
  return {
    path,
    mode,
    endpoint: server.endpoint,
    hostname: server.hostname,
    port: server.port,
    misses: server.misses,
    unused: () => server.unused(),
    close,
    [Symbol.asyncDispose]: () => disposed(close),
  };
}

/** How long closing a recording cassette waits for connections still open to quit. */
const QUIT_GRACE_MS = 250;

/**
 * Records into a temporary file next to `path`, renamed over it on close: a run cut short leaves
 * the previous cassette (or none) rather than half a recording.
 */
async function recording(
  path: string,
  server: ServerTarget,
  options: CassetteOptions,
  listen: string | Endpoint,
): Promise<Cassette> {
  const directory = dirname(path);
  await Deno.mkdir(directory, { recursive: true });
  const partial = await Deno.makeTempFile({
    dir: directory,
    prefix: `.${basename(path)}.`,
    suffix: ".partial",
  });
  let proxy;
  try {
    proxy = await record({
      listen,
      server: server.endpoint,
      out: partial,
      overwrite: true,
      redact: options.redact,
      redactKey: options.redactKey,
      logger: options.logger,
      connectTimeoutMs: options.connectTimeoutMs,
    });
  } catch (error) {
    await Deno.remove(partial).catch(() => {});
    throw error;
  }
  const recorder = proxy;
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      // Drivers resolve `end()` once QUIT is written: let it reach the recorder, so the file
      // ends as the session did rather than "closed by proxy".
      for (let waited = 0; recorder.activeConnections > 0 && waited < QUIT_GRACE_MS; waited += 5) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      try {
        await recorder.close();
      } catch (error) {
        await Deno.remove(partial).catch(() => {});
        throw error;
      }
      if (recorder.stats().connections === 0) {
        await Deno.remove(partial).catch(() => {});
        throw new Error(
          `Cassette ${path} recorded nothing: no client connected to ${
            formatEndpoint(recorder.endpoint)
          } (the cassette's hostname and port) before it closed`,
        );
      }
      await Deno.rename(partial, path);
    })();
  return {
    path,
    mode: "record",
    endpoint: recorder.endpoint,
    hostname: recorder.hostname,
    port: recorder.port,
    misses: [],
    unused: () => [],
    close,
    [Symbol.asyncDispose]: () => disposed(close),
  };
}

/** Fails early, with what to do, when the modes that need the real server cannot reach it. */
async function probe(
  path: string,
  mode: Exclude<CassetteMode, "once" | "replay">,
  requested: CassetteMode,
  server: ServerTarget,
  options: CassetteOptions,
): Promise<void> {
  const timeout = options.connectTimeoutMs ?? 5000;
  const signal = AbortSignal.timeout(timeout);
  try {
    const conn = await connect(server.endpoint, signal);
    conn.close();
  } catch (error) {
    const why = signal.aborted ? `no answer within ${timeout} ms` : (error as Error).message;
    const action = mode === "passthrough" ? "proxy for" : mode === "new" ? "extend" : "record";
    const because = requested === "once" ? " (mode once, and the file does not exist yet)" : "";
    throw new Error(
      `Cannot ${action} cassette ${path}${because}: the MySQL server at ` +
        `${describeServer(server)} (from ${server.from}) is unreachable: ${why}. Start it, or ` +
        `point ${SERVER_VARIABLE} at one`,
      { cause: error },
    );
  }
}

/**
 * Disposal with `await using`: when the test body failed too (typically with the ERR a miss
 * answered), the runtime throws a SuppressedError whose message says only "An error was
 * suppressed during disposal"; the cassette's report goes to stderr as well, so it is seen.
 */
async function disposed(close: () => Promise<void>): Promise<void> {
  try {
    await close();
  } catch (error) {
    console.error((error as Error).message);
    throw error;
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
