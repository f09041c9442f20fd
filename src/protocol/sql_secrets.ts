/**
 * Finding passwords in SQL text, so traces and recordings never show them.
 *
 * @module
 */

const QUOTED = String.raw`'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"`;
const SECRETS = [
  // CREATE/ALTER USER ... IDENTIFIED [WITH|VIA plugin] BY|AS|USING 'secret', GRANT ... IDENTIFIED BY
  new RegExp(
    String
      .raw`(IDENTIFIED\s+(?:(?:WITH|VIA)\s+\S+\s+)?(?:BY|AS|USING)\s+(?:PASSWORD\s+)?)(${QUOTED})`,
    "gi",
  ),
  // PASSWORD('secret'), OLD_PASSWORD('secret')
  new RegExp(String.raw`(PASSWORD\s*\(\s*)(${QUOTED})`, "gi"),
  // SET PASSWORD [FOR user] = 'secret'
  new RegExp(String.raw`(SET\s+PASSWORD\b[^=]*=\s*)(${QUOTED})`, "gi"),
  // CHANGE MASTER TO MASTER_PASSWORD = 'secret'
  new RegExp(String.raw`((?:MASTER|SOURCE)_PASSWORD\s*=\s*)(${QUOTED})`, "gi"),
];

// Every pattern above needs one of these words; most SQL has neither, and this one scan is cheap.
const MAYBE_SECRET = /password|identified/i;

/** The placeholder that replaces a secret literal. */
export const REDACTED_LITERAL = "'***'";

/**
 * Replaces passwords in the places SQL carries them (`IDENTIFIED BY '...'`, `PASSWORD('...')`,
 * `SET PASSWORD = '...'`, `MASTER_PASSWORD = '...'`) with `'***'`. Everything else, whitespace
 * included, is left as it is.
 *
 * @example
 * ```ts
 * import { redactSqlSecrets } from "./sql_secrets.ts";
 * console.assert(
 *   redactSqlSecrets("CREATE USER a IDENTIFIED BY 'hunter2'") === "CREATE USER a IDENTIFIED BY '***'",
 * );
 * ```
 */
export function redactSqlSecrets(sql: string): string {
  if (!MAYBE_SECRET.test(sql)) return sql;
  let text = sql;
  for (const pattern of SECRETS) text = text.replace(pattern, `$1${REDACTED_LITERAL}`);
  return text;
}
