/**
 * Sending a recorded response to a live client: rendered for its capabilities, framed from the
 * command's sequence id, cached when it will be the same bytes next time, paced by `--speed`,
 * and for LOCAL INFILE split around the client's file.
 *
 * @module
 */

import { Capability, MariaDbCapability, MAX_PAYLOAD_LENGTH } from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import type { ColumnDefinition41 } from "../protocol/resultset.ts";
import type { ParameterType, StatementInfo } from "../protocol/statement.ts";
import { PacketWriter } from "../protocol/writer.ts";
import type { PreparedJson } from "../record/events.ts";
import type { RecordedCommand } from "../record/merge.ts";
import { columnSet, type Exchange } from "./catalog.ts";
import { renderResponse } from "./render.ts";
import type { RecordedText } from "./keys.ts";
import { errPayload } from "./handshake.ts";
import type { PacketIO } from "./io.ts";

/** A statement prepared on a live connection; its id is replay's own. */
export class LiveStatement implements StatementInfo {
  readonly id: number;
  /** The SQL the client prepared (redacted as recordings are). */
  readonly sql: RecordedText;
  readonly parameterCount: number;
  /** The result columns: announced at prepare time, or by the last execute that sent them. */
  columns: ColumnDefinition41[];
  previousTypes?: readonly ParameterType[];
  /** Chunks of COM_STMT_SEND_LONG_DATA per parameter, until the next execute or reset. */
  readonly longData = new Map<number, Uint8Array[]>();

  constructor(
    id: number,
    sql: RecordedText,
    parameterCount: number,
    columns: ColumnDefinition41[],
  ) {
    this.id = id;
    this.sql = sql;
    this.parameterCount = parameterCount;
    this.columns = columns;
  }

  /** Parameters sent as long data since the last execute. */
  get longDataParameters(): ReadonlySet<number> | undefined {
    return this.longData.size === 0 ? undefined : new Set(this.longData.keys());
  }
}

/**
 * The live statement a recorded COM_STMT_PREPARE answer creates, or `undefined` when the
 * recorded answer was an error.
 */
export function prepareStatement(
  exchange: Exchange,
  session: { context: CodecContext; nextStatementId: number },
  sql: RecordedText,
): LiveStatement | undefined {
  const element = exchange.command.elements.find((e) => "prepared" in e) as
    | { prepared: PreparedJson }
    | undefined;
  if (!element) return undefined;
  const { prepared } = element;
  const source = exchange.connection.source;
  const extended = extendedMetadata(session.context);
  let parameterCount = prepared.params === undefined
    ? 0
    : columnSet(source, prepared.params, extended).length;
  if (prepared.packet && typeof prepared.packet.numParams === "number") {
    parameterCount = prepared.packet.numParams;
  }
  const columns = prepared.columns === undefined
    ? []
    : columnSet(source, prepared.columns, extended);
  return new LiveStatement(session.nextStatementId++, sql, parameterCount, columns);
}

/** Takes the result columns of an execute's response, when it sent definitions, as the statement's. */
export function updateColumns(
  statement: LiveStatement,
  exchange: Exchange,
  context: CodecContext,
): void {
  for (const element of exchange.command.elements) {
    if ("rows" in element && element.columns !== undefined) {
      statement.columns = columnSet(
        exchange.connection.source,
        element.columns,
        extendedMetadata(context),
      );
      return;
    }
  }
}

/** Where and how to send a response. */
export interface RespondOptions {
  context: CodecContext;
  /** The sequence id of the first response packet. */
  seq: number;
  /** The live statement id a COM_STMT_PREPARE_OK announces. */
  statementId?: number;
  /** The statement's result columns (for cursor fetches). */
  statementColumns?: ColumnDefinition41[];
  /** Waits `us / speed` before sending; undefined sends at once. */
  speed?: number;
}

/** Bytes written per write at most while a large response is framed. */
const FLUSH_BYTES = 1024 * 1024;
/** Responses up to this size are kept framed for the next client that asks the same. */
const CACHE_BYTES = 256 * 1024;

function extendedMetadata(context: CodecContext): boolean {
  return (context.mariadbCapabilities & MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA) !== 0;
}

