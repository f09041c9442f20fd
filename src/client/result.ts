/**
 * A command's response in convenient shapes, gathered from its decoded packets: result sets with
 * their columns and rows, the final OK or ERR, a prepared statement's definitions, timings.
 *
 * @module
 */

import type { BinaryValue } from "../protocol/binary.ts";
import type { ClientCommand } from "../protocol/commands.ts";
import type { EofPacket, ErrPacket, OkPacket } from "../protocol/generic.ts";
import type { DecodedPacket } from "../session/decoder.ts";
import type { ColumnDefinition } from "../session/messages.ts";

/** One result set of a response. */
export interface ResultSet {
  /** The column definitions (the statement's, when MariaDB's metadata cache skipped them). */
  columns: ColumnDefinition[];
  /**
   * The rows: text protocol values are bytes (`null` for NULL), binary protocol values are typed
   * (numbers, bigints, strings for dates and decimals, bytes).
   */
  rows: (Uint8Array | null)[][] | BinaryValue[][];
  /** Whether the rows are binary (answers to COM_STMT_EXECUTE and COM_STMT_FETCH). */
  binary: boolean;
  /** The EOF or OK that ended the rows; absent when an error ended them or a cursor opened. */
  end?: OkPacket | EofPacket;
}

/** The answer to COM_STMT_PREPARE. */
export interface PreparedStatementResult {
  /** The server's statement id on this connection. */
  statementId: number;
  /** The parameter definitions. */
  parameters: ColumnDefinition[];
  /** The result column definitions. */
  columns: ColumnDefinition[];
  /** Warnings the prepare raised. */
  warnings: number;
}

/** Times of a command, in microseconds. */
export interface CommandTiming {
  /** When the command was sent, as `performance.now()` in microseconds. */
  sentAt: number;
  /** From sending to the first response packet (0 without a response). */
  firstByteUs: number;
  /** From sending to the last response packet (0 without a response). */
  totalUs: number;
}

/** A command and its whole response. */
export interface CommandResult {
  /** The command sent. */
  command: ClientCommand;
  /** Every packet of the exchange in wire order, decoded: the command first, then the response. */
  packets: DecodedPacket[];
  /** The server's payloads as received, in order (for byte-level comparisons). */
  payloads: Uint8Array[];
  /** The result sets, in order (multi-statements and CALL give several). */
  resultSets: ResultSet[];
  /** The OK answering the command (the last one, with several results). */
  ok?: OkPacket;
  /** The EOF answering the command (COM_SET_OPTION, COM_DEBUG). */
  eof?: EofPacket;
  /** The error answering the command. */
  error?: ErrPacket;
  /** The answer to COM_STMT_PREPARE. */
  prepared?: PreparedStatementResult;
  /** The file the server asked for (LOAD DATA LOCAL INFILE). */
  infile?: { filename: string };
  /** COM_STATISTICS's text. */
  statistics?: string;
  /** Warnings of the last OK or EOF of the response. */
  warnings: number;
  /** Affected rows of the last OK (0 without one). */
  affectedRows: number | bigint;
  /** Last insert id of the last OK (0 without one). */
  insertId: number | bigint;
  /** When it was sent and how long the response took. */
  timing: CommandTiming;
  /** Whether the command has no response (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA). */
  noResponse: boolean;
}

/**
 * Gathers a {@link CommandResult} from the packets of one exchange (the command's own packet
 * first). `payloads` are the server's raw payloads in the same order as its packets.
 *
 * @example
 * ```ts
 * import { collectResult } from "./result.ts";
 * const result = collectResult(
 *   { kind: "COM_PING" },
 *   [{ direction: "server", sequenceId: 1, length: 7, message: { kind: "ok", header: 0, affectedRows: 0, lastInsertId: 0, statusFlags: 2, warnings: 0 } }],
 *   [],
 *   { sentAt: 0, firstByteUs: 10, totalUs: 10 },
 * );
 * console.assert(result.ok !== undefined && result.warnings === 0);
 * ```
 */
export function collectResult(
  command: ClientCommand,
  packets: DecodedPacket[],
  payloads: Uint8Array[],
  timing: CommandTiming,
): CommandResult {
  const result: CommandResult = {
    command,
    packets,
    payloads,
    resultSets: [],
    warnings: 0,
    affectedRows: 0,
    insertId: 0,
    timing,
    noResponse: false,
  };
  let open: ResultSet | undefined;
  let prepared: { left: number; result: PreparedStatementResult } | undefined;
  const takeEnd = (message: OkPacket | EofPacket) => {
    result.warnings = message.warnings ?? 0;
    if (message.kind === "ok") {
      result.affectedRows = message.affectedRows;
      result.insertId = message.lastInsertId;
    }
  };
  for (const packet of packets) {
    if (packet.direction !== "server") continue;
    const message = packet.message;
    switch (message.kind) {
      case "column-count":
        open = {
          columns: [],
          rows: [],
          binary: packet.exchange !== undefined && packet.exchange.shape !== "text-resultset",
        };
        result.resultSets.push(open);
        break;
      case "column-definition":
      case "column-definition-320":
        if (prepared) {
          const list = prepared.result.parameters.length < prepared.left
            ? prepared.result.parameters
            : prepared.result.columns;
          list.push(message);
        } else if (open) open.columns.push(message);
        else {
          // COM_FIELD_LIST: definitions with no column count.
          open = { columns: [message], rows: [], binary: false };
          result.resultSets.push(open);
        }
        break;
      case "text-row":
        if (open) (open.rows as (Uint8Array | null)[][]).push(message.values);
        break;
      case "binary-row":
        if (!open) {
          // COM_STMT_FETCH: rows of a cursor with no column count.
          open = { columns: [...(packet.exchange?.columns ?? [])], rows: [], binary: true };
          result.resultSets.push(open);
        }
        (open.rows as BinaryValue[][]).push(message.values);
        break;
      case "ok":
      case "eof":
        // Without CLIENT_DEPRECATE_EOF an EOF ends the column definitions: it ends nothing.
        if (message.kind === "eof" && packet.ends === undefined && open && !prepared) break;
        takeEnd(message);
        if (open && !prepared) {
          if (open.columns.length === 0 && packet.exchange) {
            // MariaDB's metadata cache skipped the definitions: they are the statement's.
            open.columns = [...packet.exchange.columns];
          }
          open.end = message;
          open = undefined;
        } else if (!prepared) {
          if (message.kind === "ok") result.ok = message;
          else result.eof = message;
        }
        break;
      case "err":
        open = undefined;
        result.error = message;
        break;
      case "stmt-prepare-ok":
        result.prepared = {
          statementId: message.statementId,
          parameters: [],
          columns: [],
          warnings: message.warnings ?? 0,
        };
        result.warnings = message.warnings ?? 0;
        prepared = { left: message.numParams, result: result.prepared };
        break;
      case "local-infile-request":
        result.infile = { filename: message.filename };
        break;
      case "statistics":
        result.statistics = message.text;
        break;
    }
  }
  return result;
}
