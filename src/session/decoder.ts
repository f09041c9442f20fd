/**
 * The per-connection state machine: (state, packet, direction) -> decoded message.
 *
 * A packet's first byte means different things in different places (0xFE is an EOF, an OK, or an
 * AuthSwitchRequest; 0xFB is NULL in a row and LOCAL INFILE as a response), so every packet is
 * classified by where the connection is, never by its first byte alone. Transitions use only
 * cheap, robust facts (header byte, length, status flags); a packet whose body does not decode
 * becomes `kind: "unknown"` with the reason, and the state machine still moves on.
 *
 * @module
 */

import { Capability, Command, ServerStatus } from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import { ProtocolError } from "../protocol/errors.ts";
import {
  negotiatedContext,
  parseHandshakeResponse,
  parseHandshakeV10,
} from "../protocol/handshake.ts";
import {
  isProgressReport,
  parseEof,
  parseErr,
  parseOk,
  parseProgressReport,
} from "../protocol/generic.ts";
import {
  parseAuthMoreData,
  parseAuthNextFactor,
  parseAuthSwitchRequest,
  parseAuthSwitchResponse,
} from "../protocol/auth.ts";
import {
  type ColumnCount,
  hasMetadataFlag,
  parseColumnCount,
  parseColumnDefinition320,
  parseColumnDefinition41,
  parseLocalInfileData,
  parseLocalInfileRequest,
  parseStatistics,
  parseStmtPrepareOk,
  parseTextRow,
} from "../protocol/resultset.ts";
import { parseBinaryRow } from "../protocol/binary.ts";
import { parseCommand } from "../protocol/commands.ts";
import { boundParameterTypes } from "../protocol/statement.ts";
import { unknownPacket } from "../protocol/unknown.ts";
import type { Packet } from "../protocol/framing.ts";
import type { HandshakeV10 } from "../protocol/handshake.ts";
import type { Exchange, PreparedStatement, ResponseShape, ResponseStage } from "./exchange.ts";
import type { ClientMessage, ColumnDefinition, ServerMessage } from "./messages.ts";
import type { TextRow } from "../protocol/resultset.ts";

/** Which way a packet travels. */
export type Direction = "client" | "server";

/** Where a connection is in the protocol. */
export type Phase =
  /** Waiting for the server's greeting. */
  | "greeting"
  /** Waiting for the client's HandshakeResponse (or SSLRequest). */
  | "login"
  /** Authenticating: auth switches, more data, until OK or ERR. */
  | "auth"
  /** Authenticated: commands and their responses. */
  | "command"
  /** The rest of the stream is not decodable as plain packets (TLS, compression, a lost track). */
  | "opaque"
  /** The connection has ended (COM_QUIT sent, or authentication failed). */
  | "closed";

/** One decoded packet with the context needed to understand it. */
export interface DecodedPacket {
  /** Who sent it. */
  direction: Direction;
  /** Sequence id of the (first frame of the) packet. */
  sequenceId: number;
  /** Payload bytes (of all frames, for continued packets). */
  length: number;
  /** The decoded message. Byte fields may be views into the read buffer. */
  message: ClientMessage | ServerMessage;
  /** The command a server packet answers, or the command a client packet is. */
  exchange?: Exchange;
  /** Set on the packet that ends a result set (EOF/OK after rows) or the whole response. */
  ends?: "result-set" | "response";
  /** On authentication packets: the auth plugin in effect, to interpret the auth data. */
  authPlugin?: string;
  /**
   * On response packets: where the response stood once this packet was decoded. `exchange`
   * keeps changing as later packets arrive; this does not, for consumers that read a whole
   * response's packets after decoding them all (a client, `verify`).
   */
  stage?: ResponseStage;
}

/** Options of {@link SessionDecoder}. */
export interface SessionDecoderOptions {
  /** Called once when decoding stops for the rest of the connection, with the reason. */
  onOpaque?: (reason: string) => void;
}

const NO_RESPONSE = new Set<number>([
  Command.COM_QUIT,
  Command.COM_STMT_CLOSE,
  Command.COM_STMT_SEND_LONG_DATA,
]);

const RESPONSE_SHAPE: Partial<Record<number, ResponseShape>> = {
  [Command.COM_QUERY]: "text-resultset",
  [Command.COM_PROCESS_INFO]: "text-resultset",
  [Command.COM_STMT_EXECUTE]: "binary-resultset",
  [Command.COM_STMT_FETCH]: "binary-rows",
  [Command.COM_STMT_PREPARE]: "prepare",
  [Command.COM_FIELD_LIST]: "field-list",
  [Command.COM_STATISTICS]: "statistics",
  [Command.COM_CHANGE_USER]: "auth",
  [Command.COM_BINLOG_DUMP]: "binlog",
  [Command.COM_BINLOG_DUMP_GTID]: "binlog",
};

