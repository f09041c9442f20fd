/**
 * Small pieces of the mediated loop: framing, what a response needs, the SQL a hook sees, and
 * the errors that end a mediated connection.
 *
 * @module
 */

import type { ClientCommand } from "../protocol/commands.ts";
import { PacketWriter } from "../protocol/writer.ts";
import type { DecodedPacket } from "../session/decoder.ts";

/** The server ended the connection in the middle of an exchange. */
export class ServerGone extends Error {
  constructor() {
    super("The server closed the connection");
    this.name = "ServerGone";
  }
}

/** A drop-after-query fault cut the response short. */
export class DroppedByFault extends Error {
  constructor() {
    super("dropped by a drop-after-query fault");
    this.name = "DroppedByFault";
  }
}

/** Whether the server now waits for the client (LOCAL INFILE, an auth exchange). */
export function needsClient(response: DecodedPacket): boolean {
  const kind = response.message.kind;
  return kind === "local-infile-request" || kind === "auth-switch-request" ||
    kind === "old-auth-switch-request" || kind === "auth-more-data";
}

/** A payload framed from sequence id `seq` (continuation frames from 16 MiB - 1 bytes). */
export function frame(payload: Uint8Array, seq: number): Uint8Array {
  return new PacketWriter(payload.length + 8).packet(payload, seq).finish();
}

/** The SQL of a command, for hooks (the schema name of COM_INIT_DB). */
export function commandSql(command: ClientCommand): string | undefined {
  if (command.kind === "COM_QUERY" || command.kind === "COM_STMT_PREPARE") return command.sql;
  if (command.kind === "COM_INIT_DB") return command.schema;
  return undefined;
}
