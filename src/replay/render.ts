/**
 * Turns a recorded response back into the server's packets (payloads, in wire order): the
 * inverse of `src/record/assemble.ts`. What the recorder wrote compactly is re-encoded with the
 * codec under the connection's capabilities; what it kept whole is re-encoded as it was.
 *
 * @module
 */

import { Capability, ColumnFlag, MariaDbCapability } from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import {
  type EofPacket,
  type OkPacket,
  serializeEof,
  serializeErr,
  serializeOk,
} from "../protocol/generic.ts";
import {
  type ColumnDefinition41,
  serializeColumnCount,
  serializeColumnDefinition41,
  serializeLocalInfileRequest,
  serializeStatistics,
  serializeStmtPrepareOk,
} from "../protocol/resultset.ts";
import { isLengthEncodedType, nullBitmapLength, writeBinaryValue } from "../protocol/binary.ts";
import { PacketFramer } from "../protocol/framing.ts";
import { PacketWriter } from "../protocol/writer.ts";
import {
  type ProgressReport,
  serializeProgressReport,
  type SessionStateChange,
} from "../protocol/generic.ts";
import { serializeMessage } from "../session/encode.ts";
import type { ClientMessage, ServerMessage } from "../session/messages.ts";
import { effectiveEnd } from "../record/assemble.ts";
import type { EndJson, ErrorJson, ResponseElement, ResultSetJson, Slot } from "../record/events.ts";
import type { RecordedCommand } from "../record/merge.ts";
import {
  jsonToBinaryValue,
  jsonToBytes,
  jsonToMessage,
  jsonToTextValue,
} from "../record/values.ts";
import { utf8Decode } from "../protocol/text.ts";

/** What rendering needs besides the recorded command. */
export interface RenderOptions {
  /** The capabilities negotiated with the client being served. */
  context: CodecContext;
  /** The column definitions of a column set id. */
  columnSet(id: number): ColumnDefinition41[];
  /** The statement id to announce in COM_STMT_PREPARE_OK (default: the recorded one). */
  statementId?: number;
  /** Columns of the statement, for `stmt-fetch` rows and metadata-skipped executes. */
  statementColumns?: ColumnDefinition41[];
  /** A writer to reuse (one per live connection); a new one by default. */
  writer?: PacketWriter;
  /**
   * Send column definitions even where the recorded server skipped them (MariaDB's metadata
   * cache): the live client may not have the metadata the recorded one had cached. Default false
   * (as recorded).
   */
  sendMetadata?: boolean;
}

/**
 * The server packets of a recorded response, in order (payloads, unframed).
 *
 * @example
 * ```ts ignore
 * const payloads = renderResponse(command, { context, columnSet });
 * ```
 */
export function renderResponse(command: RecordedCommand, options: RenderOptions): Uint8Array[] {
  const { bytes } = renderFramed(command, options, 0);
  const payloads: Uint8Array[] = [];
  new PacketFramer().push(bytes, (packet) => payloads.push(packet.payload.slice()));
  return payloads;
}

/**
 * The server packets of a recorded response framed for the wire from sequence id `seq`, as one
 * buffer, and the sequence id that follows. Rows are written straight into the frame (no buffer
 * per packet): replay's first answer to each exchange goes through here.
 *
 * @example
 * ```ts ignore
 * const { bytes, seq: next } = renderFramed(command, { context, columnSet }, 1);
 * ```
 */
export function renderFramed(
  command: RecordedCommand,
  options: RenderOptions,
  seq: number,
): { bytes: Uint8Array; seq: number } {
  const out = new FrameSink(options.writer ?? new PacketWriter(256), seq);
  const binary = command.event.cmd === "stmt-execute" || command.event.cmd === "stmt-fetch";
  let columns: ColumnDefinition41[] = options.statementColumns ?? [];
  // COM_CHANGE_USER: the server's side of the authentication exchange comes first.
  for (
    const step of (command.event.auth ?? []) as { from: string; packet: Record<string, unknown> }[]
  ) {
    if (step.from === "server") out.push(renderPacket(step.packet, options, columns));
  }
  for (const [index, element] of command.elements.entries()) {
    const rowsOnly = command.event.cmd === "stmt-fetch" && index === 0;
    columns = renderElement(element, { ...options, binary, rowsOnly, columns }, out) ?? columns;
  }
  return { bytes: out.writer.take(), seq: out.seq };
}