/** MariaDB's COM_STMT_EXECUTE id meaning "the statement prepared last" (used when pipelining). */
const LAST_PREPARED_STATEMENT = 0xffffffff;

/**
 * Everything a {@link SessionDecoder} knows of its connection, as plain data (structured-clone
 * safe): see {@link SessionDecoder.snapshot}.
 */
export interface DecoderSnapshot {
  /** {@link SessionDecoder.phase}. */
  phase: Phase;
  /** {@link SessionDecoder.context}. */
  context: CodecContext;
  /** The greeting, once seen (the login's capabilities come from it). */
  serverGreeting: HandshakeV10 | undefined;
  /** Both sides asked for compression: it starts after the login's OK. */
  compressAfterAuth: boolean;
  /** {@link SessionDecoder.tls}. */
  tls: boolean;
  /** {@link SessionDecoder.compressed}. */
  compressed: boolean;
  /** {@link SessionDecoder.framed}. */
  framed: boolean;
  /** {@link SessionDecoder.pending}. */
  pending: Exchange[];
  /** {@link SessionDecoder.statements}. */
  statements: Map<number, PreparedStatement>;
  /** The id of the statement prepared last (MariaDB's execute of "the last one"). */
  lastPrepared: number | undefined;
  /** {@link SessionDecoder.commands}. */
  commands: number;
  /** {@link SessionDecoder.authPlugin}. */
  authPlugin: string;
}

/**
 * Decodes one connection, packet by packet, from both directions.
 *
 * @example
 * ```ts ignore
 * import { SessionDecoder } from "./decoder.ts";
 * const decoder = new SessionDecoder();
 * const greeting = decoder.server({ sequenceId: 0, lastSequenceId: 0, frames: 1, payload });
 * console.log(greeting.message.kind); // "handshake-v10"
 * ```
 */
export class SessionDecoder {
  #phase: Phase = "greeting";
  #context: CodecContext = { capabilities: Capability.CLIENT_PROTOCOL_41, mariadbCapabilities: 0 };
  #serverGreeting: HandshakeV10 | undefined;
  #compressAfterAuth = false;
  #tls = false;
  #compressed = false;
  #framed = true;
  /** False inside {@link track}: skip parsing what only a reader of the messages needs. */
  #full = true;
  #pending: Exchange[] = [];
  #statements = new Map<number, PreparedStatement>();
  #lastPrepared: number | undefined;
  #commands = 0;
  #authPlugin = "";
  #options: SessionDecoderOptions;

  /** A decoder for a new connection, expecting the greeting. */
  constructor(options: SessionDecoderOptions = {}) {
    this.#options = options;
  }

  /**
   * The decoder's state as plain data, for another thread to go on from (see {@link restore}).
   * It shares objects with this decoder: clone it (postMessage does) before either goes on.
   */
  snapshot(): DecoderSnapshot {
    return {
      phase: this.#phase,
      context: this.#context,
      serverGreeting: this.#serverGreeting,
      compressAfterAuth: this.#compressAfterAuth,
      tls: this.#tls,
      compressed: this.#compressed,
      framed: this.#framed,
      pending: this.#pending,
      statements: this.#statements,
      lastPrepared: this.#lastPrepared,
      commands: this.#commands,
      authPlugin: this.#authPlugin,
    };
  }

  /** A decoder that goes on from where the one that took `snapshot` was. */
  static restore(snapshot: DecoderSnapshot, options: SessionDecoderOptions = {}): SessionDecoder {
    const decoder = new SessionDecoder(options);
    decoder.#phase = snapshot.phase;
    decoder.#context = snapshot.context;
    decoder.#serverGreeting = snapshot.serverGreeting;
    decoder.#compressAfterAuth = snapshot.compressAfterAuth;
    decoder.#tls = snapshot.tls;
    decoder.#compressed = snapshot.compressed;
    decoder.#framed = snapshot.framed;
    decoder.#pending = snapshot.pending;
    decoder.#statements = snapshot.statements;
    decoder.#lastPrepared = snapshot.lastPrepared;
    decoder.#commands = snapshot.commands;
    decoder.#authPlugin = snapshot.authPlugin;
    return decoder;
  }

  /**
   * Whether the streams still carry MySQL packets (false after an SSLRequest this connection does
   * not terminate). Compressed streams count: their frames carry packets (see {@link compressed}).
   */
  get framed(): boolean {
    return this.#framed;
  }

  /**
   * Whether both sides turned the compressed protocol on: it starts with the packets after the
   * login's OK, in both directions (the OK itself is not compressed).
   */
  get compressed(): boolean {
    return this.#compressed;
  }

