/**
 * `--redact` rules: what a recording must not contain beyond the default redaction (auth data,
 * passwords in SQL), replaced by consistent pseudonyms.
 *
 * - `query:REGEX`: matches in SQL text (queries, prepared statements), in string parameters of
 *   executes, in long data and LOCAL INFILE data, and in error messages (which echo values:
 *   `Duplicate entry 'alice@example.com'`). With capture groups, only the groups are replaced.
 * - `column:REGEX`: every value of a result column whose name matches (`name`, `orgName`, or
 *   `table.name` / `orgTable.orgName`).
 *
 * Regexes match case-insensitively. A pseudonym is keyed with HMAC-SHA256, so the same input
 * always gives the same output within a recording (joins and repeated lookups still line up), and
 * across recordings made with the same key. Without a key, each recording draws a random one:
 * nobody can then confirm a guess of what a pseudonym hides.
 *
 * Pseudonyms keep a value's type, so clients still parse them and binary rows still encode:
 * strings become `redacted:<12 hex digits>`; numbers keep their sign, digit count and decimal
 * point (an integer that would overflow its column type is reduced into range); dates and times
 * keep their layout with valid fields; BIT values keep their length; NULL stays NULL. A quoted
 * literal matched in SQL keeps its quotes (`'redacted:…'`), a numeric one stays numeric, so the
 * same value in SQL text and in a row gets the same pseudonym.
 *
 * @module
 */

import { createHmac, randomBytes } from "node:crypto";
import { ColumnFlag, ColumnType } from "../protocol/constants.ts";
import type { ColumnDefinition41 } from "../protocol/resultset.ts";
import { redactSqlSecrets } from "../protocol/sql_secrets.ts";
import type { Redactor } from "./assemble.ts";
import type { RedactionInfo } from "./events.ts";
import { bytesToJson, type JsonValue } from "./values.ts";
import { decodeBase64 } from "./base64.ts";

/** One `--redact` rule. */
export interface RedactRule {
  /** `query`: SQL text and values sent; `column`: values of matching result columns. */
  kind: "query" | "column";
  /** What it matches (case-insensitive). */
  pattern: RegExp;
  /** The rule as written (`column:^email$`), for the header. */
  source: string;
}

/**
 * Parses a `--redact` rule: `query:REGEX` or `column:REGEX`.
 *
 * @example
 * ```ts
 * import { parseRedactRule } from "./redact.ts";
 * const rule = parseRedactRule("column:^(email|phone)$");
 * console.assert(rule.kind === "column" && rule.pattern.test("EMAIL"));
 * ```
 */
export function parseRedactRule(text: string): RedactRule {
  const colon = text.indexOf(":");
  const kind = colon < 0 ? "" : text.slice(0, colon);
  if (kind !== "query" && kind !== "column") {
    throw new TypeError(
      `Cannot use redact rule ${
        JSON.stringify(text)
      }: expected query:REGEX (SQL text and values sent) or column:REGEX (result columns by name)`,
    );
  }
  const source = text.slice(colon + 1);
  if (source === "") throw new TypeError(`Cannot use redact rule "${text}": the regex is empty`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(source, kind === "query" ? "gid" : "i");
  } catch (error) {
    throw new TypeError(`Cannot use redact rule "${text}": ${(error as Error).message}`);
  }
  if (kind === "query" && pattern.test("")) {
    throw new TypeError(`Cannot use redact rule "${text}": the regex matches the empty string`);
  }
  return { kind, pattern, source: text };
}

/** Options of {@link createRedactor}. */
export interface RedactorOptions {
  /** Rules, parsed or as written. */
  rules?: (RedactRule | string)[];
  /**
   * The pseudonym key: the same key gives the same pseudonyms in every recording. Default: a
   * random key per redactor (pseudonyms then only line up within one recording).
   */
  key?: string | Uint8Array;
}

/** A {@link Redactor} that also says what it does, for the header. */
export interface RuleRedactor extends Redactor {
  /** The header's `redaction` field. */
  readonly info: RedactionInfo;
}

/**
 * The redactor of a recording: default redaction (passwords in SQL) plus `rules`.
 *
 * @example
 * ```ts
 * import { createRedactor } from "./redact.ts";
 * const redactor = createRedactor({ rules: ["query:'[^']*@[^']*'"], key: "k" });
 * const sql = redactor.sql("SELECT * FROM users WHERE email = 'a@example.com'");
 * console.assert(/email = 'redacted:[0-9a-f]{12}'$/.test(sql));
 * ```
 */
