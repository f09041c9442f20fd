/**
 * Deterministic matching of live requests to recorded exchanges (docs/matching.md is the user's
 * description of these rules; keep the two in step).
 *
 * Data commands go down a ladder, most exact first: the exact normalized request, then the same
 * statement shape with equal literals and parameters, each first on the recorded connection the
 * live one is bound to, then anywhere, unserved first (FIFO, recorded order); then the same again
 * served before (repeats: the last one); then the closest of the same shape (approximate). Session
 * commands (see `SessionClass`) match across connections and are never consumed.
 *
 * @module
 */

import type { Catalog, Exchange, RecordedConnection } from "./catalog.ts";
import type { Request } from "./keys.ts";

/** How a request was answered. */
export type MatchKind =
  /** The same request, not served before. */
  | "exact"
  /** The same request, served before (the recording had fewer of them). */
  | "repeat"
  /** The same statement shape with other literal values or parameters: the closest one. */
  | "approximate"
  /** A session command: served from any connection, not consumed. */
  | "session";

/** A match, or a miss with the recorded request that comes closest. */
export type MatchResult =
  | { kind: MatchKind; exchange: Exchange }
  | { kind: "miss"; closest?: Closest };

/** The recorded request nearest to one that missed. */
export interface Closest {
  exchange: Exchange;
  /** `same statement, 1 of 2 values differ` or `3 tokens differ`. */
  how: string;
  /** Tokens of the statement shapes that differ (0 for the same shape). */
  distance: number;
}

/** A live connection as matching sees it. */
export interface LiveConnection {
  id: number;
  user?: string;
  /** The client's character set: session answers recorded for the same one label columns alike. */
  characterSet?: number;
  /** The recorded connection it follows, once bound. */
  bound?: RecordedConnection;
}

/** Options of {@link Matcher}. */
export interface MatcherOptions {
  /** Serve the closest of the same statement shape when no values are equal. Default true. */
  approximate?: boolean;
  /** Serve an exchange again when every recorded one was served. Default true. */
  repeat?: boolean;
}

/** Recorded exchanges sharing a key, in recorded order, with each connection's own list. */
class Bucket {
  readonly all: Exchange[] = [];
  /**
   * For an exact-key bucket: the bucket of its equal-value key (the same for all its exchanges:
   * equal normalized SQL and values mean equal shape and values), so the hot path builds no key.
   */
  literal?: Bucket;
  #next = 0;
  readonly byConnection = new Map<RecordedConnection, { list: Exchange[]; next: number }>();

  add(exchange: Exchange): void {
    this.all.push(exchange);
    let own = this.byConnection.get(exchange.connection);
    if (!own) {
      own = { list: [], next: 0 };
      this.byConnection.set(exchange.connection, own);
    }
    own.list.push(exchange);
  }

  /** Every exchange was served (uses only grow): the hot path of repeats skips the scans. */
  #drained = false;

