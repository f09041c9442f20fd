/**
 * Throwaway MariaDB servers for live tests: a private `mariadbd` on a free port of 127.0.0.1 with
 * a fresh datadir, test users and (when `openssl` exists) a test CA and server certificate.
 *
 * The server runs detached from `deno test`, under a small shell watchdog that shuts it down and
 * deletes its files once the test process is gone, so no test leaks a child process and a crashed
 * run leaves nothing behind. `sharedMariaDB()` gives every test module of one `deno test` run the
 * same server; `liveTest()` registers a test that uses it.
 *
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  delay,
  exists,
  findBinary,
  FOUND,
  type MariaDB,
  READY_TIMEOUT_MS,
  rootSql,
  type ServerInfo,
  startServer,
  stopServer,
} from "./mariadb_server.ts";

export type { Credential, MariaDB, MariaDBTls } from "./mariadb_server.ts";

/** Options of a test registered with `liveTest()`. */
export interface LiveTestOptions {
  sanitizeOps?: boolean;
  sanitizeResources?: boolean;
  /** Fails the test when its body (not counting server startup) runs longer; default 120 000. */
  timeoutMs?: number;
}

/**
 * Whether live tests can run here, decided when this module loads.
 *
 * @example
 * ```ts
 * if (!LIVE.available) console.error(`No live tests: ${LIVE.reason}`);
 * ```
 */
export const LIVE: { available: boolean; reason: string } = {
  available: FOUND.bin !== undefined,
  reason: FOUND.reason,
};

