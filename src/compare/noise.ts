/**
 * Noise rules: what a comparison ignores, in one vocabulary for `verify`, `diff`,
 * `proxy --compare` and replay matching.
 *
 * | rule                       | ignores                                                         |
 * | -------------------------- | --------------------------------------------------------------- |
 * | `column:NAME`              | a result column by name (or `table.name`), any case             |
 * | `column:/REGEX/`           | result columns whose name (or `table.name`) matches             |
 * | `value:/REGEX/`            | a value that matches on both sides (rows, parameters, literals) |
 * | `field:NAME`               | a response field: insertId, affectedRows, info, warnings,       |
 * |                            | connectionId, time, message, metadata                           |
 * | `fingerprint:SQL`          | every statement of that shape (literals do not matter)          |
 *
 * Rules come from flags (`--ignore RULE`) or a JSON file (`--noise FILE`): either a list of rule
 * strings, or `{"ignore": [...]}`.
 *
 * @module
 */

import { fingerprint } from "../record/fingerprint.ts";

/** Response fields a `field:` rule can name. */
export const NOISE_FIELDS = [
  "insertId",
  "affectedRows",
  "info",
  "warnings",
  "connectionId",
  "time",
  "message",
  "metadata",
] as const;

/** One of {@link NOISE_FIELDS}. */
export type NoiseField = typeof NOISE_FIELDS[number];

/** A parsed noise rule. */
export type NoiseRule =
  | { kind: "column"; name?: string; pattern?: RegExp; source: string }
  | { kind: "value"; pattern: RegExp; source: string }
  | { kind: "field"; field: NoiseField; source: string }
  | { kind: "fingerprint"; fingerprint: string; source: string };

/** A rule that does not parse. */
export class NoiseRuleError extends TypeError {
  /** An error naming the rule and what is wrong with it. */
  constructor(message: string) {
    super(message);
    this.name = "NoiseRuleError";
  }
}

function regex(text: string, rule: string): RegExp {
  const match = /^\/(.*)\/([a-z]*)$/s.exec(text);
  if (!match) throw new NoiseRuleError(`Noise rule "${rule}": expected /REGEX/`);
  try {
    return new RegExp(match[1], match[2].includes("i") ? "i" : "");
  } catch (error) {
    throw new NoiseRuleError(`Noise rule "${rule}": ${(error as Error).message}`);
  }
}

