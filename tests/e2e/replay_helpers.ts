/**
 * Shared pieces of the replay end-to-end tests: record a scenario of real clients against the
 * test MariaDB, replay the recording (which knows nothing of MariaDB), and reduce what clients saw
 * to plain data that can be compared.
 *
 * @module
 */
import mysql from "mysql2/promise";
import {
  createSessionTap,
  type DecodedPacket,
  replay,
  type ReplayOptions,
  type ReplayServer,
  startProxy,
} from "../../mod.ts";
import type { MariaDB } from "../helpers/mariadb.ts";
import { startRecorder } from "../helpers/recording.ts";

/** Where a client connects. */
export type Target = { host: string; port: number } | { socketPath: string };

/** Opens a mysql2 connection to a target, with per-call extras; `options` are its defaults. */
export type Connect = ((extra?: mysql.ConnectionOptions) => Promise<mysql.Connection>) & {
  options: mysql.ConnectionOptions;
};

/** mysql2 options that make every value exact (big numbers and dates as strings). */
export function clientOptions(
  db: MariaDB,
  target: Target,
  database: string,
): mysql.ConnectionOptions {
  return {
    ...target,
    user: db.users.native.user,
    password: db.users.native.password,
    database,
    charset: "UTF8MB4_UNICODE_CI",
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  };
}

/** A replay server's address for mysql2. */
export function replayTarget(server: ReplayServer): Target {
  return server.endpoint.transport === "unix"
    ? { socketPath: server.endpoint.path }
    : { host: server.hostname, port: server.port };
}

/** The field metadata mysql2 exposes, as plain data. */
export function fieldView(field: unknown): unknown {
  if (field === undefined || field === null) return field;
  if (Array.isArray(field)) return field.map(fieldView);
  const f = field as mysql.FieldPacket;
  return {
    name: f.name,
    type: f.type,
    flags: f.flags,
    length: f.columnLength,
    characterSet: f.characterSet,
    decimals: f.decimals,
    schema: f.schema,
    table: f.table,
    orgTable: f.orgTable,
    orgName: f.orgName,
  };
}

function resultView(result: unknown): unknown {
  if (Array.isArray(result)) return result.map(resultView);
  if (result && typeof result === "object" && "affectedRows" in result) return { ...result };
  return result;
}

/** What one call gave a client: its result and fields, or its error. */
export type Outcome = { result: unknown; fields: unknown } | { error: Record<string, unknown> };

/** Runs a mysql2 call and keeps what the client saw. */
export async function outcome(call: Promise<[unknown, unknown]>): Promise<Outcome> {
  try {
    const [result, fields] = await call;
    return { result: resultView(result), fields: fieldView(fields) };
  } catch (error) {
    return { error: errorView(error) };
  }
}

/** The fields of a mysql2 error a test compares. */
export function errorView(error: unknown): Record<string, unknown> {
  const e = error as Record<string, unknown>;
  return { code: e.code, errno: e.errno, sqlState: e.sqlState, sqlMessage: e.sqlMessage };
}

/** Runs `fn` with a connection and always ends it. */
export async function using<T>(
  connect: Connect,
  fn: (c: mysql.Connection) => Promise<T>,
  extra?: mysql.ConnectionOptions,
): Promise<T> {
  const c = await connect(extra);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** What {@link recordThenReplay} gives back. */
export interface RecordedAndReplayed<T> {
  recorded: T;
  replayed: T;
  /** The recording file. */
  path: string;
  /** The replay server, still open: the test inspects it, then closes it. */
  server: ReplayServer;
}

/**
 * Runs `scenario` with mysql2 through a recorder in front of MariaDB, then again against a replay
 * of that recording. Replay runs log in with a password that is not the user's: replay needs none.
 */
export async function recordThenReplay<T>(
  db: MariaDB,
  database: string,
  scenario: (connect: Connect) => Promise<T>,
  options: { replay?: ReplayOptions; replayScenario?: (connect: Connect) => Promise<T> } = {},
): Promise<RecordedAndReplayed<T>> {
  await using recorder = await startRecorder(db);
  const connector = (target: Target, extra: mysql.ConnectionOptions = {}): Connect => {
    const options = { ...clientOptions(db, target, database), ...extra };
    return Object.assign(
      (more: mysql.ConnectionOptions = {}) => mysql.createConnection({ ...options, ...more }),
      { options },
    );
  };
  const recorded = await scenario(connector(recorder.address));
  const path = await recorder.close();
  const server = await replay(path, { listen: "127.0.0.1:0", ...options.replay });
  try {
    const replayed = await (options.replayScenario ?? scenario)(
      connector(replayTarget(server), { password: "not-the-password" }),
    );
    return { recorded, replayed, path, server };
  } catch (error) {
    await server.close().catch(() => {});
    throw error;
  }
}

/** Creates (afresh) a database the test user may use. */
export async function freshDatabase(db: MariaDB, name: string): Promise<void> {
  await db.sql(`DROP DATABASE IF EXISTS ${name}; CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
}

/** The packets of the connection phase a client went through, decoded by a proxy's tap. */
export interface Watched {
  /** `kind` of every connection-phase packet (with `plugin=` for auth switches), in order. */
  auth: string[];
  /** Resolves once the tap has seen every byte relayed so far (see `ProxyServer.settled()`). */
  settled(): Promise<void>;
  close(): Promise<void>;
  port: number;
}

/**
 * A decoding proxy in front of a replay server, to see which auth plugins a client and the replay
 * used (the replay itself does not say).
 */
export async function watchLogins(server: ReplayServer): Promise<Watched> {
  const auth: string[] = [];
  const describe = (packet: DecodedPacket) => {
    const message = packet.message as unknown as Record<string, unknown>;
    const plugin = message.authPluginName ?? message.pluginName;
    const data = message.data instanceof Uint8Array && packet.direction === "server"
      ? ` data=${[...message.data].join(",")}`
      : "";
    return `${packet.direction} ${message.kind}${plugin ? ` plugin=${plugin}` : ""}${data}`;
  };
  const proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `${server.hostname}:${server.port}`,
    tap: () =>
      createSessionTap({
        onPacket(packet) {
          if (!packet.exchange) auth.push(describe(packet));
        },
      }),
  });
  return {
    auth,
    port: proxy.port,
    settled: () => proxy.settled(),
    close: () => proxy.close(),
  };
}