export function createRedactor(options: RedactorOptions = {}): RuleRedactor {
  const rules = (options.rules ?? []).map((r) => typeof r === "string" ? parseRedactRule(r) : r);
  const key = options.key ?? randomBytes(32);
  const pseudonyms = new Pseudonyms(key);
  const queryRules = rules.filter((r) => r.kind === "query").map((r) => r.pattern);
  const columnRules = rules.filter((r) => r.kind === "column").map((r) => r.pattern);
  const info: RedactionInfo = {
    auth: true,
    sqlPasswords: true,
    rules: rules.map((r) => r.source),
  };
  if (rules.length > 0) info.key = options.key === undefined ? "random" : "given";
  const text = (value: string) => {
    let out = value;
    for (const pattern of queryRules) out = replaceMatches(out, pattern, pseudonyms);
    return out;
  };
  return {
    info,
    sql: queryRules.length === 0 ? redactSqlSecrets : (sql) => text(redactSqlSecrets(sql)),
    text: queryRules.length === 0 ? undefined : text,
    // A parameter is matched as the literal it stands for, so `query:'[^']*@[^']*'` hides
    // the same address in `WHERE email = ?` as in `WHERE email = '...'`, with the same pseudonym.
    parameter: queryRules.length === 0 ? undefined : (value) => {
      const literal = `'${value.replaceAll("'", "''")}'`;
      const redacted = text(literal);
      return redacted === literal ? value : redacted.slice(1, -1).replaceAll("''", "'");
    },
    column: columnRules.length === 0 ? undefined : (column, binary) => {
      const names = [
        column.name,
        column.orgName,
        `${column.table}.${column.name}`,
        `${column.orgTable}.${column.orgName}`,
      ];
      if (!columnRules.some((pattern) => names.some((name) => pattern.test(name)))) {
        return undefined;
      }
      return (value) => pseudonyms.value(value, column, binary);
    },
  };
}

/** Replaces each match (or each matched group) of `pattern` in `text`. */
function replaceMatches(text: string, pattern: RegExp, pseudonyms: Pseudonyms): string {
  pattern.lastIndex = 0;
  let out = "";
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    const indices = match.indices!;
    const spans: [number, number][] = [];
    if (match.length === 1) spans.push(indices[0]!);
    for (let group = 1; group < match.length; group++) {
      if (indices[group] !== undefined) spans.push(indices[group]!);
    }
    for (const [start, end] of spans) {
      if (start < last || end === start) continue;
      out += text.slice(last, start) + pseudonyms.literal(text.slice(start, end));
      last = end;
    }
  }
  return last === 0 ? text : out + text.slice(last);
}

