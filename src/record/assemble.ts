/**
 * Turns one connection's decoded packets into recording events (docs/recording-format.md):
 * the handshake as `greeting`/`auth` events, each command with its response as a `command` line,
 * large responses streamed as `rows`/`results`/`end` continuation lines.
 *
 * Exactness: every packet is stored in a compact form only when that form re-encodes to the same
 * bytes (the checks below list what each compact form can hold); anything else keeps the codec's
 * whole packet in a `{"packet"}` slot.
 *
 * @module
 */

import type { DecodedPacket } from "../session/decoder.ts";
import type { Exchange } from "../session/exchange.ts";
import type { ClientMessage, ServerMessage } from "../session/messages.ts";
import type { CodecContext } from "../protocol/context.ts";
import { Capability, ServerStatus } from "../protocol/constants.ts";
import type { ColumnDefinition41 } from "../protocol/resultset.ts";
import type { EofPacket, ErrPacket, OkPacket } from "../protocol/generic.ts";
import type { BinaryParameter } from "../protocol/statement.ts";
import { redactSqlSecrets } from "../protocol/sql_secrets.ts";
import type { ColumnRegistry } from "./columns.ts";
import type {
  AuthEvent,
  CommandEvent,
  EndJson,
  ErrorJson,
  FieldListJson,
  PreparedJson,
  RecordingEvent,
  ResponseElement,
  ResultSetJson,
} from "./events.ts";
import {
  binaryValueToJson,
  bytesToJson,
  type JsonBytes,
  type JsonValue,
  messageToJson,
  textValueToJson,
  typeName,
} from "./values.ts";

/** What is redacted before writing. */
export interface Redactor {
  /** SQL text as it will be written (default: passwords masked). */
  sql(text: string): string;
  /**
   * Other text that may carry the values SQL rules hide: LOCAL INFILE data, error messages.
   * Absent: written as they are.
   */
  text?(text: string): string;
  /** A string parameter of an execute (or its long data). Absent: written as it is. */
  parameter?(value: string): string;
  /**
   * The replacement of the values of one result column (`binary`: the binary protocol's typed
   * values), or undefined when the column is written as it is. Asked once per column per result
   * set; the function it returns gets each non-NULL value in its recording form.
   */
  column?(
    column: ColumnDefinition41,
    binary: boolean,
  ): ((value: JsonValue) => JsonValue) | undefined;
}

/** The default redactor: passwords in SQL are masked. */
export const DEFAULT_REDACTOR: Redactor = { sql: redactSqlSecrets };

/** Options of {@link ConnectionRecorder}. */
export interface ConnectionRecorderOptions {
  conn: number;
  /** Microseconds since the recording started. */
  now: () => number;
  /** The capabilities the connection negotiated (the decoder's). */
  context: () => Readonly<CodecContext>;
  columns: ColumnRegistry;
  emit: (event: RecordingEvent) => void;
  redactor?: Redactor;
  /** Approximate JSON bytes of rows after which a response is written in pieces. */
  chunkBytes?: number;
}

const DEFAULT_CHUNK_BYTES = 256 * 1024;
const LAST_PREPARED = 0xffffffff;
const REDACTED = Object.freeze({ redacted: true });
const SECRET_FIELDS: Record<string, string[]> = {
  "handshake-response-41": ["authResponse"],
  "handshake-response-320": ["authResponse"],
  "auth-switch-response": ["data"],
  "COM_CHANGE_USER": ["authResponse"],
};

/** A connection-phase packet as JSON, its secrets replaced by `{"redacted": true}`. */
export function redactedPacket(message: ClientMessage | ServerMessage): Record<string, unknown> {
  const json = messageToJson(message) as Record<string, unknown>;
  for (const field of SECRET_FIELDS[message.kind] ?? []) {
    if (field in json) json[field] = REDACTED;
  }
  // A length prefix or attribute block would reveal nothing secret, but a raw length prefix of
  // the auth response tells the password's length under clear-text plugins: drop it too.
  delete json.authResponseLengthPrefix;
  return json;
}

const commandNames = new Map<string, string>();

/** `COM_STMT_EXECUTE` -> `stmt-execute`. */
export function commandName(kind: string): string {
  let name = commandNames.get(kind);
  if (name === undefined) {
    name = kind === "unknown"
      ? "unknown"
      : kind.replace(/^COM_/, "").toLowerCase().replaceAll("_", "-");
    commandNames.set(kind, name);
  }
  return name;
}

