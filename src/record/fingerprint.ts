/**
 * SQL normalization and fingerprints, shared by replay matching, `inspect` digests and compare.
 *
 * - {@link normalizeSql}: the same statement however it was typed: comments and the trailing `;`
 *   dropped, whitespace collapsed. Literals are kept.
 * - {@link fingerprint}: the statement's shape, like pt-query-digest's: literals replaced by `?`,
 *   `IN (?, ?, ?)` collapsed to `IN (?+)`, multi-row `VALUES (...), (...)` to one row, keywords
 *   in lower case. The literals come back separately, in order, so two statements of the same
 *   shape can still be told apart by their values.
 *
 * MySQL's executable comments (`/*!40101 ... *\/`) hold SQL and are kept; other comments
 * (including optimizer hints and tracing comments like `/* request-id: 42 *\/`) are dropped.
 *
 * @module
 */

type Token =
  | { kind: "word"; text: string }
  | { kind: "literal"; text: string }
  | { kind: "quoted-name"; text: string }
  | { kind: "symbol"; text: string };

const WORD = /[A-Za-z0-9_$@.\u0080-\uffff]/;

/** Splits SQL into words, literals, quoted names and symbols; comments and whitespace go. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") {
      i++;
    } else if (c === "#" || (c === "-" && sql[i + 1] === "-" && /[\s]|$/.test(sql[i + 2] ?? ""))) {
      while (i < n && sql[i] !== "\n") i++;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      if (sql[i + 2] === "!") {
        // Executable comment: its version number goes, its SQL stays.
        const body = sql.slice(i + 3, end < 0 ? n : end).replace(/^\d{5,6}/, "");
        tokens.push(...tokenize(body));
      }
      i = stop;
    } else if (c === "'" || c === '"') {
      const start = i;
      i = skipQuoted(sql, i, c);
      // ANSI_QUOTES aside, double quotes are strings in MySQL.
      tokens.push({ kind: "literal", text: sql.slice(start, i) });
    } else if (c === "`") {
      const start = i;
      i = skipQuoted(sql, i, "`");
      tokens.push({ kind: "quoted-name", text: sql.slice(start, i) });
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      const start = i;
      if (c === "0" && (sql[i + 1] === "x" || sql[i + 1] === "b")) {
        i += 2;
        while (i < n && /[0-9a-fA-F]/.test(sql[i])) i++;
      } else {
        while (i < n && /[0-9.]/.test(sql[i])) i++;
        if ((sql[i] === "e" || sql[i] === "E") && /[-+0-9]/.test(sql[i + 1] ?? "")) {
          i += 2;
          while (i < n && /[0-9]/.test(sql[i])) i++;
        }
      }
      if (i < n && WORD.test(sql[i]) && sql[i] !== ".") {
        // An identifier that starts with digits (`1table`).
        while (i < n && WORD.test(sql[i])) i++;
        tokens.push({ kind: "word", text: sql.slice(start, i) });
      } else tokens.push({ kind: "literal", text: sql.slice(start, i) });
    } else if ((c === "x" || c === "X" || c === "b" || c === "B") && sql[i + 1] === "'") {
      const start = i;
      i = skipQuoted(sql, i + 1, "'");
      tokens.push({ kind: "literal", text: sql.slice(start, i) });
    } else if (WORD.test(c)) {
      const start = i;
      while (i < n && WORD.test(sql[i])) i++;
      tokens.push({ kind: "word", text: sql.slice(start, i) });
    } else {
      const two = sql.slice(i, i + 2);
      const symbol = ["<=", ">=", "<>", "!=", ":=", "||", "&&", "<<", ">>"].includes(two) ? two : c;
      tokens.push({ kind: "symbol", text: symbol });
      i += symbol.length;
    }
  }
  return tokens;
}

function skipQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "\\" && quote !== "`") i += 2;
    else if (c === quote) {
      if (sql[i + 1] === quote) i += 2; // doubled quote
      else return i + 1;
    } else i++;
  }
  return sql.length;
}

function join(tokens: readonly string[]): string {
  let out = "";
  for (const token of tokens) {
    if (out === "") out = token;
    else if (token === "," || token === ")" || token === ";" || out.endsWith("(")) out += token;
    else if (
      token === "(" && /[A-Za-z0-9_`]$/.test(out) && !/\b(in|values|and|or|not|on)$/i.test(out)
    ) {
      out += token; // a function call: COUNT(*)
    } else out += " " + token;
  }
  return out;
}

function dropTrailingSemicolons(tokens: Token[]): Token[] {
  let end = tokens.length;
  while (end > 0 && tokens[end - 1].kind === "symbol" && tokens[end - 1].text === ";") end--;
  return tokens.slice(0, end);
}

/**
 * The statement without comments, trailing `;` or extra whitespace; literals and case kept.
 *
 * @example
 * ```ts
 * import { normalizeSql } from "./fingerprint.ts";
 * console.assert(normalizeSql("SELECT  *\n FROM t /* trace *\/ WHERE id = 1 ;") === "SELECT * FROM t WHERE id = 1");
 * ```
 */
export function normalizeSql(sql: string): string {
  return join(dropTrailingSemicolons(tokenize(sql)).map((t) => t.text));
}

/** A statement's shape and the literals that were taken out of it. */
export interface Fingerprint {
  /** Lower-case keywords and names, literals as `?`, lists collapsed. */
  fingerprint: string;
  /** The literals, in order, as written (strings with their quotes). */
  literals: string[];
}

/**
 * The statement's shape with literals replaced, and the literals.
 *
 * @example
 * ```ts
 * import { fingerprint } from "./fingerprint.ts";
 * const f = fingerprint("SELECT c FROM sbtest1 WHERE id IN (1, 2, 3) AND k = 'x'");
 * console.assert(f.fingerprint === "select c from sbtest1 where id in (?+) and k = ?");
 * console.assert(f.literals.join() === "1,2,3,'x'");
 * ```
 */
export function fingerprint(sql: string): Fingerprint {
  const tokens = dropTrailingSemicolons(tokenize(sql));
  const literals: string[] = [];
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.kind === "literal") {
      // A negative number is one literal: the sign goes with it when it follows an operator.
      if (out.at(-1) === "-" && isOperatorContext(out.at(-2))) {
        out.pop();
        literals.push(`-${token.text}`);
      } else literals.push(token.text);
      out.push("?");
      continue;
    }
    if (token.kind === "word" && /^null$/i.test(token.text)) {
      out.push("null");
      continue;
    }
    out.push(token.kind === "word" ? token.text.toLowerCase() : token.text);
  }
  return { fingerprint: collapseLists(join(out)), literals };
}

function isOperatorContext(token: string | undefined): boolean {
  return token === undefined ||
    /^(=|<|>|<=|>=|<>|!=|\(|,|\+|-|\*|\/|in|and|or|not|values|select|where|by)$/i.test(token);
}

/** `in (?, ?, ?)` -> `in (?+)`; `values (?, ?), (?, ?)` -> `values (?, ?)`. */
function collapseLists(text: string): string {
  return text
    .replace(/\bin \(\?(?:, \?)*\)/g, "in (?+)")
    .replace(/\b(values|value) (\([^()]*\))(?:, \([^()]*\))+/g, "$1 $2");
}