const INTEGER_MAX: Partial<Record<number, [signed: number, unsigned: number]>> = {
  [ColumnType.MYSQL_TYPE_TINY]: [0x7f, 0xff],
  [ColumnType.MYSQL_TYPE_SHORT]: [0x7fff, 0xffff],
  [ColumnType.MYSQL_TYPE_INT24]: [0x7fffff, 0xffffff],
  [ColumnType.MYSQL_TYPE_LONG]: [0x7fffffff, 0xffffffff],
  [ColumnType.MYSQL_TYPE_LONGLONG]: [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};
const DECIMAL_TYPES = new Set<number>([
  ColumnType.MYSQL_TYPE_DECIMAL,
  ColumnType.MYSQL_TYPE_NEWDECIMAL,
]);
const DATE_TYPES = new Set<number>([
  ColumnType.MYSQL_TYPE_DATE,
  ColumnType.MYSQL_TYPE_NEWDATE,
  ColumnType.MYSQL_TYPE_DATETIME,
  ColumnType.MYSQL_TYPE_DATETIME2,
  ColumnType.MYSQL_TYPE_TIMESTAMP,
  ColumnType.MYSQL_TYPE_TIMESTAMP2,
]);
const TIME_TYPES = new Set<number>([ColumnType.MYSQL_TYPE_TIME, ColumnType.MYSQL_TYPE_TIME2]);
const NUMBER = /^-?\d+(?:\.\d+)?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?$/;
const TIME = /^(-?)(?:(\d+) )?(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$/;

/** Keyed, deterministic replacements, by kind of value. */
class Pseudonyms {
  #key: string | Uint8Array;

  constructor(key: string | Uint8Array) {
    this.#key = key;
  }

  #digest(input: string | Uint8Array): Uint8Array {
    return createHmac("sha256", this.#key).update(input).digest();
  }

  /** `redacted:` and 12 hex digits. */
  string(input: string | Uint8Array): string {
    const digest = this.#digest(input);
    let hex = "";
    for (let i = 0; i < 6; i++) hex += digest[i].toString(16).padStart(2, "0");
    return `redacted:${hex}`;
  }

  /**
   * The same layout (sign, digit count, decimal point), other digits; the first digit of a
   * number is not 0 unless the number is one digit long (no leading zeros appear).
   */
  number(text: string, leadingZeros = false): string {
    const digest = this.#digest(text);
    let index = 0;
    const digit = () => digest[index++ % digest.length] % 10;
    let out = "";
    let leading = !leadingZeros;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c < "0" || c > "9") {
        out += c;
        leading = !leadingZeros && c === "-";
        continue;
      }
      const next = text[i + 1];
      const first = leading && next !== undefined && next >= "0" && next <= "9";
      out += first ? 1 + (digit() % 9) : digit();
      leading = false;
    }
    return out;
  }

  /** A matched SQL literal: quotes kept, numbers stay numbers. */
  literal(text: string): string {
    const quote = text[0];
    if (text.length >= 2 && (quote === "'" || quote === '"') && text.at(-1) === quote) {
      return quote + this.string(text.slice(1, -1)) + quote;
    }
    return NUMBER.test(text) ? this.number(text) : this.string(text);
  }

  /** A row value of `column`, in the form the row holds it (text or binary protocol). */
  value(value: JsonValue, column: ColumnDefinition41, binary: boolean): JsonValue {
    if (value === null) return null;
    const type = column.type;
    if (typeof value === "object") {
      // Bytes that are not UTF-8: a BIT keeps its length, anything else becomes a string.
      const bytes = decodeBase64(value.base64);
      if (type !== ColumnType.MYSQL_TYPE_BIT) return this.string(bytes);
      const out = new Uint8Array(bytes.length);
      for (let i = 0; i < out.length; i += 32) out.set(this.#digest(bytes).subarray(0, 32), i);
      return bytesToJson(out.subarray(0, bytes.length));
    }
    const text = String(value);
    const limits = INTEGER_MAX[type];
    if ((limits || type === ColumnType.MYSQL_TYPE_YEAR) && /^-?\d+$/.test(text)) {
      let number = Number(this.number(text));
      if (!limits) number = 1901 + (Math.abs(number) % 255);
      else {
        const max = limits[(column.flags & ColumnFlag.UNSIGNED_FLAG) !== 0 ? 1 : 0];
        if (Math.abs(number) > max) number = Math.sign(number) * (Math.abs(number) % (max + 1));
        if (number < 0 && (column.flags & ColumnFlag.UNSIGNED_FLAG) !== 0) number = -number;
      }
      return binary && typeof value === "number" ? number : String(number);
    }
    if (type === ColumnType.MYSQL_TYPE_FLOAT || type === ColumnType.MYSQL_TYPE_DOUBLE) {
      if (typeof value === "number") return Number(this.number(String(Math.trunc(value))));
      return NUMBER.test(text) ? this.number(text) : this.string(text);
    }
    if (DECIMAL_TYPES.has(type) && NUMBER.test(text)) return this.number(text);
    if (DATE_TYPES.has(type) || TIME_TYPES.has(type)) return this.#temporal(text);
    if (type === ColumnType.MYSQL_TYPE_BIT) {
      return bytesToJson(
        this.#digest(text).subarray(0, Math.min(32, new TextEncoder().encode(text).length)),
      );
    }
    return this.string(text);
  }

  #temporal(text: string): JsonValue {
    if (text === "" || !/[1-9]/.test(text)) return text; // a zero date says nothing
    const digest = this.#digest(text);
    let index = 0;
    const field = (original: string | undefined, min: number, span: number) => {
      if (original === undefined) return undefined;
      const n = min + (digest[index++] * 256 + digest[index++]) % span;
      return String(n).padStart(original.length, "0");
    };
    const fraction = (original: string | undefined) =>
      original === undefined ? "" : "." + this.number(original, true);
    const date = DATE.exec(text);
    if (date) {
      const [, year, month, day, hour, minute, second, micros] = date;
      let out = `${field(year, 1970, 60)}-${field(month, 1, 12)}-${field(day, 1, 28)}`;
      if (hour !== undefined) {
        out += ` ${field(hour, 0, 24)}:${field(minute, 0, 60)}:${field(second, 0, 60)}`;
        out += fraction(micros);
      }
      return out;
    }
    const time = TIME.exec(text);
    if (time) {
      const [, sign, days, hours, minutes, seconds, micros] = time;
      const dayPart = days === undefined ? "" : `${field(days, 0, 34)} `;
      return `${sign}${dayPart}${field(hours.slice(-2), 0, 24)}:${field(minutes, 0, 60)}:${
        field(seconds, 0, 60)
      }${fraction(micros)}`;
    }
    return this.string(text);
  }
}