interface OpenResultSet {
  element: ResultSetJson;
  /** Per column, the replacement of its values (see {@link Redactor.column}); null: none. */
  redact?: (((value: JsonValue) => JsonValue) | undefined)[] | null;
  expected: number;
  definitions: ColumnDefinition41[];
  phase: "definitions" | "rows";
  binary: boolean;
  /** The element's place in the response. */
  index: number;
}

interface Building {
  exchange: Exchange;
  event: CommandEvent;
  elements: ResponseElement[];
  open?: OpenResultSet;
  prepared?: {
    params: ColumnDefinition41[];
    columns: ColumnDefinition41[];
    element: { prepared: PreparedJson };
  };
  fieldList?: { definitions: ColumnDefinition41[]; element: FieldListJson };
  infile?: {
    chunks: Uint8Array[];
    length: number;
    element: { infile: { filename: JsonBytes; data: JsonBytes | null } };
  };
  firstByte?: number;
  size: number;
  /** The `n` of a command written in pieces; 0 while it is in one piece. */
  streamed: number;
  /** Elements already written (the last of them may still be open). */
  written: number;
  /** Whether the last written element is a result set still receiving rows. */
  tailOpen: boolean;
}

/**
 * Records one connection. Feed it every decoded packet in wire order, then {@link close}.
 *
 * @example
 * ```ts ignore
 * const recorder = new ConnectionRecorder({ conn: 1, now, context: () => tap.decoder.context, columns, emit });
 * const tap = createSessionTap({ onPacket: (p) => recorder.packet(p) });
 * ```
 */
export class ConnectionRecorder {
  #options: ConnectionRecorderOptions;
  #redactor: Redactor;
  #chunk: number;
  #building = new Map<Exchange, Building>();
  #statementSql = new Map<number, string>();
  #lastPrepareSql: string | undefined;
  #commands = 0;

