/**
 * Column definitions in a recording: the compact JSON form of ColumnDefinition41, and the
 * registry that writes each distinct set once and refers to it by id.
 *
 * @module
 */

import type { ColumnDefinition41, ExtendedMetadata } from "../protocol/resultset.ts";
import type { ColumnJson, ColumnsEvent } from "./events.ts";
import {
  bytesToJson,
  jsonToBytes,
  jsonToMessage,
  messageToJson,
  typeFromName,
  typeName,
} from "./values.ts";

const MAIN_FIELDS = new Set([
  "kind",
  "catalog",
  "schema",
  "table",
  "orgTable",
  "name",
  "orgName",
  "extendedMetadata",
  "characterSet",
  "columnLength",
  "type",
  "flags",
  "decimals",
  "defaultValue",
]);

/** A column definition in its recording form. */
export function columnToJson(column: ColumnDefinition41): ColumnJson {
  const json: ColumnJson = {
    name: column.name,
    type: typeName(column.type),
    length: column.columnLength,
    charset: column.characterSet,
    flags: column.flags,
  };
  if (column.table) json.table = column.table;
  if (column.orgTable) json.orgTable = column.orgTable;
  if (column.orgName) json.orgName = column.orgName;
  if (column.schema) json.schema = column.schema;
  if (column.catalog !== "def") json.catalog = column.catalog;
  if (column.decimals !== 0) json.decimals = column.decimals;
  const extended = column.extendedMetadata;
  if (extended?.dataTypeName !== undefined) json.dataType = extended.dataTypeName;
  if (extended?.formatName !== undefined) json.format = extended.formatName;
  if (column.defaultValue !== undefined) {
    json.default = column.defaultValue === null ? null : bytesToJson(column.defaultValue);
  }
  const exact: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(column)) {
    if (!MAIN_FIELDS.has(key) && value !== undefined) exact[key] = messageToJson(value);
  }
  if (extended?.raw !== undefined) exact.extendedMetadataRaw = messageToJson(extended.raw);
  if (Object.keys(exact).length > 0) json.exact = exact;
  return json;
}

/**
 * Reads a column written by {@link columnToJson}. `extendedMetadata` says whether the connection
 * negotiated MariaDB's extended metadata (then every definition carries the block).
 */
export function jsonToColumn(
  json: ColumnJson,
  extendedMetadata: boolean,
  where: string,
): ColumnDefinition41 {
  if (typeof json !== "object" || json === null || typeof json.name !== "string") {
    throw new TypeError(`${where}: a column needs a "name"`);
  }
  for (const key of ["length", "charset", "flags"] as const) {
    if (typeof json[key] !== "number") throw new TypeError(`${where}: "${key}" must be a number`);
  }
  const column: ColumnDefinition41 = {
    kind: "column-definition",
    catalog: json.catalog ?? "def",
    schema: json.schema ?? "",
    table: json.table ?? "",
    orgTable: json.orgTable ?? "",
    name: json.name,
    orgName: json.orgName ?? "",
    characterSet: json.charset,
    columnLength: json.length,
    type: typeFromName(json.type, where),
    flags: json.flags,
    decimals: json.decimals ?? 0,
  };
  const exact = (json.exact ?? {}) as Record<string, unknown>;
  if (extendedMetadata) {
    const extended: ExtendedMetadata = {};
    if (json.dataType !== undefined) extended.dataTypeName = json.dataType;
    if (json.format !== undefined) extended.formatName = json.format;
    if (exact.extendedMetadataRaw !== undefined) {
      extended.raw = jsonToMessage(exact.extendedMetadataRaw) as ExtendedMetadata["raw"];
    }
    column.extendedMetadata = extended;
  }
  if (json.default !== undefined) {
    column.defaultValue = json.default === null ? null : jsonToBytes(json.default, where);
  }
  for (const [key, value] of Object.entries(exact)) {
    if (key !== "extendedMetadataRaw") {
      (column as unknown as Record<string, unknown>)[key] = jsonToMessage(value);
    }
  }
  return column;
}

/**
 * Gives each distinct column set an id, shared by every connection of a recording; a set seen for
 * the first time is announced (as a `columns` event) before the event that uses it.
 */
export class ColumnRegistry {
  #ids = new Map<string, number>();
  /**
   * Sets seen before, by their first definition object: a prepared statement's executes reuse
   * the same decoded definitions, so most lookups need no JSON at all.
   */
  #seen = new WeakMap<ColumnDefinition41, { columns: ColumnDefinition41[]; id: number }[]>();
  #recent = new Map<string, { columns: ColumnDefinition41[]; id: number }[]>();
  #emit: (event: ColumnsEvent) => void;

  constructor(emit: (event: ColumnsEvent) => void) {
    this.#emit = emit;
  }

  /** Number of distinct sets so far. */
  get size(): number {
    return this.#ids.size;
  }

  /** The id of a column set, announcing it first if it is new. */
  idOf(columns: readonly ColumnDefinition41[]): number {
    const first = columns[0];
    const seen = first === undefined ? undefined : this.#seen.get(first);
    if (seen) {
      for (const entry of seen) {
        if (
          entry.columns.length === columns.length && entry.columns.every((c, i) => c === columns[i])
        ) return entry.id;
      }
    }
    // Text result sets decode fresh definitions each time: compare them field by field with the
    // sets seen last under the same first column name (equal fields give equal recording forms),
    // which is much cheaper than building and serializing their recording form.
    const key = first === undefined ? "" : `${columns.length}\u0000${first.name}`;
    let recent = this.#recent.get(key);
    let id = recent?.find((entry) => sameDefinitions(entry.columns, columns))?.id;
    if (id === undefined) {
      id = this.#idOfJson(columns);
      if (!recent) {
        recent = [];
        this.#recent.set(key, recent);
      }
      if (recent.length >= 8) recent.shift();
      recent.push({ columns: [...columns], id });
    }
    if (first !== undefined) {
      const entries = seen ?? [];
      if (entries.length < 8) entries.push({ columns: [...columns], id });
      this.#seen.set(first, entries);
    }
    return id;
  }

  #idOfJson(columns: readonly ColumnDefinition41[]): number {
    const json = columns.map(columnToJson);
    const key = JSON.stringify(json);
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.#ids.size + 1;
      this.#ids.set(key, id);
      this.#emit({ type: "columns", id, columns: json });
    }
    return id;
  }
}

function sameDefinitions(a: readonly ColumnDefinition41[], b: readonly ColumnDefinition41[]) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !sameValue(a[i], b[i])) return false;
  }
  return true;
}

/** Deep equality over what decoded definitions hold: primitives, Uint8Arrays, plain objects. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) {
      return false;
    }
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let count = 0;
  for (const key in x) {
    if (x[key] === undefined) continue;
    count++;
    if (!sameValue(x[key], y[key])) return false;
  }
  for (const key in y) if (y[key] !== undefined) count--;
  return count === 0;
}