function handle(info: ServerInfo, shared: boolean): MariaDB {
  const { watchdogPid: _, ...visible } = info;
  const stop = shared ? () => Promise.resolve() : () => stopServer(info);
  return {
    ...visible,
    shared,
    sql: rootSql(info.bin, info.socket),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Starts a private MariaDB server that only the caller uses. TLS is on whenever `openssl` is
 * found; `{ tls: true }` makes a missing `openssl` an error, `{ tls: false }` skips it.
 *
 * @example
 * ```ts
 * await using db = await startMariaDB();
 * console.log(await db.sql("SELECT VERSION()"));
 * ```
 */
export async function startMariaDB(options: { tls?: boolean } = {}): Promise<MariaDB> {
  if (options.tls === true && !findBinary("openssl")) {
    throw new Error("Cannot start MariaDB with TLS: openssl not found on PATH");
  }
  const makeDir = () => Deno.makeTempDir({ prefix: `mysql-proxy-test-${Deno.pid}-` });
  return handle(await startServer(makeDir, (dir) => dir, options.tls ?? true), false);
}

/**
 * The directory that holds the shared server's lock, `state.json` and server files for this
 * `deno test` process; the watchdog deletes it when the process exits.
 *
 * @example
 * ```ts
 * const state = JSON.parse(await Deno.readTextFile(`${sharedStateDir()}/state.json`));
 * ```
 */
export function sharedStateDir(): string {
  return join(tmpdir(), `mysql-proxy-test-${Deno.pid}`);
}

/** Tells this process from an earlier one with the same pid whose directory outlived it. */
function processIdentity(): string {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    return `${Deno.pid} ${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
  } catch {
    return String(Deno.pid);
  }
}

interface SharedState {
  identity: string;
  server: ServerInfo;
}

/** Waits for the module that holds the lock; undefined means the lock went away: try again. */
async function waitForWinner(stateDir: string, identity: string): Promise<MariaDB | undefined> {
  const lockPath = join(stateDir, "lock");
  const statePath = join(stateDir, "state.json");
  for (const deadline = Date.now() + 3 * READY_TIMEOUT_MS; Date.now() < deadline; await delay(50)) {
    let lockOwner: string;
    try {
      lockOwner = await Deno.readTextFile(lockPath);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    if (lockOwner !== "" && lockOwner !== identity) {
      await Deno.remove(stateDir, { recursive: true });
      return undefined;
    }
    if (!(await exists(statePath))) continue;
    const state = JSON.parse(await Deno.readTextFile(statePath)) as SharedState;
    const db = handle(state.server, true);
    try {
      await db.sql("SELECT 1");
    } catch (error) {
      throw new Error(`Cannot use the shared MariaDB on port ${db.port}`, { cause: error });
    }
    return db;
  }
  throw new Error(`Cannot get the shared MariaDB: no ${statePath} appeared in time`);
}

async function acquireShared(): Promise<MariaDB> {
  const stateDir = sharedStateDir();
  const identity = processIdentity();
  for (;;) {
    await Deno.mkdir(stateDir, { recursive: true });
    let lock: Deno.FsFile;
    try {
      lock = await Deno.open(join(stateDir, "lock"), { write: true, createNew: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const db = await waitForWinner(stateDir, identity);
      if (db) return db;
      continue;
    }
    try {
      await lock.write(new TextEncoder().encode(identity));
    } finally {
      lock.close();
    }
    try {
      const makeDir = () => Deno.makeTempDir({ dir: stateDir, prefix: "server-" });
      const server = await startServer(makeDir, () => stateDir, true);
      const state: SharedState = { identity, server };
      await Deno.writeTextFile(join(stateDir, "state.json.tmp"), JSON.stringify(state));
      await Deno.rename(join(stateDir, "state.json.tmp"), join(stateDir, "state.json"));
      return handle(server, true);
    } catch (error) {
      // Removing the lock lets each waiting module try (and report) a start of its own.
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      throw error;
    }
  }
}

let shared: Promise<MariaDB> | undefined;

/**
 * The one server of this `deno test` process, started by whichever test module asks first and
 * reused by the others (each module runs in its own isolate, so they meet through a lock file and
 * `state.json` in `sharedStateDir()`). Its `stop()` does nothing: it stops when the process exits.
 *
 * @example
 * ```ts
 * const db = await sharedMariaDB();
 * await db.sql("CREATE TABLE IF NOT EXISTS t (id INT)", { database: "proxytest" });
 * ```
 */
export async function sharedMariaDB(): Promise<MariaDB> {
  shared ??= acquireShared();
  return await shared;
}

async function withTimeout(body: Promise<void>, ms: number, name: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Test timed out after ${ms} ms: ${name}`)), ms);
  });
  try {
    await Promise.race([body, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Registers a test that runs against `sharedMariaDB()`. Without MariaDB the test is ignored, with
 * the reason in its name; under `CI=true` it fails instead, because CI must run live tests.
 *
 * @example
 * ```ts
 * liveTest("mariadb answers SELECT 1", async (db) => {
 *   if ((await db.sql("SELECT 1")).trim() !== "1") throw new Error("unexpected answer");
 * });
 * ```
 */
/**
 * Registers a test that cannot run here because `reason` (a tool is missing): reported as ignored
 * with the reason in its name, except with CI=true, where `.ci/run` installs every tool the
 * suite uses, so it fails instead of passing silently.
 */
export function unavailableTest(name: string, reason: string): void {
  const ci = Deno.env.get("CI") === "true";
  Deno.test({
    name: ci ? name : `${name} (ignored: ${reason})`,
    ignore: !ci,
    fn() {
      throw new Error(`Cannot skip this test in CI: ${reason}`);
    },
  });
}

export function liveTest(
  name: string,
  fn: (db: MariaDB, t: Deno.TestContext) => Promise<void>,
  options: LiveTestOptions = {},
): void {
  const { timeoutMs = 120_000, ...sanitizers } = options;
  if (!LIVE.available && Deno.env.get("CI") === "true") {
    Deno.test({
      name,
      ...sanitizers,
      fn() {
        throw new Error(`Cannot skip a live MariaDB test in CI: ${LIVE.reason}`);
      },
    });
    return;
  }
  Deno.test({
    name: LIVE.available ? name : `${name} (ignored: ${LIVE.reason})`,
    ignore: !LIVE.available,
    ...sanitizers,
    async fn(t) {
      const db = await sharedMariaDB();
      await withTimeout(fn(db, t), timeoutMs, name);
    },
  });
}