/** Frames packets into one growing buffer; rows are written into it directly. */
class FrameSink {
  readonly writer: PacketWriter;
  seq: number;
  #bitmap = new Uint8Array(8);

  constructor(writer: PacketWriter, seq: number) {
    this.writer = writer;
    this.seq = seq & 0xff;
  }

  /** A packet's payload, framed. */
  push(payload: Uint8Array): void {
    this.writer.packet(payload, this.seq);
    this.seq = this.writer.nextSequenceId;
  }

  /** A text row: each value a length-encoded string, NULL as 0xfb (as `serializeTextRow`). */
  textRow(row: readonly unknown[]): void {
    const writer = this.writer.startPacket(this.seq);
    for (let i = 0; i < row.length; i++) {
      const value = row[i];
      if (value === null) writer.lenencNull();
      else if (typeof value === "string") writer.lenencString(value);
      else writer.lenencBytes(jsonToTextValue(value, `row value ${i}`)!);
    }
    writer.endPacket();
    this.seq = writer.nextSequenceId;
  }

  /** A binary row: header, NULL bitmap (offset 2), values (as `serializeBinaryRow`). */
  binaryRow(row: readonly unknown[], columns: readonly ColumnDefinition41[]): void {
    if (row.length !== columns.length) {
      throw new RangeError(
        `Cannot serialize binary row: ${row.length} values for ${columns.length} columns`,
      );
    }
    const length = nullBitmapLength(row.length, 2);
    if (this.#bitmap.length < length) this.#bitmap = new Uint8Array(length);
    const bitmap = this.#bitmap.subarray(0, length);
    bitmap.fill(0);
    for (let i = 0; i < row.length; i++) {
      if (row[i] === null) bitmap[(i + 2) >> 3] |= 1 << ((i + 2) & 7);
    }
    const writer = this.writer.startPacket(this.seq);
    writer.u8(0x00).bytes(bitmap);
    for (let i = 0; i < row.length; i++) {
      const json = row[i];
      if (json === null) continue;
      const column = columns[i];
      // A string of a length-encoded type (strings, blobs, DECIMAL, JSON) is its UTF-8 bytes:
      // written straight in, as writeBinaryValue would write jsonToBinaryValue's bytes.
      if (typeof json === "string" && isLengthEncodedType(column.type)) {
        writer.lenencString(json);
        continue;
      }
      const value = jsonToBinaryValue(json, column.type, `row value ${i}`);
      const unsigned = (column.flags & ColumnFlag.UNSIGNED_FLAG) !== 0;
      writeBinaryValue(writer, column.type, unsigned, value);
    }
    writer.endPacket();
    this.seq = writer.nextSequenceId;
  }
}

interface ElementOptions extends RenderOptions {
  binary: boolean;
  rowsOnly: boolean;
  columns: ColumnDefinition41[];
}

function renderElement(
  element: ResponseElement,
  options: ElementOptions,
  out: FrameSink,
): ColumnDefinition41[] | undefined {
  const { context } = options;
  if ("ok" in element) {
    out.push(serializeOk(okPacket(element.ok, 0x00), context));
  } else if ("eof" in element) {
    out.push(serializeEof(eofPacket(element.eof), context));
  } else if ("error" in element) {
    out.push(serializeErr(errPacket(element.error)));
  } else if ("rows" in element && Array.isArray(element.rows)) {
    return renderResultSet(element, options, out);
  } else if ("prepared" in element) {
    renderPrepared(element.prepared, options, out);
  } else if ("fields" in element) {
    for (const column of options.columnSet(element.fields)) {
      out.push(columnPayload(column, context));
    }
    out.push(renderEnd(element.end, context, true));
  } else if ("infile" in element) {
    const filename = jsonToBytes(element.infile.filename, "infile filename");
    out.push(
      serializeLocalInfileRequest({
        kind: "local-infile-request",
        filename: utf8Decode(filename),
        filenameBytes: filename,
      }),
    );
  } else if ("statistics" in element) {
    const text = jsonToBytes(element.statistics, "statistics");
    out.push(serializeStatistics({ kind: "statistics", text: utf8Decode(text), textBytes: text }));
  } else if ("progress" in element) {
    // A client that did not ask for progress reports would take one for an error.
    if ((context.mariadbCapabilities & MariaDbCapability.MARIADB_CLIENT_PROGRESS) === 0) return;
    out.push(
      serializeProgressReport(
        jsonToMessage({ kind: "progress", ...element.progress }) as ProgressReport,
      ),
    );
  } else if ("packets" in element) {
    for (const packet of element.packets) out.push(renderPacket(packet, options, options.columns));
  } else {
    throw new TypeError(`Cannot render response element: ${JSON.stringify(element).slice(0, 80)}`);
  }
  return undefined;
}

function renderResultSet(
  element: ResultSetJson,
  options: ElementOptions,
  out: FrameSink,
): ColumnDefinition41[] {
  const { context } = options;
  const deprecate = (context.capabilities & Capability.CLIENT_DEPRECATE_EOF) !== 0;
  const columns = element.columns !== undefined
    ? options.columnSet(element.columns)
    : options.columns;
  // Metadata is skipped only where the recorded server skipped it and the client can take that.
  const skipMetadata = element.metadata === false && !options.sendMetadata &&
    hasMetadataByte(context);
  if (!options.rowsOnly) {
    if (element.countPacket) {
      out.push(renderPacket(element.countPacket.packet, options, columns));
    } else {
      out.push(columnCount(columns.length, hasMetadataByte(context), skipMetadata, context));
    }
    if (!skipMetadata) {
      for (const column of columns) out.push(columnPayload(column, context));
    }
    if (!deprecate) {
      const columnsEnd = element.columnsEnd ?? effectiveEnd(element.end);
      out.push(renderEnd(columnsEnd, context, false));
    }
  }
  for (const row of element.rows) {
    if (!Array.isArray(row)) out.push(renderPacket(row.packet, options, columns));
    else if (options.binary) out.binaryRow(row, columns);
    else out.textRow(row);
  }
  if (element.end !== null) out.push(renderEnd(element.end, context, true));
  return columns;
}

function renderPrepared(
  prepared: Extract<ResponseElement, { prepared: unknown }>["prepared"],
  options: ElementOptions,
  out: FrameSink,
): void {
  const { context } = options;
  const deprecate = (context.capabilities & Capability.CLIENT_DEPRECATE_EOF) !== 0;
  const params = prepared.params === undefined ? [] : options.columnSet(prepared.params);
  const columns = prepared.columns === undefined ? [] : options.columnSet(prepared.columns);
  if (prepared.packet) {
    const ok = jsonToMessage(prepared.packet) as Record<string, unknown>;
    if (options.statementId !== undefined) ok.statementId = options.statementId;
    out.push(serializeMessage(ok as unknown as ServerMessage, context));
  } else {
    out.push(serializeStmtPrepareOk({
      kind: "stmt-prepare-ok",
      statementId: options.statementId ?? prepared.id,
      numColumns: columns.length,
      numParams: params.length,
      warnings: prepared.warnings ?? 0,
    }));
  }
  for (const column of params) out.push(columnPayload(column, context));
  if (params.length > 0 && !deprecate) out.push(renderEnd(prepared.paramsEnd, context, false));
  for (const column of columns) out.push(columnPayload(column, context));
  if (columns.length > 0 && !deprecate) out.push(renderEnd(prepared.columnsEnd, context, false));
}

/**
 * An EOF, or with CLIENT_DEPRECATE_EOF at the end of rows (`closesRows`) an OK with header 0xFE.
 * `undefined` means all defaults.
 */
function renderEnd(
  slot: Slot<EndJson> | undefined,
  context: CodecContext,
  closesRows: boolean,
): Uint8Array {
  if (slot && "packet" in slot) {
    return serializeMessage(jsonToMessage(slot.packet) as ServerMessage, context);
  }
  const json = (slot ?? {}) as EndJson;
  const deprecate = (context.capabilities & Capability.CLIENT_DEPRECATE_EOF) !== 0;
  const asOk = deprecate && closesRows;
  // Ends with only status and warnings (nearly all) are the same few packets: made once.
  const plain = json.affected === undefined && json.insertId === undefined &&
    json.info === undefined && json.state === undefined;
  const key = plain
    ? `${asOk ? "ok" : "eof"}:${json.status ?? 2}:${json.warnings ?? 0}:${context.capabilities}`
    : undefined;
  const cached = key === undefined ? undefined : plainEnds.get(key);
  if (cached) return cached;
  const payload = asOk
    ? serializeOk(okPacket(json, 0xfe), context)
    : serializeEof(eofPacket(json), context);
  if (key !== undefined && plainEnds.size < 1024) plainEnds.set(key, payload);
  return payload;
}

/** End packets (EOF, or OK ending rows) with only status and warnings, by their fields. */
const plainEnds = new Map<string, Uint8Array>();

/** Column count packets by count and metadata byte. */
const columnCounts = new Map<string, Uint8Array>();

function columnCount(
  count: number,
  metadataByte: boolean,
  skipMetadata: boolean,
  context: CodecContext,
): Uint8Array {
  const key = `${count}:${metadataByte ? (skipMetadata ? 0 : 1) : "-"}`;
  let payload = columnCounts.get(key);
  if (!payload) {
    payload = serializeColumnCount(
      metadataByte
        ? { kind: "column-count", count, metadataFollows: skipMetadata ? 0 : 1 }
        : { kind: "column-count", count },
      context,
    );
    if (columnCounts.size < 1024) columnCounts.set(key, payload);
  }
  return payload;
}

/** Serialized definitions by column object (decoded column sets are kept by the caller). */
const columnPayloads = new WeakMap<ColumnDefinition41, [Uint8Array?, Uint8Array?]>();

/**
 * A column definition's payload, kept per column object: only MariaDB's extended metadata
 * capability changes it, and replay sends the same definitions again and again.
 */
function columnPayload(column: ColumnDefinition41, context: CodecContext): Uint8Array {
  const extended =
    (context.mariadbCapabilities & MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA) !== 0
      ? 1
      : 0;
  let cached = columnPayloads.get(column);
  if (!cached) {
    cached = [];
    columnPayloads.set(column, cached);
  }
  return cached[extended] ??= serializeColumnDefinition41(column, context);
}

function hasMetadataByte(context: CodecContext): boolean {
  return (context.mariadbCapabilities & MariaDbCapability.MARIADB_CLIENT_CACHE_METADATA) !== 0 ||
    (context.capabilities & Capability.CLIENT_OPTIONAL_RESULTSET_METADATA) !== 0;
}

function renderPacket(
  json: Record<string, unknown>,
  options: RenderOptions,
  columns: ColumnDefinition41[],
): Uint8Array {
  const message = jsonToMessage(json) as ServerMessage | ClientMessage;
  return serializeMessage(message, options.context, columns);
}

function okPacket(json: EndJson, header: 0x00 | 0xfe): OkPacket {
  const ok: OkPacket = {
    kind: "ok",
    header,
    affectedRows: bigNumber(json.affected ?? 0),
    lastInsertId: bigNumber(json.insertId ?? 0),
    statusFlags: json.status ?? 2,
    warnings: json.warnings ?? 0,
  };
  if (json.info !== undefined) {
    if (typeof json.info === "string") ok.info = json.info;
    else {
      ok.infoBytes = jsonToBytes(json.info, "info");
      ok.info = utf8Decode(ok.infoBytes);
    }
  }
  if (json.state !== undefined) {
    ok.sessionStateChanges = jsonToMessage(json.state) as SessionStateChange[];
  }
  return ok;
}

function eofPacket(json: EndJson): EofPacket {
  return { kind: "eof", warnings: json.warnings ?? 0, statusFlags: json.status ?? 2 };
}

function errPacket(
  json: ErrorJson,
): { kind: "err"; code: number; sqlState?: string; message: string; messageBytes?: Uint8Array } {
  const err: {
    kind: "err";
    code: number;
    sqlState?: string;
    message: string;
    messageBytes?: Uint8Array;
  } = {
    kind: "err",
    code: json.code,
    message: typeof json.message === "string" ? json.message : "",
  };
  if (json.sqlState !== undefined) err.sqlState = json.sqlState;
  if (typeof json.message !== "string") {
    err.messageBytes = jsonToBytes(json.message, "error message");
    err.message = utf8Decode(err.messageBytes);
  }
  return err;
}

function bigNumber(value: number | string): number | bigint {
  if (typeof value === "number") return value;
  const big = BigInt(value);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}
