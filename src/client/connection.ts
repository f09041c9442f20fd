/**
 * A MySQL/MariaDB client connection built on the codec and the session decoder: commands are
 * codec messages serialized with `serializeCommand`, responses are decoded by a
 * {@link SessionDecoder} fed with both sides' packets, and every command resolves to its decoded
 * packets plus convenient shapes ({@link CommandResult}).
 *
 * @module
 */

import { type ClientCommand, serializeCommand } from "../protocol/commands.ts";
import type { ComChangeUser } from "../protocol/change_user.ts";
import type { HandshakeV10 } from "../protocol/handshake.ts";
import type { CodecContext } from "../protocol/context.ts";
import { Capability, ColumnType } from "../protocol/constants.ts";
import type { BinaryParameter } from "../protocol/statement.ts";
import { type Endpoint, formatEndpoint, parseEndpoint } from "../net/endpoint.ts";
import { connect as dial } from "../net/endpoint.ts";
import { type DecodedPacket, SessionDecoder } from "../session/decoder.ts";
import { ConnectionClosedError, PacketChannel } from "./channel.ts";
import { authenticate, firstAnswer, login, type LoginOptions, packetOf } from "./login.ts";
import { isClientPlugin } from "./auth.ts";
import { collectResult, type CommandResult } from "./result.ts";

/** How to reach and log in to a server. */
export interface ConnectOptions extends Omit<LoginOptions, "host"> {
  /** `HOST:PORT`, `[IPV6]:PORT`, `unix:/PATH`, or a parsed endpoint. */
  server: string | Endpoint;
  /** How long the TCP connect and the login may take; default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Largest packet accepted from the server; default 1 GiB. */
  maxPacketLength?: number;
}

/**
 * Supplies a file's content when the server asks for one (LOAD DATA LOCAL INFILE): the bytes, or
 * `null` to send an empty file (which is how clients refuse).
 */
export type LocalInfileHandler = (
  filename: string,
) => Uint8Array | null | Promise<Uint8Array | null>;

/** Options of {@link MysqlConnection.command}. */
export interface CommandOptions {
  /** Answers a LOCAL INFILE request; without it the client sends an empty file. */
  localInfile?: LocalInfileHandler;
}

const INFILE_CHUNK = 64 * 1024;

/**
 * Connects and logs in. Rejects with a `MysqlError` when the server refuses the login, an
 * `AuthError`/`TlsError` when the client cannot go on, or the network error.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./connection.ts";
 * await using db = await connect({ server: "127.0.0.1:3306", user: "app", password: "pw" });
 * const result = await db.query("SELECT 1 AS one");
 * console.log(result.resultSets[0].rows);
 * ```
 */
