/**
 * Small hand-written recordings for replay's unit tests: a header, a greeting and login per
 * connection, and the command lines a test gives.
 *
 * @module
 */

/** A command line of a test recording (`conn` and `t` are filled in). */
export type CommandLine = Record<string, unknown> & { cmd: string };

/** One recorded connection: its user, database and commands. */
export interface ConnectionSpec {
  user?: string;
  database?: string;
  commands: CommandLine[];
  /** An auth switch the server made: the plugin and its data. */
  authSwitch?: { pluginName: string; pluginData: { base64: string } };
}

const GREETING = {
  kind: "handshake-v10",
  protocolVersion: 10,
  serverVersion: "5.5.5-10.11.19-MariaDB-0+deb12u1",
  connectionId: 30,
  authPluginData: { base64: "QyYwYXVLVUhJdTM6aSV2SERad2k=" },
  capabilities: 2181035998,
  characterSet: 45,
  statusFlags: 2,
  authPluginDataLength: 21,
  mariadbCapabilities: 29,
  authPluginName: "mysql_native_password",
};

/** A column set of one VAR_STRING column, id 1, and one LONG column, id 2. */
export const COLUMN_SETS = [
  {
    type: "columns",
    id: 1,
    columns: [{ name: "v", type: "VAR_STRING", length: 80, charset: 45, flags: 0 }],
  },
  {
    type: "columns",
    id: 2,
    columns: [{ name: "n", type: "LONG", length: 11, charset: 63, flags: 128 }],
  },
];

/** A text result set of one `v` column with these values (column set 1). */
export function rows(...values: (string | null)[]): Record<string, unknown> {
  return { columns: 1, rows: values.map((v) => [v]) };
}

/** The lines of a recording with these connections. */
export function recordingLines(connections: ConnectionSpec[]): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [{
    type: "header",
    format: "mysql-proxy-recording",
    version: 1,
    created: "2026-11-21T10:00:00.000Z",
    tool: "test",
    server: {
      address: "127.0.0.1:3306",
      version: GREETING.serverVersion,
      capabilities: GREETING.capabilities,
      mariadbCapabilities: 29,
      characterSet: 45,
      statusFlags: 2,
      authPlugin: "mysql_native_password",
    },
    redaction: { auth: true, sqlPasswords: true, rules: [] },
  }, ...COLUMN_SETS];
  let t = 1000;
  connections.forEach((spec, i) => {
    const conn = i + 1;
    lines.push({ type: "open", conn, t: t++, client: "127.0.0.1:50000" });
    lines.push({ type: "greeting", conn, t: t++, packet: GREETING });
    const response: Record<string, unknown> = {
      kind: "handshake-response-41",
      capabilities: 12558988,
      maxPacketSize: 1048576,
      characterSet: 45,
      mariadbCapabilities: 29,
      username: spec.user ?? "app",
      authResponse: { redacted: true },
      authPluginName: "mysql_native_password",
    };
    if (spec.database) response.database = spec.database;
    lines.push({ type: "auth", conn, t: t++, from: "client", packet: response });
    if (spec.authSwitch) {
      lines.push({
        type: "auth",
        conn,
        t: t++,
        from: "server",
        packet: { kind: "auth-switch-request", ...spec.authSwitch },
      });
      lines.push({
        type: "auth",
        conn,
        t: t++,
        from: "client",
        packet: { kind: "auth-switch-response", data: { redacted: true } },
      });
    }
    lines.push({
      type: "auth",
      conn,
      t: t++,
      from: "server",
      packet: {
        kind: "ok",
        header: 0,
        affectedRows: 0,
        lastInsertId: 0,
        statusFlags: 2,
        warnings: 0,
      },
    });
    for (const command of spec.commands) {
      lines.push({ conn, t: t++, us: [10, 20], ...command });
    }
    lines.push({ type: "close", conn, t: t++, reason: "closed", bytes: { client: 1, server: 1 } });
  });
  return lines;
}

/** Writes a recording with these connections to a temporary file; returns its path. */
export async function writeRecording(connections: ConnectionSpec[]): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "replay-unit-", suffix: ".jsonl" });
  const text = recordingLines(connections).map((line) => JSON.stringify(line)).join("\n");
  await Deno.writeTextFile(path, text + "\n");
  return path;
}
