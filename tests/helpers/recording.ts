/**
 * Recording real sessions for replay tests: `record()` in front of the test MariaDB, writing to a
 * temporary file unless told where.
 *
 * @module
 */
import { record } from "../../mod.ts";
import type { MariaDB } from "./mariadb.ts";

/** A recording proxy; the recording is complete once `close()` resolves. */
export interface TestRecorder extends AsyncDisposable {
  hostname: string;
  port: number;
  /** Where the recording is written. */
  path: string;
  /** mysql2 connection options that reach the server through the recorder. */
  address: { host: string; port: number };
  /** Stops the proxy (closing open connections), finishes the file and returns its path. */
  close(): Promise<string>;
}

/**
 * Starts a recording proxy in front of `db` (a MariaDB from the harness, or `HOST:PORT`).
 *
 * @example
 * ```ts ignore
 * await using recorder = await startRecorder(db);
 * // ... run clients against recorder.address ...
 * const path = await recorder.close();
 * ```
 */
export async function startRecorder(
  db: MariaDB | string,
  options: { path?: string; redact?: string[]; redactKey?: string } = {},
): Promise<TestRecorder> {
  const path = options.path ??
    await Deno.makeTempFile({ prefix: "replay-test-", suffix: ".jsonl" });
  const proxy = await record({
    listen: "127.0.0.1:0",
    server: typeof db === "string" ? db : `${db.hostname}:${db.port}`,
    out: path,
    overwrite: true,
    redact: options.redact,
    redactKey: options.redactKey,
  });
  let closed: Promise<string> | undefined;
  const close = () => closed ??= proxy.close().then(() => path);
  return {
    hostname: proxy.hostname,
    port: proxy.port,
    path,
    address: { host: proxy.hostname, port: proxy.port },
    close,
    async [Symbol.asyncDispose]() {
      await close();
    },
  };
}
