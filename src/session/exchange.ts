/**
 * Per-connection bookkeeping the decoder keeps: commands awaiting their responses and prepared
 * statements.
 *
 * @module
 */

import type { StatementInfo } from "../protocol/statement.ts";
import type { ColumnDefinition, Command } from "./messages.ts";

/** The shape of the response a command gets. */
export type ResponseShape =
  /** OK or ERR (EOF too, for COM_SET_OPTION and COM_DEBUG). */
  | "ok"
  /** Text result sets, OK or ERR, possibly several, possibly a LOCAL INFILE request. */
  | "text-resultset"
  /** Binary result sets (COM_STMT_EXECUTE). */
  | "binary-resultset"
  /** Binary rows of an open cursor, then EOF (COM_STMT_FETCH). */
  | "binary-rows"
  /** COM_STMT_PREPARE_OK with parameter and column definitions, or ERR. */
  | "prepare"
  /** Column definitions until EOF (COM_FIELD_LIST). */
  | "field-list"
  /** A string<EOF> (COM_STATISTICS). */
  | "statistics"
  /** The authentication exchange again (COM_CHANGE_USER). */
  | "auth"
  /** Replication events until EOF or ERR (COM_BINLOG_DUMP). */
  | "binlog";

/** Where in its response a command is. */
export type ResponseStage =
  | "first"
  | "column-definitions"
  | "columns-eof"
  | "rows"
  | "infile-data"
  | "infile-result"
  | "prepare-parameters"
  | "prepare-parameters-eof"
  | "prepare-columns"
  | "prepare-columns-eof";

/**
 * A prepared statement, by its server-assigned id on this connection. It is the
 * {@link StatementInfo} COM_STMT_EXECUTE decoding needs, plus what the response needs.
 */
export interface PreparedStatement extends StatementInfo {
  /** The server's statement id. */
  id: number;
  /** The SQL it was prepared from. */
  sql: string;
  /** How many `?` parameters it has. */
  parameterCount: number;
  /** How many result columns its prepare announced. */
  columnCount: number;
  /** Parameter definitions sent with COM_STMT_PREPARE_OK. */
  parameters: ColumnDefinition[];
  /** Column definitions: from COM_STMT_PREPARE_OK, then from the latest execute. */
  columns: ColumnDefinition[];
  /** Parameters whose values came through COM_STMT_SEND_LONG_DATA since the last execute. */
  longDataParameters: Set<number>;
}

/** A command and the progress of its response. */
export interface Exchange {
  /** Sequential number of the command on its connection, from 1. */
  index: number;
  /**
   * The decoded command. Its byte fields may be views into the read buffer: valid only during
   * the callback that delivered the command.
   */
  command: Command;
  /** The kind of response the command gets. */
  shape: ResponseShape;
  /** Where the response is now. */
  stage: ResponseStage;
  /** The statement a COM_STMT_EXECUTE, FETCH or PREPARE is about. */
  statement?: PreparedStatement;
  /** Columns of the result set being read. */
  columns: ColumnDefinition[];
  /** Column count announced by the current result set. */
  columnCount: number;
  /** Rows of the current result set so far. */
  rows: number;
  /** Result sets (and OK packets) completed in this response so far. */
  results: number;
  /** Set once the last packet of the response has been seen. */
  done: boolean;
}
