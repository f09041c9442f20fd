/**
 * Every message the decoder produces, by direction.
 *
 * @module
 */

import type {
  HandshakeResponse320,
  HandshakeResponse41,
  HandshakeV10,
  SslRequest,
} from "../protocol/handshake.ts";
import type {
  AuthMoreData,
  AuthNextFactor,
  AuthSwitchRequest,
  AuthSwitchResponse,
  OldAuthSwitchRequest,
} from "../protocol/auth.ts";
import type { EofPacket, ErrPacket, OkPacket, ProgressReport } from "../protocol/generic.ts";
import type {
  ColumnCount,
  ColumnDefinition320,
  ColumnDefinition41,
  LocalInfileData,
  LocalInfileRequest,
  Statistics,
  StmtPrepareOk,
  TextRow,
} from "../protocol/resultset.ts";
import type { BinaryRow } from "../protocol/binary.ts";
import type { ClientCommand } from "../protocol/commands.ts";
import type { UnknownPacket } from "../protocol/unknown.ts";

/** A column definition of either protocol generation. */
export type ColumnDefinition = ColumnDefinition41 | ColumnDefinition320;

/** Everything a server sends. */
export type ServerMessage =
  | HandshakeV10
  | OkPacket
  | ErrPacket
  | EofPacket
  | ProgressReport
  | AuthSwitchRequest
  | OldAuthSwitchRequest
  | AuthMoreData
  | AuthNextFactor
  | ColumnCount
  | ColumnDefinition
  | TextRow
  | BinaryRow
  | StmtPrepareOk
  | LocalInfileRequest
  | Statistics
  | UnknownPacket;

/** A command, COM_CHANGE_USER included. */
export type Command = ClientCommand;

/** Everything a client sends. */
export type ClientMessage =
  | SslRequest
  | HandshakeResponse41
  | HandshakeResponse320
  | AuthSwitchResponse
  | Command
  | LocalInfileData
  | UnknownPacket;