  constructor(options: ConnectionRecorderOptions) {
    this.#options = options;
    this.#redactor = options.redactor ?? DEFAULT_REDACTOR;
    this.#chunk = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  /** Commands recorded so far. */
  get commands(): number {
    return this.#commands;
  }

  /** The client connected. */
  open(client: string): void {
    this.#emit({ type: "open", conn: this.#options.conn, t: this.#options.now(), client });
  }

  /** Decoding stopped (TLS, compression). */
  opaque(reason: string): void {
    this.#emit({ type: "opaque", conn: this.#options.conn, t: this.#options.now(), reason });
  }

  /** The connection ended; commands whose response never finished are written as they are. */
  close(reason: string, bytes: { client: number; server: number }): void {
    for (const building of this.#building.values()) this.#finish(building, true);
    this.#building.clear();
    this.#emit({ type: "close", conn: this.#options.conn, t: this.#options.now(), reason, bytes });
  }

  /** One decoded packet. */
  packet(packet: DecodedPacket): void {
    const { message, exchange } = packet;
    const conn = this.#options.conn;
    if (!exchange) {
      if (message.kind === "handshake-v10") {
        this.#emit({
          type: "greeting",
          conn,
          t: this.#options.now(),
          packet: redactedPacket(message),
        });
      } else if (packet.authPlugin !== undefined || isLoginPacket(message)) {
        const event: AuthEvent = {
          type: "auth",
          conn,
          t: this.#options.now(),
          from: packet.direction,
          packet: redactedPacket(message),
        };
        // The OK ending a login that negotiated compression: every byte after it was compressed.
        if (
          message.kind === "ok" && packet.direction === "server" &&
          (this.#options.context().capabilities & Capability.CLIENT_COMPRESS) !== 0
        ) {
          event.compression = "zlib";
        }
        this.#emit(event);
      } else if (packet.direction === "client" && message.kind !== "unknown") {
        this.#noResponseCommand(message as ClientMessage);
      } else if (packet.direction === "server") {
        // An unprompted server packet (an ERR before closing): keep it as an auth-less event.
        this.#emit({
          type: "auth",
          conn,
          t: this.#options.now(),
          from: "server",
          packet: redactedPacket(message),
        });
      }
      return;
    }
    let building = this.#building.get(exchange);
    if (!building) {
      if (packet.direction !== "client") return;
      building = this.#start(exchange, message as ClientMessage);
      this.#building.set(exchange, building);
      return;
    }
    if (packet.direction === "client") this.#clientInResponse(building, packet);
    else this.#server(building, packet);
    if (packet.ends === "response") {
      this.#finish(building, false);
      this.#building.delete(exchange);
    }
  }

  /** A value a query rule may hide in (text only: bytes that are not UTF-8 are left alone). */
  #redactText<T extends JsonValue>(value: T): T {
    const text = this.#redactor.text;
    return text && typeof value === "string" ? text(value) as T : value;
  }

  #redactParameter<T extends JsonValue>(value: T): T {
    const parameter = this.#redactor.parameter;
    return parameter && typeof value === "string" ? parameter(value) as T : value;
  }

  #emit(event: RecordingEvent): void {
    this.#options.emit(event);
  }

  #noResponseCommand(message: ClientMessage): void {
    this.#commands++;
    const event: CommandEvent = {
      type: "command",
      conn: this.#options.conn,
      t: this.#options.now(),
      cmd: commandName(message.kind),
    };
    Object.assign(event, this.#commandFields(message));
    if (message.kind === "COM_STMT_CLOSE") this.#statementSql.delete(message.statementId);
    this.#emit(event);
  }

  #start(exchange: Exchange, message: ClientMessage): Building {
    this.#commands++;
    const event: CommandEvent = {
      type: "command",
      conn: this.#options.conn,
      t: this.#options.now(),
      us: undefined, // filled in when the response ends; keeps its place in the line
      cmd: commandName(message.kind),
    };
    Object.assign(event, this.#commandFields(message, exchange));
    const building: Building = {
      exchange,
      event,
      elements: [],
      size: 0,
      streamed: 0,
      written: 0,
      tailOpen: false,
    };
    if (exchange.shape === "binary-rows") {
      // COM_STMT_FETCH: rows of the open cursor, with no column count or definitions.
      const element: ResultSetJson = {
        columns: this.#options.columns.idOf(definitionsOf(exchange)),
        rows: [],
      };
      building.open = {
        element,
        expected: 0,
        definitions: [],
        phase: "rows",
        binary: true,
        index: 0,
      };
      building.elements.push(element);
    }
    return building;
  }

  #statementText(id: number, exchange?: Exchange): string | undefined {
    const known = this.#statementSql.get(id) ?? exchange?.statement?.sql;
    // MariaDB's execute-direct names "the statement prepared last", often before its PREPARE_OK
    // came back: the SQL is that of the last stmt-prepare sent.
    if (known === undefined && id === LAST_PREPARED) return this.#lastPrepareSql;
    return known;
  }

  /**
   * SQL as written to the file, redacted. SQL that is not valid UTF-8 (a latin1 client) keeps
   * its bytes, unless redaction found something in its lossy text: then the masked text is
   * written, since the raw bytes would carry the secret.
   */
  #sqlField(text: string, bytes: Uint8Array | undefined): JsonBytes {
    const redacted = this.#redactor.sql(text);
    if (bytes === undefined) return redacted;
    return redacted === text ? bytesToJson(bytes) : redacted;
  }

  /** The fields of a command line for a client command. */
  #commandFields(message: ClientMessage, exchange?: Exchange): Record<string, unknown> {
    const sql = (text: string, bytes?: Uint8Array) => this.#sqlField(text, bytes);
    switch (message.kind) {
      case "COM_QUERY": {
        const fields: Record<string, unknown> = { sql: sql(message.sql, message.sqlBytes) };
        if (message.attributes) fields.attributes = messageToJson(message.attributes);
        return fields;
      }
      case "COM_STMT_PREPARE":
        this.#lastPrepareSql = message.sql;
        return { sql: sql(message.sql, message.sqlBytes) };
      case "COM_INIT_DB":
      case "COM_CREATE_DB":
      case "COM_DROP_DB":
        return { schema: message.schemaBytes ? bytesToJson(message.schemaBytes) : message.schema };
      case "COM_FIELD_LIST": {
        const fields: Record<string, unknown> = {
          table: message.tableBytes ? bytesToJson(message.tableBytes) : message.table,
        };
        if (message.wildcard !== "" || message.wildcardBytes) {
          fields.wildcard = message.wildcardBytes
            ? bytesToJson(message.wildcardBytes)
            : message.wildcard;
        }
        return fields;
      }
      case "COM_PROCESS_KILL":
        return withTrailing({ id: message.connectionId }, message);
      case "COM_SET_OPTION":
        return withTrailing({ option: message.option }, message);
      case "COM_REFRESH":
        return withTrailing({ flags: message.flags }, message);
      case "COM_SHUTDOWN":
        return withTrailing(message.level === undefined ? {} : { level: message.level }, message);
      case "COM_STMT_EXECUTE":
        return this.#executeFields(message, exchange);
      case "COM_STMT_FETCH":
        return withTrailing(
          { ...this.#statementRef(message.statementId, exchange), count: message.rowCount },
          message,
        );
      case "COM_STMT_CLOSE":
      case "COM_STMT_RESET":
        return withTrailing(this.#statementRef(message.statementId, exchange), message);
      case "COM_STMT_SEND_LONG_DATA":
        return {
          ...this.#statementRef(message.statementId, exchange),
          param: message.parameterId,
          data: this.#redactParameter(bytesToJson(message.data)),
        };
      case "COM_CHANGE_USER": {
        const fields: Record<string, unknown> = { user: message.username };
        if (message.schema !== undefined) fields.schema = message.schema;
        if (message.authPluginName !== undefined) fields.plugin = message.authPluginName;
        if (message.characterSet !== undefined) fields.characterSet = message.characterSet;
        if (message.connectAttributes) fields.connectAttributes = message.connectAttributes;
        fields.auth = [];
        return fields;
      }
      case "unknown":
        return { bytes: bytesToJson(message.bytes) };
      default:
        if ("body" in message) return { body: bytesToJson(message.body) };
        return withTrailing({}, message as { trailing?: Uint8Array });
    }
  }

  #statementRef(id: number, exchange?: Exchange): Record<string, unknown> {
    const text = this.#statementText(id, exchange);
    return text === undefined ? { statement: id } : { sql: this.#redactor.sql(text) };
  }

  #executeFields(
    message: Extract<ClientMessage, { kind: "COM_STMT_EXECUTE" }>,
    exchange?: Exchange,
  ): Record<string, unknown> {
    const fields = this.#statementRef(message.statementId, exchange);
    if (message.undecoded !== undefined) {
      // The statement's parameter types were unknown (a pipelined execute-direct): keep the bytes.
      fields.packet = messageToJson(message);
      return fields;
    }
    fields.params = message.params.map((p) => this.#redactParameter(parameterValue(p)));
    if (message.newParamsBound) fields.types = message.params.map(parameterType);
    const longData = message.params.flatMap((p, i) => "longData" in p ? [i] : []);
    if (longData.length > 0) fields.longData = longData;
    if (message.flags !== 0) fields.flags = message.flags;
    const extra: Record<string, unknown> = {};
    if (message.iterationCount !== 1) extra.iterationCount = message.iterationCount;
    if (message.parameterCount !== undefined) extra.parameterCount = message.parameterCount;
    if (message.newParamsBound === undefined && message.params.length === 0) {
      extra.noParameterBlock = true;
    }
    if (message.nullBitmap) extra.nullBitmap = messageToJson(message.nullBitmap);
    if (message.trailing) extra.trailing = messageToJson(message.trailing);
    if (message.params.some((p) => p.name !== undefined)) {
      extra.names = message.params.map((p) => p.name ?? "");
    }
    if (Object.keys(extra).length > 0) fields.exact = extra;
    return fields;
  }

  #clientInResponse(building: Building, packet: DecodedPacket): void {
    const message = packet.message;
    if (message.kind === "local-infile-data" && building.infile) {
      if (message.data.length > 0) {
        building.infile.chunks.push(message.data.slice());
        building.infile.length += message.data.length;
      }
      return;
    }
    const auth = building.event.auth as unknown[] | undefined;
    if (auth) auth.push({ from: "client", packet: redactedPacket(message) });
  }

  #server(building: Building, packet: DecodedPacket): void {
    const message = packet.message as ServerMessage;
    building.firstByte ??= this.#options.now();
    const context = this.#options.context();
    if ((context.capabilities & Capability.CLIENT_PROTOCOL_41) === 0) {
      // Pre-4.1 result sets (ColumnDefinition320, 1-byte EOFs) have no compact form: keep them whole.
      return this.#other(building, message);
    }
    const open = building.open;
    switch (message.kind) {
      case "column-count": {
        this.#closeInfile(building);
        const compact = onlyKeys(message, ["kind", "count", "metadataFollows"]) &&
          typeof message.count === "number" &&
          (message.metadataFollows === undefined) === !hasMetadataByte(context) &&
          (message.metadataFollows === undefined || message.metadataFollows <= 1);
        // Keys filled in later keep this place, so every line lists them in the same order.
        const element: ResultSetJson = {
          columns: undefined,
          countPacket: undefined,
          rows: [],
          columnsEnd: undefined,
          end: undefined,
        };
        if (!compact) {
          element.countPacket = { packet: packetJson(message) };
        }
        // Skipped definitions (MariaDB's metadata cache) show as a result set without `columns`.
        const skipped = message.metadataFollows === 0;
        const binary = building.exchange.shape !== "text-resultset";
        building.open = {
          element,
          expected: Number(message.count),
          definitions: [],
          phase: skipped ? "rows" : "definitions",
          binary,
          index: building.elements.length,
        };
        building.elements.push(element);
        return;
      }
      case "column-definition":
        if (building.prepared) {
          const parameters = building.exchange.statement?.parameterCount ?? 0;
          const list = building.prepared.params.length < parameters
            ? building.prepared.params
            : building.prepared.columns;
          list.push(message);
        } else if (building.exchange.shape === "field-list") {
          building.fieldList ??= { definitions: [], element: { fields: 0 } };
          building.fieldList.definitions.push(message);
        } else if (open && open.phase === "definitions") {
          open.definitions.push(message);
          if (open.definitions.length >= open.expected) {
            open.element.columns = this.#options.columns.idOf(open.definitions);
            open.phase = "rows";
          }
        } else this.#other(building, message);
        return;
      case "text-row":
      case "binary-row":
        if (!open || open.phase !== "rows") return this.#other(building, message);
        this.#row(building, open, message);
        return;
      case "eof":
      case "ok": {
        if (building.prepared) return this.#preparedEnd(building, message);
        if (building.fieldList) {
          building.fieldList.element.fields = this.#options.columns.idOf(
            building.fieldList.definitions,
          );
          setEnd(building.fieldList.element, "end", message, context, 0xfe);
          building.elements.push(building.fieldList.element);
          building.fieldList = undefined;
          return;
        }
        if (open) {
          const deprecate = (context.capabilities & Capability.CLIENT_DEPRECATE_EOF) !== 0;
          const columnsEof = message.kind === "eof" && !deprecate &&
            open.element.rows.length === 0 &&
            (packet.stage ?? packet.exchange?.stage) === "rows" &&
            (packet.ends === undefined || opensCursor(message, building.exchange));
          if (columnsEof) {
            if (packet.ends !== undefined) {
              // A cursor was opened: the rows come later, through stmt-fetch.
              open.element.end = null;
              building.open = undefined;
            }
            // Kept even when all defaults; dropped at the end if it says what `end` says.
            open.element.columnsEnd = eofCompact(message)
              ? endJson(message)
              : { packet: packetJson(message) };
            if (!building.open) dropRedundantColumnsEnd(open.element);
            return;
          }
          setEnd(open.element, "end", message, context, 0xfe);
          dropRedundantColumnsEnd(open.element);
          building.open = undefined;
          this.#afterResultSet(building);
          return;
        }
        this.#closeInfile(building);
        if (message.kind === "ok" && okCompact(message, 0x00)) {
          building.elements.push({ ok: endJson(message) });
        } else if (message.kind === "eof" && eofCompact(message)) {
          building.elements.push({ eof: endJson(message) } as unknown as ResponseElement);
        } else {building.elements.push({
            packets: [messageToJson(message) as Record<string, unknown>],
          });}
        return;
      }
      case "err": {
        if (open) {
          open.element.end = null;
          dropRedundantColumnsEnd(open.element);
          building.open = undefined;
        }
        this.#closeInfile(building);
        building.elements.push(
          onlyKeys(message, ["kind", "code", "sqlState", "message", "messageBytes"])
            ? { error: errorJson(message, (text) => this.#redactText(text)) }
            : { packets: [packetJson(message)] },
        );
        return;
      }
      case "stmt-prepare-ok": {
        const compact =
          onlyKeys(message, ["kind", "statementId", "numColumns", "numParams", "warnings"]) &&
          message.warnings !== undefined;
        const prepared: PreparedJson = { id: message.statementId };
        if (message.warnings) prepared.warnings = message.warnings;
        if (!compact) prepared.packet = packetJson(message);
        const element = { prepared };
        building.prepared = { params: [], columns: [], element };
        building.elements.push(element);
        const sql = building.exchange.command.kind === "COM_STMT_PREPARE"
          ? building.exchange.command.sql
          : undefined;
        if (sql !== undefined) this.#statementSql.set(message.statementId, sql);
        if (packet.ends === "response") this.#closePrepared(building);
        return;
      }
      case "local-infile-request": {
        const filename = message.filenameBytes
          ? bytesToJson(message.filenameBytes)
          : message.filename;
        const element = { infile: { filename, data: null as JsonBytes | null } };
        building.infile = { chunks: [], length: 0, element };
        building.elements.push(element);
        return;
      }
      case "statistics":
        building.elements.push({
          statistics: message.textBytes ? bytesToJson(message.textBytes) : message.text,
        });
        return;
      case "progress": {
        const json = messageToJson(message) as Record<string, unknown>;
        delete json.kind;
        building.elements.push({ progress: json });
        return;
      }
      case "auth-switch-request":
      case "old-auth-switch-request":
      case "auth-more-data":
      case "auth-next-factor": {
        const auth = building.event.auth as unknown[] | undefined;
        if (auth) auth.push({ from: "server", packet: redactedPacket(message) });
        else this.#other(building, message);
        return;
      }
      default:
        this.#other(building, message);
    }
  }

  /** A packet the compact forms have no place for: kept whole, in wire order. */
  #other(building: Building, message: ServerMessage): void {
    if (building.exchange.shape === "auth" && building.event.auth) {
      (building.event.auth as unknown[]).push({ from: "server", packet: redactedPacket(message) });
      return;
    }
    const last = building.elements.at(-1) as { packets?: unknown[] } | undefined;
    const json = packetJson(message);
    if (last?.packets && building.elements.length > building.written) last.packets.push(json);
    else building.elements.push({ packets: [json] });
  }

  #row(
    building: Building,
    open: OpenResultSet,
    message: Extract<ServerMessage, { kind: "text-row" | "binary-row" }>,
  ): void {
    let row: JsonValue[] | { packet: Record<string, unknown> };
    if (message.kind === "text-row") {
      row = message.values.map(textValueToJson);
    } else if (onlyKeys(message, ["kind", "values"])) {
      const columns = columnsOf(building, open);
      row = message.values.map((value, i) => binaryValueToJson(value, columns[i]?.type ?? 0xfd));
    } else {
      row = { packet: packetJson(message) };
    }
    if (open.redact === undefined) {
      const columns = columnsOf(building, open);
      const redact = this.#redactor.column
        ? columns.map((column) => this.#redactor.column!(column, open.binary))
        : [];
      open.redact = redact.some((f) => f !== undefined) ? redact : null;
    }
    if (open.redact && Array.isArray(row)) {
      for (const [i, replace] of open.redact.entries()) {
        if (replace && row[i] !== null && row[i] !== undefined) row[i] = replace(row[i]);
      }
    }
    open.element.rows.push(row);
    building.size += approximateSize(row);
    if (building.size >= this.#chunk) this.#flushPiece(building);
  }

  #preparedEnd(building: Building, message: OkPacket | EofPacket): void {
    const prepared = building.prepared!;
    // With both parameters and columns the first EOF ends the parameters, the second the columns.
    const slot = prepared.params.length > 0 && prepared.columns.length === 0
      ? "paramsEnd"
      : "columnsEnd";
    setEnd(prepared.element.prepared, slot, message, this.#options.context(), 0x00);
  }

  #closePrepared(building: Building): void {
    const prepared = building.prepared;
    if (!prepared) return;
    if (prepared.params.length > 0) {
      prepared.element.prepared.params = this.#options.columns.idOf(prepared.params);
    }
    if (prepared.columns.length > 0) {
      prepared.element.prepared.columns = this.#options.columns.idOf(prepared.columns);
    }
    building.prepared = undefined;
  }

  #closeInfile(building: Building): void {
    const infile = building.infile;
    if (!infile) return;
    infile.element.infile.data = infile.length === 0
      ? null
      : this.#redactText(bytesToJson(concat(infile.chunks, infile.length)));
    building.infile = undefined;
  }

  #afterResultSet(building: Building): void {
    if (building.streamed) this.#continue(building, undefined);
  }

  /** Writes what the response has so far; the rest follows in continuation lines. */
  #flushPiece(building: Building): void {
    if (building.streamed) {
      this.#continue(building, undefined);
      return;
    }
    building.streamed = ++this.#streamCount;
    const event = {
      type: "command",
      conn: this.#options.conn,
      n: building.streamed,
    } as CommandEvent;
    Object.assign(event, building.event);
    event.n = building.streamed;
    if (event.auth === undefined) delete event.auth;
    Object.assign(event, flatten(building.elements));
    event.more = true;
    // emit() serializes at once, so the rows written can be dropped right after.
    this.#emit(event);
    this.#markWritten(building);
  }

  /**
   * A continuation of a command written in pieces: rows for the open result set, then (when the
   * response moved on) the end of that result set and the elements that followed it. With `us`,
   * it is the final `end` line.
   */
  #continue(building: Building, us: [number, number] | undefined, incomplete = false): void {
    const { conn } = this.#options;
    const n = building.streamed;
    const tail = building.tailOpen
      ? building.elements[building.written - 1] as ResultSetJson
      : undefined;
    if (tail && tail.rows.length > 0) {
      this.#emit({ type: "rows", conn, n, rows: tail.rows });
      tail.rows = [];
    }
    const fresh = building.elements.slice(building.written);
    const tailEnded = tail !== undefined && building.open?.element !== tail;
    const line: Record<string, unknown> = { type: us ? "end" : "results", conn, n };
    if (us) line.us = us;
    if (tailEnded && tail.end !== undefined) line.end = tail.end;
    if (fresh.length > 0) line.results = fresh;
    if (incomplete) line.incomplete = true;
    if (us || tailEnded || fresh.length > 0) this.#emit(line as unknown as RecordingEvent);
    this.#markWritten(building);
  }

  /** Everything so far is written; an open result set goes on with an empty row list. */
  #markWritten(building: Building): void {
    building.written = building.elements.length;
    const last = building.elements.at(-1);
    building.tailOpen = last !== undefined && building.open?.element === last;
    if (building.tailOpen) (last as ResultSetJson).rows = [];
    building.size = 0;
  }

  #finish(building: Building, cut: boolean): void {
    this.#closeInfile(building);
    this.#closePrepared(building);
    const now = this.#options.now();
    const start = building.event.t;
    const us: [number, number] = [(building.firstByte ?? now) - start, now - start];
    const incomplete = cut || building.open !== undefined;
    if (building.streamed) {
      this.#continue(building, us, incomplete);
      return;
    }
    // The building is done with: its event becomes the line (no copies on the hot path).
    const event = building.event;
    event.us = us;
    const elements = building.elements;
    if (elements.length === 1) {
      const element = elements[0] as Record<string, unknown>;
      for (const key in element) event[key] = element[key];
    } else if (elements.length > 1) event.results = elements;
    if (incomplete) event.incomplete = true;
    this.#emit(event);
  }

  #streamCount = 0;
}

