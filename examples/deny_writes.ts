/**
 * A read-only gate: statements that write (INSERT, UPDATE, DELETE, REPLACE, DDL, LOAD DATA,
 * GRANT...) get ERR 1290, as from a server started with --read-only; reads go to the server.
 *
 *     deno run -A mod.ts proxy --server 127.0.0.1:3306 --script examples/deny_writes.ts
 *
 * @module
 */

import { errorAnswer, type Hooks } from "../mod.ts";

/** The first keyword of a statement, after comments and parentheses. */
function firstKeyword(sql: string): string {
  const stripped = sql.replace(/\/\*(?!!)[\s\S]*?\*\/|(?:--\s|#)[^\n]*\n?/g, " ").trimStart()
    .replace(/^\(+/, "");
  return (/^[A-Za-z]+/.exec(stripped)?.[0] ?? "").toUpperCase();
}

const WRITES = new Set([
  "INSERT",
  "UPDATE",
  "DELETE",
  "REPLACE",
  "CREATE",
  "ALTER",
  "DROP",
  "TRUNCATE",
  "RENAME",
  "LOAD",
  "GRANT",
  "REVOKE",
  "LOCK",
  "SET",
  "CALL",
  "HANDLER",
  "OPTIMIZE",
  "REPAIR",
  "IMPORT",
]);

/** `SET` is a write only for PASSWORD/ROLE/GLOBAL; session variables are fine. */
function writes(sql: string): boolean {
  const keyword = firstKeyword(sql);
  if (keyword === "SET") {
    return /^\s*SET\s+(PASSWORD|ROLE|DEFAULT\s+ROLE|GLOBAL|@@GLOBAL)/i.test(sql);
  }
  if (keyword === "WITH") return /\b(UPDATE|DELETE|INSERT)\b/i.test(sql);
  return WRITES.has(keyword);
}

export default {
  readQuery({ command, sql }) {
    const isStatement = command.kind === "COM_QUERY" || command.kind === "COM_STMT_PREPARE";
    if (isStatement && sql !== undefined && writes(sql)) {
      return errorAnswer(
        1290,
        "The MariaDB server is running with the --read-only option so it cannot execute this statement",
      );
    }
    return undefined;
  },
} satisfies Hooks;