function unquote(text: string): string {
  const t = text.trim();
  return /^(["']).*\1$/s.test(t) ? t.slice(1, -1) : t;
}

/**
 * Parses `column:NAME`, `column:/REGEX/`, `value:/REGEX/`, `field:NAME` or `fingerprint:SQL`.
 * Throws a {@link NoiseRuleError} naming what is wrong.
 *
 * @example
 * ```ts
 * import { parseNoiseRule } from "./noise.ts";
 * const rule = parseNoiseRule('fingerprint:"SELECT NOW()"');
 * console.assert(rule.kind === "fingerprint" && rule.fingerprint === "select now()");
 * ```
 */
export function parseNoiseRule(text: string): NoiseRule {
  const colon = text.indexOf(":");
  const kind = colon < 0 ? "" : text.slice(0, colon).trim().toLowerCase();
  const body = colon < 0 ? "" : text.slice(colon + 1);
  switch (kind) {
    case "column": {
      const value = unquote(body);
      if (value === "") throw new NoiseRuleError(`Noise rule "${text}": no column named`);
      if (value.startsWith("/")) return { kind, pattern: regex(value, text), source: text };
      return { kind, name: value.toLowerCase(), source: text };
    }
    case "value":
      return { kind, pattern: regex(unquote(body), text), source: text };
    case "field": {
      const wanted = unquote(body).toLowerCase().replaceAll(/[-_ ]/g, "");
      const field = NOISE_FIELDS.find((f) => f.toLowerCase() === wanted);
      if (!field) {
        throw new NoiseRuleError(
          `Noise rule "${text}": unknown field; use one of ${NOISE_FIELDS.join(", ")}`,
        );
      }
      return { kind, field, source: text };
    }
    case "fingerprint": {
      const sql = unquote(body);
      if (sql === "") throw new NoiseRuleError(`Noise rule "${text}": no statement given`);
      return { kind, fingerprint: fingerprint(sql).fingerprint, source: text };
    }
    default:
      throw new NoiseRuleError(
        `Noise rule "${text}": expected column:NAME, column:/REGEX/, value:/REGEX/, field:NAME ` +
          `or fingerprint:SQL`,
      );
  }
}

/**
 * Reads a noise file: a JSON list of rule strings, or an object with an `ignore` list.
 *
 * @example
 * ```ts ignore
 * const rules = await loadNoiseFile("noise.json"); // ["column:updated_at", "field:insertId"]
 * ```
 */
export async function loadNoiseFile(path: string): Promise<NoiseRule[]> {
  let data: unknown;
  try {
    data = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new NoiseRuleError(`Cannot read noise file ${path}: ${(error as Error).message}`);
  }
  const list = Array.isArray(data) ? data : typeof data === "object" && data !== null &&
      Array.isArray((data as { ignore?: unknown }).ignore)
    ? (data as { ignore: unknown[] }).ignore
    : undefined;
  if (!list || !list.every((r) => typeof r === "string")) {
    throw new NoiseRuleError(
      `Noise file ${path}: expected a list of rule strings or {"ignore": [...]}`,
    );
  }
  return list.map((rule, i) => {
    try {
      return parseNoiseRule(rule);
    } catch (error) {
      throw new NoiseRuleError(`Noise file ${path}, rule ${i + 1}: ${(error as Error).message}`);
    }
  });
}

/** A placeholder no real value equals: what a noisy value becomes in keys and comparisons. */
export const NOISE_TOKEN = "\u0000noise";

/**
 * Compiled rules, asked per column, value, field and statement.
 *
 * @example
 * ```ts
 * import { Noise, parseNoiseRule } from "./noise.ts";
 * const noise = new Noise(["column:updated_at", "value:/^\\d{4}-/"].map(parseNoiseRule));
 * console.assert(noise.ignoresColumn("UPDATED_AT") && noise.maskValue("2024-01-01") !== "2024-01-01");
 * ```
 */
export class Noise {
  /** The rules, as written. */
  readonly rules: readonly NoiseRule[];
  #names: Set<string>;
  #columnPatterns: RegExp[];
  #values: RegExp[];
  #fields: Set<NoiseField>;
  #fingerprints: Set<string>;

  /** A set of rules, ready to apply. */
  constructor(rules: readonly NoiseRule[] = []) {
    this.rules = rules;
    this.#names = new Set(rules.flatMap((r) => r.kind === "column" && r.name ? [r.name] : []));
    this.#columnPatterns = rules.flatMap((r) =>
      r.kind === "column" && r.pattern ? [r.pattern] : []
    );
    this.#values = rules.flatMap((r) => r.kind === "value" ? [r.pattern] : []);
    this.#fields = new Set(rules.flatMap((r) => r.kind === "field" ? [r.field] : []));
    this.#fingerprints = new Set(
      rules.flatMap((r) => r.kind === "fingerprint" ? [r.fingerprint] : []),
    );
  }

  /** Whether there are no rules. */
  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Whether a result column (by its name, and its table when known) is ignored. */
  ignoresColumn(name: string, table?: string): boolean {
    const names = [name.toLowerCase()];
    if (table) names.push(`${table}.${name}`.toLowerCase());
    return names.some((n) => this.#names.has(n)) ||
      this.#columnPatterns.some((p) => names.some((n) => p.test(n)));
  }

  /** Whether a response field is ignored. */
  ignoresField(field: NoiseField): boolean {
    return this.#fields.has(field);
  }

  /** Whether a statement (its SQL, or its fingerprint) is ignored altogether. */
  ignoresStatement(sql: string): boolean {
    return this.#fingerprints.size > 0 && this.#fingerprints.has(fingerprint(sql).fingerprint);
  }

  /** Whether a fingerprint is ignored altogether. */
  ignoresFingerprint(shape: string): boolean {
    return this.#fingerprints.has(shape);
  }

  /** Whether a value (as text) matches a `value:` rule. */
  isNoisyValue(text: string): boolean {
    return this.#values.some((p) => p.test(text));
  }

  /**
   * A value as comparisons and replay keys should see it: {@link NOISE_TOKEN} when a `value:`
   * rule matches its text, else the value itself. Two values that both match are then equal.
   */
  maskValue<T>(value: T): T | string {
    if (this.#values.length === 0 || value === null || value === undefined) return value;
    const text = typeof value === "string"
      ? value
      : typeof value === "number"
      ? String(value)
      : undefined;
    return text !== undefined && this.isNoisyValue(text) ? NOISE_TOKEN : value;
  }
}