  /** Whether the client asked for TLS (sent an SSLRequest) before logging in. */
  get tls(): boolean {
    return this.#tls;
  }

  /** Where the connection is. */
  get phase(): Phase {
    return this.#phase;
  }

  /** Capabilities both sides agreed on (valid once the client answered the greeting). */
  get context(): Readonly<CodecContext> {
    return this.#context;
  }

  /** Commands seen so far. */
  get commands(): number {
    return this.#commands;
  }

  /** The auth plugin in use (from the greeting, the response, or the last auth switch). */
  get authPlugin(): string {
    return this.#authPlugin;
  }

  /** Prepared statements open on this connection, by server-assigned id. */
  get statements(): ReadonlyMap<number, PreparedStatement> {
    return this.#statements;
  }

  /** Commands sent whose response has not ended yet, oldest first. */
  get pending(): readonly Exchange[] {
    return this.#pending;
  }

  /**
   * Stops decoding. `framed` says whether the bytes still come as plain packets (a lost track)
   * or not at all (TLS, compression): then there is nothing left to decode.
   */
  #goOpaque(reason: string, framed = true): void {
    if (this.#phase === "opaque") return;
    this.#phase = "opaque";
    this.#framed = framed;
    this.#pending = [];
    this.#options.onOpaque?.(reason);
  }

