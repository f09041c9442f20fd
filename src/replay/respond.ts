/**
 * Sending a recorded response to a live client: rendered for its capabilities, framed from the
 * command's sequence id, cached when it will be the same bytes next time, paced by `--speed`,
 * and for LOCAL INFILE split around the client's file.
 *
 * @module
 */

import { Capability, MariaDbCapability } from "../protocol/constants.ts";
import type { CodecContext } from "../protocol/context.ts";
import type { ColumnDefinition41 } from "../protocol/resultset.ts";
import type { ParameterType, StatementInfo } from "../protocol/statement.ts";
import { framePacket } from "../protocol/writer.ts";
import type { PreparedJson } from "../record/events.ts";
import type { RecordedCommand } from "../record/merge.ts";
import { columnSet, type Exchange } from "./catalog.ts";
import { renderFramed } from "./render.ts";
import type { PacketWriter } from "../protocol/writer.ts";
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
  if (exchange.resultColumns === undefined) return;
  statement.columns = columnSet(
    exchange.connection.source,
    exchange.resultColumns,
    extendedMetadata(context),
  );
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
  /** The connection's writer, reused from response to response. */
  writer?: PacketWriter;
}

/** Responses up to this size are kept framed for the next client that asks the same. */
const CACHE_BYTES = 256 * 1024;

function extendedMetadata(context: CodecContext): boolean {
  return (context.mariadbCapabilities & MariaDbCapability.MARIADB_CLIENT_EXTENDED_METADATA) !== 0;
}

function render(
  command: RecordedCommand,
  exchange: Exchange,
  options: RespondOptions,
  seq: number,
): { bytes: Uint8Array; seq: number } {
  const source = exchange.connection.source;
  const extended = extendedMetadata(options.context);
  return renderFramed(command, {
    context: options.context,
    columnSet: (id) => columnSet(source, id, extended),
    statementId: options.statementId,
    statementColumns: options.statementColumns,
    sendMetadata: true,
    writer: options.writer,
  }, seq);
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

/** Sends the recorded response of `exchange`, after its recorded latency with `speed`. */
export async function respond(
  io: PacketIO,
  exchange: Exchange,
  options: RespondOptions,
): Promise<void> {
  if (options.speed !== undefined && exchange.command.us) {
    await delay(exchange.command.us[1] / options.speed / 1000);
  }
  if (exchange.infile) return await respondInfile(io, exchange, options);
  await io.write(responseBytes(exchange, options));
}

/**
 * The framed response of `exchange` (not LOCAL INFILE ones): rendered for the client's context,
 * kept for the next client of the same context when small; an ERR if the recording cannot be
 * rendered.
 */
export function responseBytes(exchange: Exchange, options: RespondOptions): Uint8Array {
  const cacheable = options.seq === 1 && options.statementId === undefined;
  const key = contextKey(options.context);
  if (cacheable) {
    const cached = exchange.rendered?.get(key);
    if (cached) return cached;
  }
  let bytes: Uint8Array;
  try {
    bytes = render(exchange.command, exchange, options, options.seq).bytes;
  } catch (error) {
    const message = `Replay cannot render the recorded response to ${exchange.request.text}: ${
      (error as Error).message
    }`;
    return framePacket(errPayload(1105, "HY000", message), options.seq);
  }
  // Kept from the second use on: most exchanges are served once (each recorded answer is used
  // before any is used twice), and keeping them all would only fill the heap.
  if (cacheable && bytes.length <= CACHE_BYTES && (exchange.uses > 1 || exchange.request.session)) {
    exchange.rendered ??= new Map();
    exchange.rendered.set(key, bytes);
  }
  return bytes;
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
    return await io.write(framePacket(errPayload(1148, "42000", text), options.seq));
  }
  const at = command.elements.findIndex((element) => "infile" in element);
  const before: RecordedCommand = { ...command, elements: command.elements.slice(0, at + 1) };
  const after: RecordedCommand = {
    ...command,
    event: { ...command.event, auth: undefined },
    elements: command.elements.slice(at + 1),
  };
  const first = render(before, exchange, options, options.seq);
  await io.write(first.bytes);
  let seq = first.seq;
  for (;;) {
    const packet = await io.next();
    if (!packet) return;
    seq = (packet.lastSequenceId + 1) & 0xff;
    if (packet.payload.length === 0) break;
  }
  await io.write(render(after, exchange, options, seq).bytes);
}
