/**
 * Rewrites queries on their way to the server: tags every statement with a comment naming the
 * client's connection (visible in the server's process list and slow log), and caps SELECTs that
 * have no LIMIT at 1000 rows.
 *
 *     deno run -A mod.ts proxy --server 127.0.0.1:3306 --script examples/rewrite.ts
 *
 * @module
 */

import { type Hooks, rewrite } from "../mod.ts";

const CAP = 1000;

export default {
  readQuery({ command, sql }, connection) {
    if (command.kind !== "COM_QUERY" || sql === undefined) return undefined;
    let text = sql.trim().replace(/;\s*$/, "");
    // A top-level SELECT without LIMIT (not SELECT ... INTO, FOR UPDATE or a UNION's parts).
    if (
      /^SELECT\b/i.test(text) && !/\bLIMIT\s+\d/i.test(text) &&
      !/\b(INTO|FOR\s+UPDATE|UNION)\b/i.test(text)
    ) {
      text = `${text} LIMIT ${CAP}`;
    }
    return rewrite(`/* proxy conn=${connection.id} user=${connection.user ?? "?"} */ ${text}`);
  },
} satisfies Hooks;