function render(command: RecordedCommand, exchange: Exchange, options: RespondOptions) {
  const source = exchange.connection.source;
  const extended = extendedMetadata(options.context);
  return renderResponse(command, {
    context: options.context,
    columnSet: (id) => columnSet(source, id, extended),
    statementId: options.statementId,
    statementColumns: options.statementColumns,
    sendMetadata: true,
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const contextKeys = new WeakMap<CodecContext, string>();

/** A string naming a context's capabilities, for caches (one per live connection's context). */
function contextKey(context: CodecContext): string {
  let key = contextKeys.get(context);
  if (key === undefined) {
    key = `${context.capabilities}:${context.mariadbCapabilities}`;
    contextKeys.set(context, key);
  }
  return key;
}

/** Sends the recorded response of `exchange`. */
export async function respond(
  io: PacketIO,
  exchange: Exchange,
  options: RespondOptions,
): Promise<void> {
  const { context } = options;
  if (options.speed !== undefined && exchange.command.us) {
    await delay(exchange.command.us[1] / options.speed / 1000);
  }
  const cacheable = options.seq === 1 && options.statementId === undefined && !exchange.infile;
  const key = contextKey(context);
  if (cacheable) {
    const cached = exchange.rendered?.get(key);
    if (cached) return await io.write(cached);
  }
  let payloads: Uint8Array[];
  try {
    if (exchange.infile) return await respondInfile(io, exchange, options);
    payloads = render(exchange.command, exchange, options);
  } catch (error) {
    const message = `Replay cannot render the recorded response to ${exchange.request.text}: ${
      (error as Error).message
    }`;
    return await io.write(
      new PacketWriter().packet(errPayload(1105, "HY000", message), options.seq).finish(),
    );
  }
  let seq = options.seq;
  let flushed = false;
  for (let start = 0; start < payloads.length;) {
    // Frame up to FLUSH_BYTES at a time, so a large result is not held framed whole.
    let end = start;
    let size = 0;
    while (end < payloads.length && (end === start || size < FLUSH_BYTES)) {
      size += payloads[end++].length;
    }
    const framed = frame(payloads, start, end, seq);
    seq = framed.seq;
    if (end < payloads.length) {
      await io.write(framed.bytes);
      flushed = true;
    } else {
      if (cacheable && !flushed && framed.bytes.length <= CACHE_BYTES) {
        exchange.rendered ??= new Map();
        exchange.rendered.set(key, framed.bytes);
      }
      await io.write(framed.bytes);
    }
    start = end;
  }
}

/**
 * Frames `payloads[start..end)` from sequence id `seq` into one exactly sized buffer (payloads of
 * 16 MiB - 1 bytes or more go through PacketWriter, which splits them).
 */
function frame(
  payloads: readonly Uint8Array[],
  start: number,
  end: number,
  seq: number,
): { bytes: Uint8Array; seq: number } {
  let total = 0;
  for (let i = start; i < end; i++) {
    if (payloads[i].length >= MAX_PAYLOAD_LENGTH) {
      const writer = new PacketWriter(256);
      for (let j = start; j < end; j++) {
        writer.packet(payloads[j], seq);
        seq = writer.nextSequenceId;
      }
      return { bytes: writer.finish(), seq };
    }
    total += 4 + payloads[i].length;
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (let i = start; i < end; i++) {
    const payload = payloads[i];
    const length = payload.length;
    bytes[at] = length & 0xff;
    bytes[at + 1] = (length >>> 8) & 0xff;
    bytes[at + 2] = length >>> 16;
    bytes[at + 3] = seq;
    bytes.set(payload, at + 4);
    at += 4 + length;
    seq = (seq + 1) & 0xff;
  }
  return { bytes, seq };
}

/**
 * A response that asks for a file: what comes before and the request itself, then the client's
 * file (data packets up to an empty one, read and dropped), then the rest of the response.
 */
async function respondInfile(io: PacketIO, exchange: Exchange, options: RespondOptions) {
  const { command } = exchange;
  if ((options.context.capabilities & Capability.CLIENT_LOCAL_FILES) === 0) {
    // A server never asks a client for a file that did not offer LOCAL INFILE.
    const text = "The used command is not allowed with this MariaDB version";
    const writer = new PacketWriter(64).packet(errPayload(1148, "42000", text), options.seq);
    return await io.write(writer.finish());
  }
  const at = command.elements.findIndex((element) => "infile" in element);
  const before: RecordedCommand = { ...command, elements: command.elements.slice(0, at + 1) };
  const after: RecordedCommand = {
    ...command,
    event: { ...command.event, auth: undefined },
    elements: command.elements.slice(at + 1),
  };
  const writer = new PacketWriter(256);
  let seq = options.seq;
  for (const payload of render(before, exchange, options)) {
    writer.packet(payload, seq);
    seq = writer.nextSequenceId;
  }
  await io.write(writer.finish());
  for (;;) {
    const packet = await io.next();
    if (!packet) return;
    seq = (packet.lastSequenceId + 1) & 0xff;
    if (packet.payload.length === 0) break;
  }
  const rest = new PacketWriter(256);
  for (const payload of render(after, exchange, options)) {
    rest.packet(payload, seq);
    seq = rest.nextSequenceId;
  }
  await io.write(rest.finish());
}
