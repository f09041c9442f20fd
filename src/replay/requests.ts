/**
 * Live commands as requests: what a client's command asks, in the terms recorded commands are
 * keyed on (src/replay/keys.ts), with the same field names the recorder writes.
 *
 * @module
 */

import type { ClientCommand } from "../protocol/commands.ts";
import { boundParameterTypes } from "../protocol/statement.ts";
import { redactSqlSecrets } from "../protocol/sql_secrets.ts";
import { binaryValueToJson, bytesToJson, messageToJson } from "../record/values.ts";
import {
  canonicalValue,
  LONG_DATA_VALUE,
  otherRequest,
  type RecordedText,
  type Request,
  sqlRequest,
  useRequest,
} from "./keys.ts";
import type { Catalog } from "./catalog.ts";
import type { LiveStatement } from "./respond.ts";
import type { Redactor } from "../record/assemble.ts";

/**
 * The request a command makes, or the text of the error it gets instead (`unknown-statement` for
 * a statement id the client never prepared).
 *
 * @example
 * ```ts ignore
 * const request = requestOf(command, catalog, { get: (id) => statements.get(id) });
 * ```
 */
export function requestOf(
  command: ClientCommand,
  catalog: Catalog,
  lookup: { get(id: number): LiveStatement | undefined },
): Request | string {
  const cache = catalog.sql;
  switch (command.kind) {
    case "COM_QUERY":
      return sqlRequest("query", sqlText(command, catalog.redactor), cache);
    case "COM_STMT_PREPARE":
      return sqlRequest("stmt-prepare", sqlText(command, catalog.redactor), cache);
    case "COM_STMT_EXECUTE": {
      const statement = lookup.get(command.statementId);
      if (!statement) return "unknown-statement";
      if (command.undecoded !== undefined) {
        return `Replay cannot read the parameters of statement ${command.statementId}: ` +
          `their types were never sent`;
      }
      if (command.newParamsBound) statement.previousTypes = boundParameterTypes(command);
      const redact = catalog.redactor?.parameter;
      const params = command.params.map((p) => {
        if ("longData" in p) return LONG_DATA_VALUE;
        const value = binaryValueToJson(p.value, p.type);
        return canonicalValue(redact && typeof value === "string" ? redact(value) : value);
      });
      statement.longData.clear();
      return sqlRequest("stmt-execute", statement.sql, cache, params);
    }
    case "COM_STMT_FETCH": {
      const statement = lookup.get(command.statementId);
      if (!statement) return "unknown-statement";
      return sqlRequest("stmt-fetch", statement.sql, cache, [], String(command.rowCount));
    }
    case "COM_INIT_DB":
      return useRequest(command.schema);
    case "COM_FIELD_LIST": {
      const fields: Record<string, unknown> = {
        table: command.tableBytes ? bytesToJson(command.tableBytes) : command.table,
      };
      if (command.wildcard !== "" || command.wildcardBytes) {
        fields.wildcard = command.wildcardBytes
          ? bytesToJson(command.wildcardBytes)
          : command.wildcard;
      }
      return otherRequest("field-list", fields);
    }
    default:
      return otherRequest(cmdName(command.kind), otherFields(command));
  }
}

/**
 * SQL as recordings hold it: passwords masked (and the recording's `--redact` rules applied, when
 * replay was given their key), bytes that are not UTF-8 as base64.
 *
 * @example
 * ```ts
 * import { sqlText } from "./requests.ts";
 * console.assert(sqlText({ sql: "SET PASSWORD = 'x'" }) === "SET PASSWORD = '***'");
 * ```
 */
export function sqlText(
  command: { sql: string; sqlBytes?: Uint8Array },
  redactor?: Redactor,
): RecordedText {
  if (command.sqlBytes) return bytesToJson(command.sqlBytes);
  return redactor ? redactor.sql(command.sql) : redactSqlSecrets(command.sql);
}

function cmdName(kind: string): string {
  return kind === "unknown"
    ? "unknown"
    : kind.replace(/^COM_/, "").toLowerCase().replaceAll("_", "-");
}

/** The fields the recorder writes for the commands without SQL (see src/record/assemble.ts). */
function otherFields(command: ClientCommand): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  switch (command.kind) {
    case "COM_PROCESS_KILL":
      fields.id = command.connectionId;
      break;
    case "COM_SET_OPTION":
      fields.option = command.option;
      break;
    case "COM_REFRESH":
      fields.flags = command.flags;
      break;
    case "COM_SHUTDOWN":
      if (command.level !== undefined) fields.level = command.level;
      break;
    case "COM_CREATE_DB":
    case "COM_DROP_DB":
      fields.schema = command.schemaBytes ? bytesToJson(command.schemaBytes) : command.schema;
      break;
    case "unknown":
      fields.bytes = bytesToJson(command.bytes);
      break;
  }
  if ("body" in command) fields.body = bytesToJson(command.body);
  if ("trailing" in command && command.trailing) fields.trailing = messageToJson(command.trailing);
  return fields;
}