export async function connect(options: ConnectOptions): Promise<MysqlConnection> {
  const endpoint = typeof options.server === "string"
    ? parseEndpoint(options.server)
    : options.server;
  const timeout = options.connectTimeoutMs ?? 10_000;
  const signal = AbortSignal.timeout(timeout);
  let conn: Deno.Conn;
  try {
    conn = await dial(endpoint, signal);
  } catch (error) {
    const reason = signal.aborted ? `no answer within ${timeout} ms` : (error as Error).message;
    throw new ConnectionClosedError(
      `Cannot connect to ${formatEndpoint(endpoint)}: ${reason}`,
      { cause: error },
    );
  }
  const channel = new PacketChannel(conn, { maxPacketLength: options.maxPacketLength });
  const decoder = new SessionDecoder();
  const host = endpoint.transport === "tcp" ? endpoint.hostname : "localhost";
  const timer = setTimeout(() => channel.close(), timeout);
  try {
    const outcome = await login(channel, decoder, { ...options, host });
    return new MysqlConnection(channel, decoder, outcome, options);
  } catch (error) {
    channel.close();
    if (error instanceof ConnectionClosedError && signal.aborted) {
      throw new ConnectionClosedError(
        `Cannot log in to ${formatEndpoint(endpoint)}: no answer within ${timeout} ms`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One logged-in connection. Commands run one at a time, in the order they are called; a server
 * error is part of the result (`result.error`), not an exception. Network failures and responses
 * that do not decode reject, and leave the connection closed.
 *
 * @example
 * ```ts ignore
 * await using db = await connect({ server: "127.0.0.1:3306", user: "app", password: "pw" });
 * const prepared = await db.prepare("SELECT ? + 1");
 * const result = await db.execute(prepared.prepared!.statementId, [41]);
 * ```
 */
export class MysqlConnection implements AsyncDisposable {
  #channel: PacketChannel;
  #decoder: SessionDecoder;
  #greeting: HandshakeV10;
  #plugin: string;
  #tls: boolean;
  #options: ConnectOptions;
  #loginPackets: DecodedPacket[];
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  /** Made by {@link connect}: a logged-in channel and its decoder. */
  constructor(
    channel: PacketChannel,
    decoder: SessionDecoder,
    outcome: Awaited<ReturnType<typeof login>>,
    options: ConnectOptions,
  ) {
    this.#channel = channel;
    this.#decoder = decoder;
    this.#greeting = outcome.greeting;
    this.#plugin = outcome.plugin;
    this.#tls = outcome.tls;
    this.#options = options;
    this.#loginPackets = outcome.packets;
  }

  /** The server's greeting. */
  get greeting(): HandshakeV10 {
    return this.#greeting;
  }

  /** The server's version string (`5.5.5-10.11.19-MariaDB-...`). */
  get serverVersion(): string {
    return this.#greeting.serverVersion;
  }

  /** The server's id for this connection (`CONNECTION_ID()`). */
  get connectionId(): number {
    return this.#greeting.connectionId;
  }

  /** The negotiated capabilities. */
  get context(): Readonly<CodecContext> {
    return this.#decoder.context;
  }

  /** The auth plugin the last authentication ended with. */
  get authPlugin(): string {
    return this.#plugin;
  }

  /** Whether the connection is encrypted. */
  get tls(): boolean {
    return this.#tls;
  }

  /** The decoded packets of the connection phase. */
  get loginPackets(): readonly DecodedPacket[] {
    return this.#loginPackets;
  }

  /** The session decoder (prepared statements, phase). */
  get decoder(): SessionDecoder {
    return this.#decoder;
  }

  /** Whether the connection is closed (by {@link close}, COM_QUIT, or a failure). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes read from and written to the server. */
  get bytes(): { in: number; out: number } {
    return { in: this.#channel.bytesIn, out: this.#channel.bytesOut };
  }

  /**
   * Sends any command and reads its whole response. Commands without a response (COM_QUIT,
   * COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA) resolve at once; COM_QUIT closes the connection.
   */
  command(command: ClientCommand, options: CommandOptions = {}): Promise<CommandResult> {
    if (command.kind === "COM_CHANGE_USER") {
      return Promise.reject(
        new TypeError("Use changeUser() for COM_CHANGE_USER: it needs the password"),
      );
    }
    return this.#serialized(() => this.#run(command, options));
  }

  /** COM_QUERY. */
  query(sql: string, options: CommandOptions = {}): Promise<CommandResult> {
    return this.command({ kind: "COM_QUERY", sql }, options);
  }

  /** COM_STMT_PREPARE; the statement's id is `result.prepared.statementId`. */
  prepare(sql: string): Promise<CommandResult> {
    return this.command({ kind: "COM_STMT_PREPARE", sql });
  }

  /**
   * COM_STMT_EXECUTE with parameter values (types chosen by {@link toParameter}) or ready-made
   * {@link BinaryParameter}s. `flags` are the cursor flags (default none).
   */
  execute(
    statementId: number,
    params: readonly (unknown | BinaryParameter)[] = [],
    flags = 0,
  ): Promise<CommandResult> {
    const bound = params.map((p) => isParameter(p) ? p : toParameter(p));
    return this.command({
      kind: "COM_STMT_EXECUTE",
      statementId,
      flags,
      iterationCount: 1,
      newParamsBound: bound.length > 0 ? true : undefined,
      params: bound,
    });
  }

  /** COM_STMT_CLOSE (no response). */
  closeStatement(statementId: number): Promise<CommandResult> {
    return this.command({ kind: "COM_STMT_CLOSE", statementId });
  }

  /** COM_PING. */
  ping(): Promise<CommandResult> {
    return this.command({ kind: "COM_PING" });
  }

  /**
   * COM_CHANGE_USER: logs in again as `user` (the session is reset). Resolves to the result, with
   * `error` when the server refused (the server then closes the connection).
   */
  changeUser(
    credentials: { user: string; password?: string; database?: string },
  ): Promise<CommandResult> {
    return this.#serialized(async () => {
      this.#assertOpen();
      const password = credentials.password ?? "";
      const plugin = isClientPlugin(this.#plugin) && this.#plugin !== "client_ed25519" &&
          this.#plugin !== "mysql_clear_password"
        ? this.#plugin
        : "mysql_native_password";
      const state = {
        channel: this.#channel,
        decoder: this.#decoder,
        password,
        tls: this.#tls,
        serverPublicKey: this.#options.serverPublicKey,
        packets: [] as DecodedPacket[],
        what: `COM_CHANGE_USER to ${credentials.user}`,
      };
      const command: ComChangeUser = {
        kind: "COM_CHANGE_USER",
        username: credentials.user,
        authResponse: firstAnswer(plugin, this.#greeting.authPluginData, state),
        schema: credentials.database ?? "",
        characterSet: this.#options.characterSet ?? 45,
        authPluginName: plugin,
      };
      if (this.#decoder.context.capabilities & Capability.CLIENT_CONNECT_ATTRS) {
        // MariaDB refuses a COM_CHANGE_USER that lacks the attributes it negotiated (1047).
        command.connectAttributes = this.#options.connectAttributes ??
          [["_client_name", "mysql-proxy"]];
      }
      const sentAt = performance.now();
      const payload = serializeCommand(command, this.#decoder.context);
      state.packets.push(this.#decoder.client(packetOf(payload, 0)));
      try {
        await this.#channel.send(payload, 0);
        const outcome = await authenticate(state, plugin, this.#greeting.authPluginData);
        if (outcome.kind === "ok") this.#plugin = outcome.plugin;
        else this.#markClosed();
      } catch (error) {
        this.#markClosed();
        throw error;
      }
      const totalUs = Math.round((performance.now() - sentAt) * 1000);
      return collectResult(command, state.packets, [], {
        sentAt: sentAt * 1000,
        firstByteUs: totalUs,
        totalUs,
      });
    });
  }

  /** Sends COM_QUIT (when still open) and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.command({ kind: "COM_QUIT" });
    } catch {
      // the server is gone already
    }
    this.#markClosed();
  }

  /** {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #markClosed(): void {
    this.#closed = true;
    this.#channel.close();
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new ConnectionClosedError("Cannot send a command: the connection is closed");
    }
  }

  #serialized<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #run(command: ClientCommand, options: CommandOptions): Promise<CommandResult> {
    this.#assertOpen();
    const payload = serializeCommand(command, this.#decoder.context);
    const packets: DecodedPacket[] = [];
    const payloads: Uint8Array[] = [];
    const first = this.#decoder.client(packetOf(payload, 0));
    packets.push(first);
    const sentAt = performance.now();
    try {
      await this.#channel.send(payload, 0);
      if (!first.exchange) {
        if (command.kind === "COM_QUIT") this.#markClosed();
        const result = collectResult(command, packets, payloads, {
          sentAt: sentAt * 1000,
          firstByteUs: 0,
          totalUs: 0,
        });
        result.noResponse = true;
        return result;
      }
      let firstByte: number | undefined;
      for (;;) {
        const packet = await this.#channel.next();
        firstByte ??= performance.now();
        const decoded = this.#decoder.server(packet);
        packets.push(decoded);
        payloads.push(packet.payload);
        if (this.#decoder.phase === "opaque") {
          throw new Error(
            `Cannot read the response to ${command.kind}: a packet did not decode` +
              (decoded.message.kind === "unknown" ? ` (${decoded.message.reason})` : ""),
          );
        }
        if (decoded.message.kind === "local-infile-request") {
          const data = options.localInfile
            ? await options.localInfile(decoded.message.filename)
            : null;
          await this.#sendFile(data ?? new Uint8Array(0), packet.lastSequenceId + 1, packets);
        }
        if (decoded.ends === "response") break;
      }
      const now = performance.now();
      return collectResult(command, packets, payloads, {
        sentAt: sentAt * 1000,
        firstByteUs: Math.round((firstByte! - sentAt) * 1000),
        totalUs: Math.round((now - sentAt) * 1000),
      });
    } catch (error) {
      this.#markClosed();
      throw error;
    }
  }

  /** LOCAL INFILE: the file in packets, then an empty packet. */
  async #sendFile(data: Uint8Array, sequenceId: number, packets: DecodedPacket[]): Promise<void> {
    let seq = sequenceId & 0xff;
    for (let offset = 0; offset < data.length; offset += INFILE_CHUNK) {
      const chunk = data.subarray(offset, offset + INFILE_CHUNK);
      packets.push(this.#decoder.client(packetOf(chunk, seq)));
      seq = await this.#channel.send(chunk, seq);
    }
    const empty = new Uint8Array(0);
    packets.push(this.#decoder.client(packetOf(empty, seq)));
    await this.#channel.send(empty, seq);
  }
}

function isParameter(value: unknown): value is BinaryParameter {
  return typeof value === "object" && value !== null && !(value instanceof Uint8Array) &&
    "type" in value && ("value" in value || "longData" in value);
}

/**
 * A JavaScript value as an execute parameter: integers as LONGLONG, other numbers as DOUBLE,
 * bigints as LONGLONG (unsigned when positive past 2^63 - 1), strings as VAR_STRING, bytes as
 * BLOB, booleans as TINY, `null`/`undefined` as NULL, dates as DATETIME text.
 *
 * @example
 * ```ts
 * import { toParameter } from "./connection.ts";
 * console.assert(toParameter(5).type === 0x08 && toParameter("x").type === 0xfd);
 * ```
 */
export function toParameter(value: unknown): BinaryParameter {
  if (value === null || value === undefined) {
    return { type: ColumnType.MYSQL_TYPE_NULL, unsigned: false, value: null };
  }
  switch (typeof value) {
    case "number":
      return Number.isSafeInteger(value)
        ? { type: ColumnType.MYSQL_TYPE_LONGLONG, unsigned: false, value }
        : { type: ColumnType.MYSQL_TYPE_DOUBLE, unsigned: false, value };
    case "bigint":
      return { type: ColumnType.MYSQL_TYPE_LONGLONG, unsigned: value > 0x7fffffffffffffffn, value };
    case "boolean":
      return { type: ColumnType.MYSQL_TYPE_TINY, unsigned: false, value: value ? 1 : 0 };
    case "string":
      return { type: ColumnType.MYSQL_TYPE_VAR_STRING, unsigned: false, value };
  }
  if (value instanceof Uint8Array) {
    return { type: ColumnType.MYSQL_TYPE_BLOB, unsigned: false, value };
  }
  if (value instanceof Date) {
    const text = value.toISOString().replace("T", " ").replace("Z", "");
    return { type: ColumnType.MYSQL_TYPE_VAR_STRING, unsigned: false, value: text };
  }
  throw new TypeError(`Cannot bind a parameter of type ${typeof value}`);
}