  /** The decoded packet; inside {@link track}, where nobody reads it, one shared object. */
  #result(
    direction: Direction,
    packet: Packet,
    message: ClientMessage | ServerMessage,
    exchange?: Exchange,
    ends?: DecodedPacket["ends"],
  ): DecodedPacket {
    if (!this.#full) return TRACKED;
    const decoded: DecodedPacket = {
      direction,
      sequenceId: packet.sequenceId,
      length: packet.length,
      message,
    };
    if (exchange) decoded.exchange = exchange;
    if (ends) decoded.ends = ends;
    return decoded;
  }

  /** A server packet of `exchange`'s response. */
  #at(
    packet: Packet,
    exchange: Exchange,
    message: ServerMessage,
    ends?: DecodedPacket["ends"],
  ): DecodedPacket {
    return this.#result("server", packet, message, exchange, ends);
  }

  /** A server packet that ends `exchange`'s response (or, with `ends`, a result set of it). */
  #ended(
    packet: Packet,
    exchange: Exchange,
    message: ServerMessage,
    ends: DecodedPacket["ends"] = "response",
  ): DecodedPacket {
    if (ends === "response") this.#finish(exchange, message);
    return this.#result("server", packet, message, exchange, ends);
  }

  /**
   * Follows a packet through the state machine without building the messages nobody will read:
   * rows, column definitions and the bodies of queries and executes are not parsed, only the
   * facts the transitions use (header bytes, counts, status flags, statement ids). For a relay
   * that nobody watches, this is the hot path; the state is the same as after `client`/`server`.
   */
  track(direction: Direction, packet: Packet): void {
    this.#full = false;
    try {
      if (direction === "client") this.client(packet);
      else this.server(packet);
    } finally {
      this.#full = true;
    }
  }

  /** Decodes a packet the client sent. */
  client(packet: Packet): DecodedPacket {
    const { payload } = packet;
    switch (this.#phase) {
      case "login":
        return this.#withPlugin(this.#result("client", packet, this.#login(payload)));
      case "auth":
        return this.#withPlugin(
          this.#result("client", packet, guard(payload, parseAuthSwitchResponse)),
        );
      case "command": {
        const head = this.#pending[0];
        if (head && head.stage === "infile-data") {
          // LOCAL INFILE: the client streams the file; an empty packet ends it.
          if (packet.length === 0) head.stage = "infile-result";
          return this.#result(
            "client",
            packet,
            guard(payload, parseLocalInfileData),
            head,
          );
        }
        if (head && head.shape === "auth") {
          return this.#withPlugin(
            this.#result(
              "client",
              packet,
              guard(payload, parseAuthSwitchResponse),
              head,
            ),
          );
        }
        return this.#command(packet);
      }
      case "opaque":
        // A client command always starts at sequence id 0: a chance to pick up the thread again.
        if (packet.sequenceId === 0 && this.#resynchronizable()) {
          this.#phase = "command";
          this.#pending = [];
          return this.#command(packet);
        }
        return this.#result(
          "client",
          packet,
          unknownPacket(payload, "not decoded: the stream is opaque"),
        );
      default:
        return this.#result(
          "client",
          packet,
          unknownPacket(payload, `client packet in phase ${this.#phase}`),
        );
    }
  }

  /** Decodes a packet the server sent. */
  server(packet: Packet): DecodedPacket {
    const { payload } = packet;
    switch (this.#phase) {
      case "greeting":
        return this.#result("server", packet, this.#greeting(payload));
      case "auth":
        return this.#authResponse(packet, this.#pending[0]);
      case "login":
        // The server rejects what the client sent before it arrived whole (packets out of order)
        // and closes.
        if (payload[0] === 0xff) {
          this.#phase = "closed";
          return this.#result(
            "server",
            packet,
            guard(payload, parseErr, this.#context),
          );
        }
        return this.#result(
          "server",
          packet,
          unknownPacket(payload, "server packet before the login"),
        );
      case "command": {
        const exchange = this.#pending[0];
        if (!exchange) {
          // Servers speak unprompted only to say goodbye (an ERR before closing, e.g. a timeout).
          const message = payload[0] === 0xff
            ? guard(payload, parseErr, this.#context)
            : unknownPacket(payload, "server packet with no command pending");
          return this.#result("server", packet, message);
        }
        const decoded = this.#response(packet, exchange);
        decoded.stage = exchange.stage;
        return decoded;
      }
      default:
        return this.#result(
          "server",
          packet,
          unknownPacket(payload, `not decoded: server packet in phase ${this.#phase}`),
        );
    }
  }

  #greeting(payload: Uint8Array): ServerMessage {
    if (payload[0] === 0xff) {
      // Refused before the handshake ("Too many connections", "Host is blocked").
      this.#phase = "closed";
      return guard(payload, parseErr, this.#context);
    }
    if (payload[0] !== 10) {
      this.#goOpaque(`protocol version ${payload[0]} is not supported`);
      return unknownPacket(payload, `greeting with protocol version ${payload[0]}`);
    }
    this.#phase = "login";
    const message = guard(payload, parseHandshakeV10);
    if (message.kind === "handshake-v10") {
      this.#serverGreeting = message;
      this.#authPlugin = message.authPluginName ?? "";
    }
    return message;
  }

  #login(payload: Uint8Array): ClientMessage {
    const message = guard(payload, parseHandshakeResponse);
    switch (message.kind) {
      case "ssl-request":
        // Whoever feeds this decoder sits where TLS is terminated (the proxy, a client): the
        // HandshakeResponse that follows comes in plaintext, still in the login phase.
        this.#tls = true;
        return message;
      case "handshake-response-41":
      case "handshake-response-320": {
        if (this.#serverGreeting) {
          this.#context = negotiatedContext(this.#serverGreeting, message);
        }
        if (message.kind === "handshake-response-41" && message.authPluginName) {
          this.#authPlugin = message.authPluginName;
        }
        this.#compressAfterAuth = (this.#context.capabilities & Capability.CLIENT_COMPRESS) !== 0;
        this.#phase = "auth";
        return message;
      }
      default:
        this.#phase = "auth";
        return message;
    }
  }

  /** A server packet during authentication (login or COM_CHANGE_USER). */
  #authResponse(packet: Packet, exchange: Exchange | undefined): DecodedPacket {
    const { payload } = packet;
    const context = this.#context;
    let message: ServerMessage;
    let ends: DecodedPacket["ends"];
    switch (payload[0]) {
      case 0x00:
        message = guard(payload, parseOk, context);
        ends = "response";
        this.#authDone(exchange, true);
        break;
      case 0xff:
        message = guard(payload, parseErr, context);
        ends = "response";
        this.#authDone(exchange, false);
        break;
      case 0xfe:
        message = guard(payload, parseAuthSwitchRequest);
        if (message.kind === "auth-switch-request") this.#authPlugin = message.pluginName;
        break;
      default:
        if (
          payload[0] === 0x02 && (context.capabilities & Capability.MULTI_FACTOR_AUTHENTICATION)
        ) {
          message = guard(payload, parseAuthNextFactor);
          if (message.kind === "auth-next-factor") this.#authPlugin = message.pluginName;
        } else {
          // 0x01 + data; MariaDB also sends plugin data with no header (dialog questions).
          message = guard(payload, parseAuthMoreData);
        }
    }
    return this.#withPlugin(this.#result("server", packet, message, exchange, ends));
  }

  #withPlugin(packet: DecodedPacket): DecodedPacket {
    packet.authPlugin = this.#authPlugin;
    return packet;
  }

  #authDone(exchange: Exchange | undefined, success: boolean): void {
    if (exchange) {
      // COM_CHANGE_USER: the session is reset either way (prepared statements are gone), and
      // after a failure the server closes the connection.
      exchange.done = true;
      this.#pending.shift();
      this.#statements.clear();
      this.#lastPrepared = undefined;
      this.#phase = success ? "command" : "closed";
      return;
    }
    if (!success) {
      this.#phase = "closed";
      return;
    }
    this.#phase = "command";
    this.#compressed = this.#compressAfterAuth;
  }

  #command(packet: Packet): DecodedPacket {
    const { payload } = packet;
    this.#commands++;
    const code = payload[0];
    const message = (!this.#full && liteCommand(payload)) ||
      guard(payload, parseCommand, this.#context, this.#lookup);
    if (message.kind === "COM_CHANGE_USER" && message.authPluginName) {
      this.#authPlugin = message.authPluginName;
    }
    if (payload.length > 0 && NO_RESPONSE.has(code)) {
      this.#afterNoResponse(message);
      return this.#result("client", packet, message);
    }
    const shape = RESPONSE_SHAPE[code] ?? "ok";
    const exchange: Exchange = {
      index: this.#commands,
      command: message as Exchange["command"],
      shape,
      stage: "first",
      columns: [],
      columnCount: 0,
      rows: 0,
      results: 0,
      done: false,
    };
    if (
      message.kind === "COM_STMT_EXECUTE" || message.kind === "COM_STMT_FETCH" ||
      message.kind === "COM_STMT_RESET"
    ) {
      exchange.statement = this.#statementFor(message.statementId);
      if (message.kind === "COM_STMT_EXECUTE" && exchange.statement) {
        const types = boundParameterTypes(message);
        if (types) exchange.statement.previousTypes = types;
        exchange.statement.longDataParameters.clear();
      }
      if (message.kind === "COM_STMT_RESET" && exchange.statement) {
        exchange.statement.longDataParameters.clear();
      }
      if (message.kind === "COM_STMT_FETCH" && exchange.statement) {
        exchange.columns = exchange.statement.columns;
        exchange.columnCount = exchange.columns.length;
        exchange.stage = "rows";
      }
    }
    this.#pending.push(exchange);
    return this.#result("client", packet, message, exchange);
  }

  #afterNoResponse(message: ClientMessage): void {
    switch (message.kind) {
      case "COM_QUIT":
        this.#phase = "closed";
        break;
      case "COM_STMT_CLOSE":
        this.#statements.delete(message.statementId);
        break;
      case "COM_STMT_SEND_LONG_DATA":
        this.#statementFor(message.statementId)?.longDataParameters.add(message.parameterId);
        break;
    }
  }

  /** How the command codec finds a statement's parameter count and previous types. */
  #lookup = { get: (id: number) => this.#statementFor(id) };

  #statementFor(id: number): PreparedStatement | undefined {
    if (id === LAST_PREPARED_STATEMENT && this.#lastPrepared !== undefined) {
      return this.#statements.get(this.#lastPrepared);
    }
    return this.#statements.get(id);
  }

  #resynchronizable(): boolean {
    // TLS and compression never come back to plain packets; a lost track can.
    return this.#framed && this.#serverGreeting !== undefined;
  }

  /** A server packet answering `exchange`. */
  #response(packet: Packet, exchange: Exchange): DecodedPacket {
    const { payload } = packet;
    if (!exchange.statement && exchange.command.kind === "COM_STMT_EXECUTE") {
      // Execute-direct (MariaDB): the EXECUTE for "the last statement" was sent before the
      // PREPARE_OK came back; by its response the statement is known.
      exchange.statement = this.#statementFor(exchange.command.statementId);
    }
    const context = this.#context;
    const first = payload[0];
    if (first === 0xff) {
      if (isProgressReport(payload, context)) {
        return this.#result(
          "server",
          packet,
          guard(payload, parseProgressReport),
          exchange,
        );
      }
      return this.#ended(packet, exchange, guard(payload, parseErr, context));
    }
    switch (exchange.shape) {
      case "auth":
        return this.#authResponse(packet, exchange);
      case "statistics":
        return this.#ended(packet, exchange, guard(payload, parseStatistics));
      case "ok":
        return this.#ended(packet, exchange, this.#terminal(payload));
      case "binlog":
        if (first === 0xfe && packet.length < 9) {
          return this.#ended(packet, exchange, this.#terminal(payload));
        }
        return this.#result(
          "server",
          packet,
          unknownPacket(payload, "replication event (not decoded)"),
          exchange,
        );
      case "prepare":
        return this.#prepareResponse(packet, exchange);
      case "field-list":
        if (this.#isEnd(packet)) return this.#ended(packet, exchange, this.#terminal(payload));
        return this.#result("server", packet, this.#columnDefinition(payload), exchange);
      default:
        return this.#resultSet(packet, exchange);
    }
  }

  /** Text and binary result sets, possibly several, possibly after a LOCAL INFILE. */
  #resultSet(packet: Packet, exchange: Exchange): DecodedPacket {
    const { payload } = packet;
    const context = this.#context;
    switch (exchange.stage) {
      case "first":
      case "infile-result": {
        if (payload[0] === 0x00) {
          exchange.columnCount = 0; // an OK is a result without columns
          const ok = this.#full
            ? guard(payload, parseOk, context)
            : liteTerminal(payload, this.#deprecateEof());
          return this.#at(
            packet,
            exchange,
            this.#endOfResult(exchange, ok),
            this.#endKind(exchange),
          );
        }
        if (
          payload[0] === 0xfb && exchange.shape === "text-resultset" && exchange.stage === "first"
        ) {
          exchange.stage = "infile-data";
          return this.#at(packet, exchange, guard(payload, parseLocalInfileRequest));
        }
        const message = (!this.#full && this.#liteColumnCount(payload)) ||
          guard(payload, parseColumnCount, context);
        if (message.kind !== "column-count") {
          this.#goOpaque(`cannot read a column count: ${message.reason}`);
          return this.#at(packet, exchange, message);
        }
        exchange.columnCount = Number(message.count);
        exchange.columns = [];
        exchange.rows = 0;
        if (message.metadataFollows === 0) {
          // MariaDB's metadata cache: the columns are those the statement had last time.
          exchange.columns = exchange.statement?.columns ?? [];
          exchange.stage = this.#deprecateEof() ? "rows" : "columns-eof";
        } else {
          exchange.stage = exchange.columnCount > 0 ? "column-definitions" : "rows";
        }
        return this.#at(packet, exchange, message);
      }
      case "column-definitions": {
        const message = this.#columnDefinition(payload);
        exchange.columns.push(message.kind === "unknown" ? placeholderColumn() : message);
        if (exchange.columns.length >= exchange.columnCount) {
          if (exchange.statement && exchange.shape === "binary-resultset") {
            exchange.statement.columns = exchange.columns;
          }
          exchange.stage = this.#deprecateEof() ? "rows" : "columns-eof";
        }
        return this.#at(packet, exchange, message);
      }
      case "columns-eof": {
        const message = this.#terminal(payload);
        exchange.stage = "rows";
        const status = statusOf(message);
        if (
          status !== undefined && (status & ServerStatus.SERVER_STATUS_CURSOR_EXISTS) !== 0 &&
          exchange.shape === "binary-resultset"
        ) {
          // A cursor was opened: rows come later, through COM_STMT_FETCH.
          this.#finish(exchange, message);
          return this.#at(packet, exchange, message, "response");
        }
        return this.#at(packet, exchange, message);
      }
      case "rows": {
        if (this.#isEnd(packet)) {
          const message = this.#terminal(payload);
          return this.#at(
            packet,
            exchange,
            this.#endOfResult(exchange, message),
            this.#endKind(exchange),
          );
        }
        exchange.rows++;
        if (!this.#full) return this.#at(packet, exchange, LITE_ROW);
        const binary = exchange.shape !== "text-resultset";
        const message = binary
          ? guard(payload, parseBinaryRow, exchange.columns)
          : guard(payload, parseTextRow, exchange.columnCount);
        return this.#at(packet, exchange, message);
      }
      default:
        return this.#at(
          packet,
          exchange,
          unknownPacket(payload, `server packet while the client sends a file`),
        );
    }
  }

  /** Handles the OK/EOF that ends a result (or an OK answering the command). */
  #endOfResult(exchange: Exchange, message: ServerMessage): ServerMessage {
    exchange.results++;
    const status = statusOf(message);
    if (
      status !== undefined && (status & ServerStatus.SERVER_MORE_RESULTS_EXISTS) !== 0 &&
      exchange.shape !== "binary-rows"
    ) {
      exchange.stage = "first";
      return message;
    }
    this.#finish(exchange, message);
    return message;
  }

  #endKind(exchange: Exchange): DecodedPacket["ends"] {
    return exchange.done ? "response" : "result-set";
  }

  #prepareResponse(packet: Packet, exchange: Exchange): DecodedPacket {
    const { payload } = packet;
    const context = this.#context;
    const statement = exchange.statement;
    switch (exchange.stage) {
      case "first": {
        const message = guard(payload, parseStmtPrepareOk, context);
        if (message.kind !== "stmt-prepare-ok") {
          this.#finish(exchange, message);
          return this.#at(packet, exchange, message, "response");
        }
        const sql = exchange.command.kind === "COM_STMT_PREPARE" ? exchange.command.sql : "";
        const prepared: PreparedStatement = {
          id: message.statementId,
          sql,
          parameterCount: message.numParams,
          columnCount: message.numColumns,
          parameters: [],
          columns: [],
          longDataParameters: new Set(),
        };
        this.#statements.set(prepared.id, prepared);
        this.#lastPrepared = prepared.id;
        exchange.statement = prepared;
        const metadata = message.metadataFollows !== 0;
        if (metadata && prepared.parameterCount > 0) exchange.stage = "prepare-parameters";
        else if (metadata && prepared.columnCount > 0) exchange.stage = "prepare-columns";
        else {
          this.#finish(exchange, message);
          return this.#at(packet, exchange, message, "response");
        }
        return this.#at(packet, exchange, message);
      }
      case "prepare-parameters":
      case "prepare-columns": {
        const message = this.#columnDefinition(payload);
        const column = message.kind === "unknown" ? placeholderColumn() : message;
        const list = exchange.stage === "prepare-parameters"
          ? statement!.parameters
          : statement!.columns;
        const expected = exchange.stage === "prepare-parameters"
          ? statement!.parameterCount
          : statement!.columnCount;
        list.push(column);
        if (list.length >= expected) {
          if (!this.#deprecateEof()) {
            exchange.stage = exchange.stage === "prepare-parameters"
              ? "prepare-parameters-eof"
              : "prepare-columns-eof";
          } else if (exchange.stage === "prepare-parameters" && statement!.columnCount > 0) {
            exchange.stage = "prepare-columns";
          } else {
            this.#finish(exchange, message);
            return this.#at(packet, exchange, message, "response");
          }
        }
        return this.#at(packet, exchange, message);
      }
      default: {
        // prepare-parameters-eof / prepare-columns-eof
        const message = this.#terminal(payload);
        if (exchange.stage === "prepare-parameters-eof" && statement!.columnCount > 0) {
          exchange.stage = "prepare-columns";
          return this.#at(packet, exchange, message);
        }
        this.#finish(exchange, message);
        return this.#at(packet, exchange, message, "response");
      }
    }
  }

  /**
   * A column count of one byte (1-250 columns) read without a reader, as {@link parseColumnCount}
   * reads it; undefined for anything else (the parser decides). One shared object: track only.
   */
  #liteColumnCount(payload: Uint8Array): ColumnCount | undefined {
    const count = payload[0];
    if (payload.length === 0 || count === 0 || count >= 0xfb) return undefined;
    const flag = hasMetadataFlag(this.#context);
    if (flag && payload.length < 2) return undefined;
    LITE_COLUMN_COUNT.count = count;
    LITE_COLUMN_COUNT.metadataFollows = flag ? payload[1] : undefined;
    return LITE_COLUMN_COUNT;
  }

  #columnDefinition(payload: Uint8Array): ColumnDefinition | ReturnType<typeof unknownPacket> {
    const context = this.#context;
    if (!this.#full) return LITE_COLUMN;
    return (context.capabilities & Capability.CLIENT_PROTOCOL_41) !== 0
      ? guard(payload, parseColumnDefinition41, context)
      : guard(payload, parseColumnDefinition320);
  }

  /** Whether a packet in a row or column-definition stream is the terminating EOF/OK. */
  #isEnd({ payload, length }: Packet): boolean {
    if (payload[0] !== 0xfe) return false;
    // A row may start with 0xFE only as an 8-byte length prefix, so it is at least 9 bytes; with
    // CLIENT_DEPRECATE_EOF the terminating OK can be longer (info, session state) but never 16 MiB.
    return this.#deprecateEof() ? length < 0xffffff : length < 9;
  }

  #deprecateEof(): boolean {
    return (this.#context.capabilities & Capability.CLIENT_DEPRECATE_EOF) !== 0;
  }

  /** An OK, EOF or ERR where a response may end. */
  #terminal(payload: Uint8Array): ServerMessage {
    const context = this.#context;
    if (!this.#full) return liteTerminal(payload, this.#deprecateEof());
    switch (payload[0]) {
      case 0x00:
        return guard(payload, parseOk, context);
      case 0xff:
        return guard(payload, parseErr, context);
      case 0xfe:
        return payload.length < 9 && !this.#deprecateEof()
          ? guard(payload, parseEof, context)
          : guard(payload, parseOk, context);
      default:
        return unknownPacket(
          payload,
          `${hex(payload[0])} where OK, EOF or ERR was expected`,
        );
    }
  }

  #finish(exchange: Exchange, message: ServerMessage): void {
    exchange.done = true;
    // Usually the oldest: shift() makes no array, as splice() would.
    if (this.#pending[0] === exchange) this.#pending.shift();
    else {
      const index = this.#pending.indexOf(exchange);
      if (index >= 0) this.#pending.splice(index, 1);
    }
    const succeeded = message.kind === "ok" || message.kind === "eof";
    if (exchange.command.kind === "COM_RESET_CONNECTION" && succeeded) {
      this.#statements.clear();
      this.#lastPrepared = undefined;
    }
  }
}