function opensCursor(eof: EofPacket, exchange: Exchange): boolean {
  return exchange.shape === "binary-resultset" &&
    ((eof.statusFlags ?? 0) & ServerStatus.SERVER_STATUS_CURSOR_EXISTS) !== 0;
}

function isLoginPacket(message: ClientMessage | ServerMessage): boolean {
  return message.kind === "handshake-response-41" || message.kind === "handshake-response-320" ||
    message.kind === "ssl-request";
}

function hasMetadataByte(context: Readonly<CodecContext>): boolean {
  return (context.mariadbCapabilities & 0x10) !== 0 ||
    (context.capabilities & Capability.CLIENT_OPTIONAL_RESULTSET_METADATA) !== 0;
}

/**
 * The columns of the result set being read: its own definitions, or (skipped by MariaDB's
 * metadata cache) the statement's. Not the exchange's current ones alone: a consumer that feeds
 * a whole response after decoding it would see the last result set's.
 */
function columnsOf(building: Building, open: OpenResultSet): ColumnDefinition41[] {
  return open.definitions.length > 0 ? open.definitions : definitionsOf(building.exchange);
}

function definitionsOf(exchange: Exchange): ColumnDefinition41[] {
  return exchange.columns.filter((c): c is ColumnDefinition41 => c.kind === "column-definition");
}

