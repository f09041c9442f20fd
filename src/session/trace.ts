/**
 * One line per decoded packet, like watching the wire with ngrep, but decoded:
 *
 * ```
 * #3 C>S 0 COM_QUERY SELECT 1 AS a, NULL AS b
 * #3 S>C 1 COLUMNS 2
 * #3 S>C 2 COLUMN a LONGLONG(1) charset=63 flags=0x0081
 * #3 S>C 6 ROW "1" NULL
 * #3 S>C 7 EOF warnings=0 status=0x0002 [resultset 2 cols 1 rows]
 * ```
 *
 * Secrets never appear: auth data is described by shape and length only.
 *
 * @module
 */

import { describeAuthData } from "../protocol/auth.ts";
import { summarizeCommand } from "../protocol/commands.ts";
import { summarizeResponse } from "../protocol/generic.ts";
import { summarizeResultsetPacket } from "../protocol/resultset.ts";
import type { BinaryValue } from "../protocol/binary.ts";
import { utf8Exact } from "../protocol/text.ts";
import type { DecodedPacket } from "./decoder.ts";

const hex = (n: number, width = 8) => `0x${n.toString(16).padStart(width, "0")}`;

/** A one-line description of a decoded packet's content (no connection or direction). */
export function summarizePacket(packet: DecodedPacket): string {
  const message = packet.message;
  const plugin = packet.authPlugin ?? "";
  switch (message.kind) {
    case "handshake-v10":
      return `HANDSHAKE v10 server=${
        JSON.stringify(message.serverVersion)
      } connection_id=${message.connectionId} ` +
        `caps=${hex(message.capabilities)}${
          message.mariadbCapabilities ? ` mariadb_caps=${hex(message.mariadbCapabilities)}` : ""
        } charset=${message.characterSet} status=${hex(message.statusFlags, 4)} plugin=${
          message.authPluginName ?? "-"
        }`;
    case "ssl-request":
      return `SSL_REQUEST caps=${hex(message.capabilities)}`;
    case "handshake-response-41":
    case "handshake-response-320": {
      const parts = [
        message.kind === "handshake-response-41" ? "LOGIN" : "LOGIN(3.20)",
        `user=${JSON.stringify(message.username)}`,
      ];
      if (message.database !== undefined) parts.push(`db=${JSON.stringify(message.database)}`);
      if (message.kind === "handshake-response-41" && message.authPluginName) {
        parts.push(`plugin=${message.authPluginName}`);
      }
      parts.push(
        `auth=${JSON.stringify(describeAuthData(plugin, "client", message.authResponse))}`,
      );
      parts.push(`caps=${hex(message.capabilities)}`);
      if (message.kind === "handshake-response-41" && message.connectAttributes) {
        const name = message.connectAttributes.find(([key]) => key === "_client_name")?.[1];
        if (name) parts.push(`client=${JSON.stringify(name)}`);
      }
      return parts.join(" ");
    }
    case "auth-switch-request":
      return `AUTH_SWITCH plugin=${message.pluginName} ${
        describeAuthData(message.pluginName, "server", message.pluginData)
      }`;
    case "old-auth-switch-request":
      return "AUTH_SWITCH plugin=mysql_old_password (old form)";
    case "auth-more-data":
      return `AUTH_MORE_DATA ${describeAuthData(plugin, "server", message.data)}`;
    case "auth-next-factor":
      return `AUTH_NEXT_FACTOR plugin=${message.pluginName}`;
    case "auth-switch-response":
      return `AUTH_DATA ${describeAuthData(plugin, "client", message.data)}`;
    case "COM_CHANGE_USER":
      return `COM_CHANGE_USER user=${JSON.stringify(message.username)}${
        message.schema ? ` db=${JSON.stringify(message.schema)}` : ""
      } auth=${JSON.stringify(describeAuthData(plugin, "client", message.authResponse))}`;
    case "ok":
    case "err":
    case "eof":
    case "progress":
      return summarizeResponse(message);
    case "column-count":
    case "column-definition":
    case "column-definition-320":
    case "text-row":
    case "stmt-prepare-ok":
    case "local-infile-request":
    case "local-infile-data":
    case "statistics":
      return summarizeResultsetPacket(message);
    case "binary-row":
      return `ROW ${message.values.map(summarizeBinaryValue).join(" ")}`;
    case "unknown":
      return `UNKNOWN ${message.bytes.length}B${message.reason ? `: ${message.reason}` : ""}`;
    default:
      return summarizeCommand(message);
  }
}

/** What a packet that ends a result set or a response adds to its line. */
function ending(packet: DecodedPacket): string {
  const exchange = packet.exchange;
  if (!exchange || !packet.ends || packet.direction !== "server") return "";
  if (exchange.columnCount > 0 && (packet.message.kind === "eof" || packet.message.kind === "ok")) {
    return ` [resultset ${exchange.columnCount} cols ${exchange.rows} rows]`;
  }
  if (exchange.shape === "prepare" && exchange.statement && packet.ends === "response") {
    const s = exchange.statement;
    return ` [statement ${s.id}: ${s.parameterCount} params ${s.columnCount} cols]`;
  }
  return "";
}

/**
 * The trace line of a packet: `#<connection> C>S|S>C <sequence id> <summary>`.
 *
 * @example
 * ```ts
 * import { formatTraceLine } from "./trace.ts";
 * const line = formatTraceLine(3, {
 *   direction: "client",
 *   sequenceId: 0,
 *   length: 1,
 *   message: { kind: "COM_PING" },
 * });
 * console.assert(line === "#3 C>S 0 COM_PING");
 * ```
 */
export function formatTraceLine(connection: number, packet: DecodedPacket): string {
  const arrow = packet.direction === "client" ? "C>S" : "S>C";
  return `#${connection} ${arrow} ${packet.sequenceId} ${summarizePacket(packet)}${ending(packet)}`;
}

/**
 * The trace line of a packet as JSON: connection, direction, sequence id, kind, length, summary.
 *
 * @example
 * ```ts
 * import { traceJson } from "./trace.ts";
 * const line = traceJson(3, { direction: "client", sequenceId: 0, length: 1, message: { kind: "COM_PING" } });
 * console.assert(JSON.parse(line).kind === "COM_PING");
 * ```
 */
export function traceJson(connection: number, packet: DecodedPacket): string {
  const record: Record<string, unknown> = {
    connection,
    direction: packet.direction,
    sequenceId: packet.sequenceId,
    kind: packet.message.kind,
    length: packet.length,
    summary: summarizePacket(packet) + ending(packet),
  };
  if (packet.exchange) record.command = packet.exchange.index;
  if (packet.ends) record.ends = packet.ends;
  return JSON.stringify(record);
}

const VALUE_LIMIT = 40;

/** A binary-protocol value for a trace: numbers as is, text quoted, bytes as text or hex. */
export function summarizeBinaryValue(value: BinaryValue): string {
  if (value === null) return "NULL";
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  const text = utf8Exact(value.subarray(0, VALUE_LIMIT));
  if (text !== undefined && printable(text)) {
    return JSON.stringify(text) + (value.length > VALUE_LIMIT ? `...(${value.length}B)` : "");
  }
  const shown = Array.from(value.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  return `0x${shown}${value.length > 16 ? `...(${value.length}B)` : ""}`;
}

/** Whether text has no control characters other than tab, newline and carriage return. */
function printable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return false;
  }
  return true;
}