/**
 * Runs a parser on `payload` (with up to two more arguments); a packet that does not decode
 * becomes `unknown` with the parser's reason. Arguments, not a closure: a closure over a hot
 * method's locals makes V8 allocate their context at every call of that method.
 */
function guard<T, A = undefined, B = undefined>(
  payload: Uint8Array,
  parse: (payload: Uint8Array, a: A, b: B) => T,
  a?: A,
  b?: B,
): T | ReturnType<typeof unknownPacket> {
  try {
    return parse(payload, a as A, b as B);
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof RangeError) {
      return unknownPacket(payload, error.message);
    }
    throw error;
  }
}

function statusOf(message: ServerMessage): number | undefined {
  return message.kind === "ok" || message.kind === "eof" ? message.statusFlags : undefined;
}

/** What {@link SessionDecoder.track} hands on instead of parsed rows and definitions. */
const LITE_ROW: TextRow = Object.freeze({ kind: "text-row", values: [] }) as unknown as TextRow;
const LITE_COLUMN: ColumnDefinition = Object.freeze(placeholderColumn());

/**
 * The one object {@link SessionDecoder.track} returns from every step, nobody reading it: the
 * hot path allocates no result per packet.
 */
const TRACKED: DecodedPacket = { direction: "server", sequenceId: 0, length: 0, message: LITE_ROW };

