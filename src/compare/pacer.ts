/**
 * Keeps the order between connections that the recording shows: a command is sent only once
 * every command that had finished before it started in the recording (on other connections) has
 * finished live. Commands that overlapped in the recording may run at the same time, so a
 * session that waited on another's lock replays without deadlock.
 *
 * Waits only ever go to commands that ended strictly earlier in the recording, so they cannot form
 * a cycle; commands of connections not yet opened (a cap on open connections) are not waited for.
 *
 * @module
 */

/** One recorded command as the pacer sees it. */
export interface PacedCommand {
  conn: number;
  /** Recorded start, microseconds. */
  start: number;
  /** Recorded end, microseconds (the start for commands without a response). */
  end: number;
}

interface Waiter {
  need: number;
  conn: number;
  resolve: () => void;
}

interface Entry extends PacedCommand {
  done: boolean;
}

/**
 * Orders commands of several connections by their recorded times.
 *
 * @example
 * ```ts
 * import { Pacer } from "./pacer.ts";
 * const pacer = new Pacer([{ conn: 1, start: 0, end: 10 }, { conn: 2, start: 20, end: 30 }]);
 * pacer.admit(1);
 * pacer.admit(2);
 * const second = pacer.turn(1); // conn 2's command waits for conn 1's
 * pacer.done(0);
 * await second;
 * ```
 */
export class Pacer {
  #entries: Entry[];
  /** Indexes into #entries, by recorded end. */
  #byEnd: number[];
  /** Entries before this position of #byEnd are done (or not waited for). */
  #prefix = 0;
  #admitted = new Set<number>();
  #waiters: Waiter[] = [];
  #stopped = false;

  constructor(commands: readonly PacedCommand[]) {
    this.#entries = commands.map((c) => ({ ...c, done: false }));
    this.#byEnd = this.#entries.map((_, i) => i).sort((a, b) =>
      this.#entries[a].end - this.#entries[b].end || a - b
    );
  }

  /** Connection `conn` is open: its commands are waited for from now on. */
  admit(conn: number): void {
    this.#admitted.add(conn);
  }

  /** Connection `conn` will send nothing more: whatever of it is left is not waited for. */
  retire(conn: number): void {
    for (const entry of this.#entries) if (entry.conn === conn) entry.done = true;
    this.#advance();
  }

  /**
   * Resolves when command `index` (its position in the constructor's list) may be sent: every
   * command of another admitted connection that ended before it started is done.
   */
  turn(index: number): Promise<void> {
    const { start, conn } = this.#entries[index];
    // How many commands (by end) ended before this one started.
    let low = 0;
    let high = this.#byEnd.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.#entries[this.#byEnd[middle]].end < start) low = middle + 1;
      else high = middle;
    }
    if (this.#stopped || this.#ready(low, conn)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ need: low, conn, resolve }));
  }

  /** Command `index` finished (or was skipped). */
  done(index: number): void {
    this.#entries[index].done = true;
    this.#advance();
  }

  /** Lets every waiter (and every later turn) go at once: driving stops. */
  stop(): void {
    this.#stopped = true;
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters = [];
  }

  #skippable(entry: Entry): boolean {
    return entry.done || !this.#admitted.has(entry.conn);
  }

  #ready(need: number, conn: number): boolean {
    if (this.#prefix >= need) return true;
    // Past the prefix, commands of the waiter's own connection cannot block it (they ran before).
    for (let i = this.#prefix; i < need; i++) {
      const entry = this.#entries[this.#byEnd[i]];
      if (!this.#skippable(entry) && entry.conn !== conn) return false;
    }
    return true;
  }

  #advance(): void {
    while (
      this.#prefix < this.#byEnd.length &&
      this.#skippable(this.#entries[this.#byEnd[this.#prefix]])
    ) this.#prefix++;
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (this.#ready(waiter.need, waiter.conn)) waiter.resolve();
      else still.push(waiter);
    }
    this.#waiters = still;
  }
}