function onlyKeys(message: object, keys: string[]): boolean {
  // for-in, not Object.keys: this runs for every row and end packet, and allocates nothing.
  for (const key in message) {
    if ((message as Record<string, unknown>)[key] !== undefined && !keys.includes(key)) {
      return false;
    }
  }
  return true;
}

const OK_KEYS = [
  "kind",
  "header",
  "affectedRows",
  "lastInsertId",
  "statusFlags",
  "warnings",
  "info",
  "infoBytes",
  "sessionStateChanges",
];

function okCompact(ok: OkPacket, header: number): boolean {
  return ok.header === header && onlyKeys(ok, OK_KEYS);
}

function eofCompact(eof: EofPacket): boolean {
  return onlyKeys(eof, ["kind", "warnings", "statusFlags"]);
}

/** EOF or OK fields with defaults omitted (status 2, warnings 0, affected 0, insert id 0). */
export function endJson(message: OkPacket | EofPacket): EndJson {
  const json: EndJson = {};
  if (message.kind === "ok") {
    if (message.affectedRows !== 0) json.affected = numberJson(message.affectedRows);
    if (message.lastInsertId !== 0) json.insertId = numberJson(message.lastInsertId);
  }
  if (message.statusFlags !== undefined && message.statusFlags !== 2) {
    json.status = message.statusFlags;
  }
  if (message.warnings) json.warnings = message.warnings;
  if (message.kind === "ok") {
    if (message.infoBytes) json.info = bytesToJson(message.infoBytes);
    else if (message.info !== undefined) json.info = message.info;
    if (message.sessionStateChanges) {
      json.state = messageToJson(message.sessionStateChanges) as unknown[];
    }
  }
  return json;
}

