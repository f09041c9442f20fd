/**
 * Recording real sessions for replay tests: a proxy in front of the test MariaDB whose tap feeds
 * each connection's decoded packets to a `ConnectionRecorder`, the way `record` does, and writes a
 * recording file (docs/recording-format.md) when it closes.
 *
 * Until the library's `record()` lands this wires the existing pieces itself (the model is
 * tests/record/exactness_test.ts); the file it writes is what `record` writes.
 *
 * @module
 */
import { createSessionTap, startProxy } from "../../mod.ts";
import { ConnectionRecorder } from "../../src/record/assemble.ts";
import { ColumnRegistry } from "../../src/record/columns.ts";
import {
  FORMAT_NAME,
  FORMAT_VERSION,
  type HeaderEvent,
  type RecordingEvent,
  type ServerInfo,
} from "../../src/record/events.ts";
import type { MariaDB } from "./mariadb.ts";

/** A recording proxy; the recording is written to `path` by `close()`. */
export interface TestRecorder extends AsyncDisposable {
  hostname: string;
  port: number;
  /** Where the recording is written. */
  path: string;
  /** mysql2 connection options that reach the server through the recorder. */
  address: { host: string; port: number };
  /** Stops the proxy (closing open connections) and writes the file. */
  close(): Promise<string>;
}

/**
 * Starts a recording proxy in front of `db`. `path` defaults to a new temporary file.
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
  options: { path?: string } = {},
): Promise<TestRecorder> {
  const path = options.path ??
    await Deno.makeTempFile({ prefix: "replay-test-", suffix: ".jsonl" });
  const server = typeof db === "string" ? db : `${db.hostname}:${db.port}`;
  const started = performance.now();
  const now = () => Math.round((performance.now() - started) * 1000);
  const lines: string[] = [];
  const emit = (event: RecordingEvent) => lines.push(JSON.stringify(event));
  const columns = new ColumnRegistry(emit);
  let info: ServerInfo | undefined;
  const proxy = await startProxy({
    listen: "127.0.0.1:0",
    server,
    tap: (connection) => {
      // deno-lint-ignore prefer-const
      let tap: ReturnType<typeof createSessionTap>;
      const recorder = new ConnectionRecorder({
        conn: connection.id,
        now,
        context: () => tap.decoder.context,
        columns,
        emit,
      });
      tap = createSessionTap({
        onPacket(packet) {
          if (!info && packet.message.kind === "handshake-v10") {
            const greeting = packet.message;
            info = {
              address: server,
              version: greeting.serverVersion,
              capabilities: greeting.capabilities,
              mariadbCapabilities: greeting.mariadbCapabilities,
              characterSet: greeting.characterSet,
              statusFlags: greeting.statusFlags,
              authPlugin: greeting.authPluginName ?? null,
            };
          }
          recorder.packet(packet);
        },
        onOpaque: (reason) => recorder.opaque(reason),
      });
      recorder.open(connection.client);
      return {
        client: (chunk) => tap.client(chunk),
        server: (chunk) => tap.server(chunk),
        get commands() {
          return tap.commands;
        },
        close: (reason, bytes) => recorder.close(reason, bytes),
      };
    },
  });
  let closed: Promise<string> | undefined;
  const close = () =>
    closed ??= (async () => {
      await proxy.close();
      const header: HeaderEvent = {
        type: "header",
        format: FORMAT_NAME,
        version: FORMAT_VERSION,
        created: new Date(Date.now() - (performance.now() - started)).toISOString(),
        tool: "mysql-proxy test recorder",
        server: info ?? {
          address: server,
          version: null,
          capabilities: null,
          mariadbCapabilities: null,
          characterSet: null,
          statusFlags: null,
          authPlugin: null,
        },
        redaction: { auth: true, sqlPasswords: true, rules: [] },
      };
      await Deno.writeTextFile(path, [JSON.stringify(header), ...lines].join("\n") + "\n");
      return path;
    })();
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