// Reused by track() for the messages it reads facts from and drops right after (one at a time).
const LITE_COLUMN_COUNT: ColumnCount = { kind: "column-count", count: 0 };
const LITE_OK: Extract<ServerMessage, { kind: "ok" }> = {
  kind: "ok",
  header: 0x00,
  affectedRows: 0,
  lastInsertId: 0,
  statusFlags: 0,
};
const LITE_EOF: Extract<ServerMessage, { kind: "eof" }> = { kind: "eof", statusFlags: 0 };
const LITE_ERR: Extract<ServerMessage, { kind: "err" }> = { kind: "err", code: 0, message: "" };
/** Commands whose body track() does not read; an exchange keeps them, nobody changes them. */
const LITE_QUERY: ClientMessage = Object.freeze({ kind: "COM_QUERY", sql: "" });
const LITE_PREPARE: ClientMessage = Object.freeze({ kind: "COM_STMT_PREPARE", sql: "" });

/**
 * The facts the state machine needs from the commands a busy connection sends most, read
 * without parsing their bodies; other commands are parsed as usual (undefined here).
 */
function liteCommand(payload: Uint8Array): ClientMessage | undefined {
  switch (payload[0]) {
    case Command.COM_QUERY:
      return LITE_QUERY;
    case Command.COM_STMT_PREPARE:
      return LITE_PREPARE;
    case Command.COM_STMT_EXECUTE:
      if (payload.length < 10) return undefined;
      return {
        kind: "COM_STMT_EXECUTE",
        statementId: u32(payload, 1),
        flags: payload[5],
        iterationCount: u32(payload, 6),
        params: [],
      };
    default:
      return undefined;
  }
}