  /** The first exchange not served yet, of `connection` or of all. */
  firstUnserved(connection?: RecordedConnection): Exchange | undefined {
    if (this.#drained) return undefined;
    if (connection) {
      const own = this.byConnection.get(connection);
      if (!own) return undefined;
      while (own.next < own.list.length && own.list[own.next].uses > 0) own.next++;
      return own.list[own.next];
    }
    while (this.#next < this.all.length && this.all[this.#next].uses > 0) this.#next++;
    if (this.#next >= this.all.length) this.#drained = true;
    return this.all[this.#next];
  }

  /** The last exchange, of `connection` or of all. */
  last(connection?: RecordedConnection): Exchange | undefined {
    if (connection) return this.byConnection.get(connection)?.list.at(-1);
    return this.all.at(-1);
  }

  /** Per value position: the exchanges by their value there (built when first needed). */
  #positions?: Map<string, Exchange[]>[];

  /**
   * Of the exchanges (of `connection`, or all) that are not LOCAL INFILE and, with
   * `unservedOnly`, not served yet: the one sharing the most values in the same positions with
   * `values`; ties, and none sharing any, go to the earliest. Found through an index of the values
   * by position, looking at no more than {@link CLOSEST_SCAN_LIMIT} entries.
   */
  closest(
    values: readonly string[],
    unservedOnly: boolean,
    connection?: RecordedConnection,
  ): Exchange | undefined {
    const positions = this.#positions ??= indexPositions(this.all);
    const eligible = (e: Exchange) =>
      !e.infile && (!unservedOnly || e.uses === 0) &&
      (connection === undefined || e.connection === connection);
    const shared = new Map<Exchange, number>();
    let work = 0;
    scan: for (let i = 0; i < values.length && i < positions.length; i++) {
      for (const exchange of positions[i].get(values[i]) ?? []) {
        if (++work > CLOSEST_SCAN_LIMIT) break scan;
        if (eligible(exchange)) shared.set(exchange, (shared.get(exchange) ?? 0) + 1);
      }
    }
    let best: Exchange | undefined;
    let bestCount = 0;
    for (const [exchange, count] of shared) {
      if (count > bestCount || (count === bestCount && exchange.order < best!.order)) {
        best = exchange;
        bestCount = count;
      }
    }
    if (best) return best;
    const own = connection ? this.byConnection.get(connection) : undefined;
    const list = connection ? own?.list ?? [] : this.all;
    // Served exchanges before the cursor stay served: start there when only unserved count.
    let i = unservedOnly ? (connection ? own?.next ?? 0 : this.#next) : 0;
    for (const end = Math.min(list.length, i + CLOSEST_SCAN_LIMIT); i < end; i++) {
      if (eligible(list[i])) return list[i];
    }
    return undefined;
  }
}

function indexPositions(exchanges: readonly Exchange[]): Map<string, Exchange[]>[] {
  const positions: Map<string, Exchange[]>[] = [];
  for (const exchange of exchanges) {
    exchange.request.values.forEach((value, i) => {
      positions[i] ??= new Map();
      const list = positions[i].get(value);
      if (list) list.push(exchange);
      else positions[i].set(value, [exchange]);
    });
  }
  return positions;
}

/** How many candidates of one shape "closest" looks at, at most (the first ones in order). */
const CLOSEST_SCAN_LIMIT = 10_000;
/** How many distinct statement shapes a miss is compared with, at most. */
const MISS_SCAN_LIMIT = 5_000;

/**
 * Matches requests of live connections to the exchanges of a {@link Catalog}.
 *
 * @example
 * ```ts ignore
 * const matcher = new Matcher(catalog);
 * const result = matcher.match({ id: 1 }, sqlRequest("query", "SELECT 1", catalog.sql));
 * ```
 */
export class Matcher {
  #catalog: Catalog;
  #approximate: boolean;
  #repeat: boolean;
  /** By the two parts of the exact key (see `Request.exact`). */
  #exact = new Map<string, Map<string, Bucket>>();
  #literal = new Map<string, Bucket>();
  #shape = new Map<string, Bucket>();
  /** One exchange per distinct shape, for the closest candidate of a miss. */
  #shapes = new Map<string, Exchange>();

  constructor(catalog: Catalog, options: MatcherOptions = {}) {
    this.#catalog = catalog;
    this.#approximate = options.approximate ?? true;
    this.#repeat = options.repeat ?? true;
    for (const exchange of catalog.exchanges) {
      const { request } = exchange;
      const [primary, secondary] = request.exact;
      let byPrimary = this.#exact.get(primary);
      if (!byPrimary) {
        byPrimary = new Map();
        this.#exact.set(primary, byPrimary);
      }
      const exact = bucket(byPrimary, secondary);
      exact.add(exchange);
      const literal = bucket(this.#literal, request.literalKey);
      literal.add(exchange);
      exact.literal = literal;
      bucket(this.#shape, request.shapeKey).add(exchange);
      if (!this.#shapes.has(request.shapeKey)) this.#shapes.set(request.shapeKey, exchange);
    }
  }

  /** Finds the answer to `request` on `live`, binding `live` to a recorded connection if due. */
  match(live: LiveConnection, request: Request): MatchResult {
    if (request.session) return this.#session(live, request);
    if (!live.bound) this.#bind(live, request);
    const bound = live.bound;
    const exact = this.#exactBucket(request);
    let exchange = exact && (exact.firstUnserved(bound) ?? exact.firstUnserved());
    if (exchange) return this.#serve("exact", exchange);
    const literal = exact ? exact.literal : this.#literal.get(request.literalKey);
    exchange = literal && (literal.firstUnserved(bound) ?? literal.firstUnserved());
    if (exchange) return this.#serve("exact", exchange);
    if (this.#repeat) {
      exchange = (exact && (exact.last(bound) ?? exact.last())) ??
        (literal && (literal.last(bound) ?? literal.last()));
      if (exchange) return this.#serve("repeat", exchange);
    }
    if (this.#approximate) {
      const found = this.#shape.get(request.shapeKey);
      if (found) {
        exchange = (bound && found.closest(request.values, true, bound)) ??
          found.closest(request.values, true) ??
          (this.#repeat ? found.closest(request.values, false) : undefined);
        if (exchange) return this.#serve("approximate", exchange);
      }
    }
    return { kind: "miss", closest: this.closest(request) };
  }

  #exactBucket(request: Request): Bucket | undefined {
    return this.#exact.get(request.exact[0])?.get(request.exact[1]);
  }

  /** Unbinds a live connection that closed: its recorded connection is free for another. */
  release(live: LiveConnection): void {
    if (live.bound && live.bound.boundTo === live.id) live.bound.boundTo = undefined;
    live.bound = undefined;
  }

  /** Recorded exchanges (session commands excepted) never served, in recorded order. */
  unused(): Exchange[] {
    return this.#catalog.exchanges.filter((e) => e.uses === 0 && !e.request.session);
  }

  /** The recorded request nearest to `request` (for a miss's message). */
  closest(request: Request): Closest | undefined {
    const same = this.#shape.get(request.shapeKey);
    const exchange = same?.closest(request.values, false) ?? same?.all[0];
    if (exchange) {
      const differ = valueDistance(exchange.request.values, request.values);
      const total = Math.max(exchange.request.values.length, request.values.length);
      return {
        exchange,
        distance: 0,
        how: `same statement, ${differ} of ${total} value${total === 1 ? "" : "s"} differ${
          differ === 1 ? "s" : ""
        }`,
      };
    }
    // The smallest edit distance relative to the longer statement (3 of 6 tokens beats 5 of
    // 11), then the smallest distance, then recorded order.
    const tokens = shapeTokens(request.shape);
    let best: Closest | undefined;
    let bestScore = Infinity;
    let scanned = 0;
    for (const exchange of this.#shapes.values()) {
      if (++scanned > MISS_SCAN_LIMIT) break;
      const other = shapeTokens(exchange.request.shape);
      const tokenDistance = editDistance(tokens, other);
      const distance = tokenDistance + (exchange.request.cmd === request.cmd ? 0 : 1);
      const score = distance / Math.max(tokens.length, other.length, 1);
      if (!best || score < bestScore || (score === bestScore && distance < best.distance)) {
        bestScore = score;
        best = {
          exchange,
          distance,
          how: `${tokenDistance} token${tokenDistance === 1 ? "" : "s"} differ${
            tokenDistance === 1 ? "s" : ""
          }`,
        };
      }
    }
    return best;
  }

  #session(live: LiveConnection, request: Request): MatchResult {
    const exact = this.#exactBucket(request);
    for (const found of [exact, exact ? exact.literal : this.#literal.get(request.literalKey)]) {
      if (!found) continue;
      const exchange = (live.bound && found.byConnection.get(live.bound)?.list[0]) ??
        sameClient(found, live) ?? found.all[0];
      return this.#serve("session", exchange);
    }
    return { kind: "miss", closest: this.closest(request) };
  }

  /**
   * Binds an unbound live connection to the free recorded connection whose pending commands
   * start soonest with this request (exact, then equal values, then same shape), preferring
   * recordings of the same user, then recorded order. Without a candidate it stays unbound and
   * is served from any recorded connection.
   */
  #bind(live: LiveConnection, request: Request): void {
    const buckets = [
      this.#exactBucket(request),
      this.#literal.get(request.literalKey),
      this.#shape.get(request.shapeKey),
    ];
    for (const [index, found] of buckets.entries()) {
      if (!found) continue;
      const byShape = index === 2;
      let best: { connection: RecordedConnection; rank: number[] } | undefined;
      for (const [connection] of found.byConnection) {
        if (connection.boundTo !== undefined) continue;
        const exchange = found.firstUnserved(connection);
        if (!exchange || exchange.infile && byShape) continue;
        while (
          connection.progress < connection.exchanges.length &&
          connection.exchanges[connection.progress].uses > 0
        ) connection.progress++;
        const rank = [
          exchange.position - connection.progress,
          live.user !== undefined && connection.login.user === live.user ? 0 : 1,
          connection.order,
        ];
        if (!best || lessThan(rank, best.rank)) best = { connection, rank };
      }
      if (best) {
        best.connection.boundTo = live.id;
        live.bound = best.connection;
        return;
      }
    }
  }

  #serve(kind: MatchKind, exchange: Exchange): MatchResult {
    exchange.uses++;
    return { kind, exchange };
  }
}

function bucket(map: Map<string, Bucket>, key: string): Bucket {
  let found = map.get(key);
  if (!found) {
    found = new Bucket();
    map.set(key, found);
  }
  return found;
}

/**
 * The session answer recorded for the most similar client: the same user (as it was when the
 * command ran, after any COM_CHANGE_USER) and character set, then the same user, then the same
 * character set.
 */
function sameClient(found: Bucket, live: LiveConnection): Exchange | undefined {
  const user = (e: Exchange) =>
    live.user !== undefined && (e.user ?? e.connection.login.user) === live.user;
  const charset = (e: Exchange) =>
    live.characterSet !== undefined && e.connection.login.characterSet === live.characterSet;
  return found.all.find((e) => user(e) && charset(e)) ?? found.all.find(user) ??
    found.all.find(charset);
}

function lessThan(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/** Positions whose values differ, plus the difference in count. */
export function valueDistance(a: readonly string[], b: readonly string[]): number {
  let distance = Math.abs(a.length - b.length);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) distance++;
  return distance;
}

/** A statement shape as tokens: names, `?`, quoted names, single symbols. */
export function shapeTokens(shape: string): string[] {
  return shape.match(/`[^`]*`|[a-z0-9_$@.]+|\?\+?|[^\s]/gi) ?? [];
}

/** Levenshtein distance between token lists. */
export function editDistance(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}
