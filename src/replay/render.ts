/**
 * Turns a recorded response back into the server's packets (payloads, in wire order): the
 * inverse of `src/record/assemble.ts`. What the recorder wrote compactly is re-encoded with the
 * codec under the connection's capabilities; what it kept whole is re-encoded as it was.
 *
 * @module
 */

import { Capability, MariaDbCapability } from "../protocol/constants.ts";
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
  serializeTextRow,
} from "../protocol/resultset.ts";
import { serializeBinaryRow } from "../protocol/binary.ts";
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
  /**
   * Send column definitions even where the recorded server skipped them (MariaDB's metadata
   * cache): the live client may not have the metadata the recorded one had cached. Default false
   * (as recorded).
   */
  sendMetadata?: boolean;
}

/** The server packets of a recorded response, in order. */
export function renderResponse(command: RecordedCommand, options: RenderOptions): Uint8Array[] {
  const out: Uint8Array[] = [];
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
  return out;
}

interface ElementOptions extends RenderOptions {
  binary: boolean;
  rowsOnly: boolean;
  columns: ColumnDefinition41[];
}

function renderElement(
  element: ResponseElement,
  options: ElementOptions,
  out: Uint8Array[],
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
      out.push(serializeColumnDefinition41(column, context));
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
  out: Uint8Array[],
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
      out.push(serializeColumnCount(
        hasMetadataByte(context)
          ? {
            kind: "column-count",
            count: columns.length,
            metadataFollows: skipMetadata ? 0 : 1,
          }
          : { kind: "column-count", count: columns.length },
        context,
      ));
    }
    if (!skipMetadata) {
      for (const column of columns) out.push(serializeColumnDefinition41(column, context));
    }
    if (!deprecate) {
      const columnsEnd = element.columnsEnd ?? effectiveEnd(element.end);
      out.push(renderEnd(columnsEnd, context, false));
    }
  }
  for (const row of element.rows) {
    if (!Array.isArray(row)) {
      out.push(renderPacket(row.packet, options, columns));
    } else if (options.binary) {
      const values = row.map((value, i) =>
        jsonToBinaryValue(value, columns[i]?.type ?? 0xfd, `row value ${i}`)
      );
      out.push(serializeBinaryRow({ kind: "binary-row", values }, columns));
    } else {
      out.push(
        serializeTextRow({
          kind: "text-row",
          values: row.map((v, i) => jsonToTextValue(v, `row value ${i}`)),
        }),
      );
    }
  }
  if (element.end !== null) out.push(renderEnd(element.end, context, true));
  return columns;
}

function renderPrepared(
  prepared: Extract<ResponseElement, { prepared: unknown }>["prepared"],
  options: ElementOptions,
  out: Uint8Array[],
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
  for (const column of params) out.push(serializeColumnDefinition41(column, context));
  if (params.length > 0 && !deprecate) out.push(renderEnd(prepared.paramsEnd, context, false));
  for (const column of columns) out.push(serializeColumnDefinition41(column, context));
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
  if (deprecate && closesRows) return serializeOk(okPacket(json, 0xfe), context);
  return serializeEof(eofPacket(json), context);
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