/** An OK, EOF or ERR reduced to what ends a result or a response: the header and status flags. */
function liteTerminal(payload: Uint8Array, deprecateEof: boolean): ServerMessage {
  if (payload[0] === 0xff) {
    LITE_ERR.code = payload[1] | (payload[2] << 8);
    return LITE_ERR;
  }
  if (payload[0] === 0xfe && payload.length < 9 && !deprecateEof) {
    LITE_EOF.statusFlags = payload.length >= 5 ? payload[3] | (payload[4] << 8) : 0;
    return LITE_EOF;
  }
  // OK: header, affected rows and insert id (length-encoded), then the status flags.
  let at = 1;
  for (let i = 0; i < 2 && at < payload.length; i++) at += lenencSize(payload[at]);
  LITE_OK.statusFlags = at + 2 <= payload.length ? payload[at] | (payload[at + 1] << 8) : 0;
  LITE_OK.header = payload[0] === 0xfe ? 0xfe : 0x00;
  return LITE_OK;
}

function lenencSize(first: number): number {
  return first < 0xfb ? 1 : first === 0xfc ? 3 : first === 0xfd ? 4 : first === 0xfe ? 9 : 1;
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** Stands in for a column definition that did not decode, so row decoding can go on. */
function placeholderColumn(): ColumnDefinition {
  return {
    kind: "column-definition",
    catalog: "def",
    schema: "",
    table: "",
    orgTable: "",
    name: "?",
    orgName: "",
    characterSet: 63,
    columnLength: 0,
    type: 0xfd,
    flags: 0,
    decimals: 0,
  };
}

/** `header 0x1f`, or for an empty packet (found by tests/fuzz) `no header`. */
function hex(byte: number | undefined): string {
  return byte === undefined ? "no header" : `header 0x${byte.toString(16).padStart(2, "0")}`;
}