function numberJson(value: number | bigint): number | string {
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * Sets `slot` of `target` to the end packet's compact form (omitted when all defaults), or to
 * `{"packet"}` when the compact form would not reproduce it. `okHeader` is the header an OK in
 * that place has (0xFE ending rows with CLIENT_DEPRECATE_EOF, 0x00 elsewhere).
 */
function setEnd<T extends object>(
  target: T,
  slot: keyof T & string,
  message: OkPacket | EofPacket,
  context: Readonly<CodecContext>,
  okHeader: number,
): void {
  const deprecate = (context.capabilities & Capability.CLIENT_DEPRECATE_EOF) !== 0;
  const expectedKind = okHeader === 0xfe && deprecate ? "ok" : "eof";
  const compact = message.kind === expectedKind &&
    (message.kind === "eof" ? eofCompact(message) : okCompact(message, okHeader));
  const record = target as Record<string, unknown>;
  if (!compact) {
    record[slot] = { packet: packetJson(message) };
    return;
  }
  const json = endJson(message);
  if (Object.keys(json).length > 0) record[slot] = json;
}

/**
 * The EOF after the column definitions is omitted when it says what the result set's end says
 * (status and warnings), which is almost always.
 */
function dropRedundantColumnsEnd(element: ResultSetJson): void {
  if (element.columnsEnd === undefined || "packet" in element.columnsEnd) return;
  const end = effectiveEnd(element.end);
  const columnsEnd = element.columnsEnd;
  if (columnsEnd.status === end.status && columnsEnd.warnings === end.warnings) {
    element.columnsEnd = undefined; // not written (and no `delete`: it slows the object down)
  } else if (Object.keys(columnsEnd).length === 0) {
    // Defaults, where the end is not: say so, since omitted would mean "same as the end".
    element.columnsEnd = {};
  }
}

/** What the columns EOF is assumed to be when `columnsEnd` is omitted. */
export function effectiveEnd(end: ResultSetJson["end"]): EndJson {
  if (end === undefined || end === null || "packet" in end) return {};
  const json: EndJson = {};
  if (end.status !== undefined) json.status = end.status;
  if (end.warnings !== undefined) json.warnings = end.warnings;
  return json;
}

function errorJson(err: ErrPacket, redact: (text: JsonBytes) => JsonBytes): ErrorJson {
  const json: ErrorJson = { code: err.code, message: err.message };
  if (err.sqlState !== undefined) json.sqlState = err.sqlState;
  if (err.messageBytes) json.message = bytesToJson(err.messageBytes);
  json.message = redact(json.message);
  return {
    code: json.code,
    ...(json.sqlState === undefined ? {} : { sqlState: json.sqlState }),
    message: json.message,
  };
}

function parameterValue(parameter: BinaryParameter): JsonValue {
  if ("longData" in parameter) return null;
  return binaryValueToJson(parameter.value, parameter.type);
}

function parameterType(parameter: BinaryParameter): string {
  const name = typeName(parameter.type) + (parameter.unsigned ? "!u" : "");
  return parameter.flags === undefined ? name : `${name}!flags=${parameter.flags}`;
}

function withTrailing(
  fields: Record<string, unknown>,
  message: { trailing?: Uint8Array },
): Record<string, unknown> {
  if (message.trailing) fields.trailing = messageToJson(message.trailing);
  return fields;
}

/** A response's elements as command-line keys: flattened when there is exactly one. */
export function flatten(elements: ResponseElement[]): Record<string, unknown> {
  if (elements.length === 0) return {};
  if (elements.length === 1) return { ...elements[0] };
  return { results: elements };
}

/** A whole codec packet as JSON. */
function packetJson(message: ServerMessage | ClientMessage): Record<string, unknown> {
  return messageToJson(message) as Record<string, unknown>;
}

function approximateSize(row: JsonValue[] | { packet: unknown }): number {
  if (!Array.isArray(row)) return 256;
  let size = 2;
  for (const value of row) size += typeof value === "string" ? value.length + 3 : 8;
  return size;
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
