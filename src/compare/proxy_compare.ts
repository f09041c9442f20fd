/**
 * `proxy --compare`: a tap that decodes each relayed connection (after the relay handed the bytes
 * on), turns every command and its response into recording form, matches it to the recording by
 * replay's rules and compares the answers. Comparisons run in macrotasks of their own, so the
 * relay's next read never waits for them.
 *
 * @module
 */

import type { ConnectionInfo, ConnectionTap } from "../session/tap.ts";
import { createSessionTap } from "../session/tap.ts";
import { ConnectionRecorder } from "../record/assemble.ts";
import { CommandMerger, type RecordedCommand } from "../record/merge.ts";
import type { CommandEvent } from "../record/events.ts";
import type { Logger } from "../log.ts";
import type { CompareOptions } from "./compare.ts";
import { LiveColumns } from "./live_record.ts";
import { MatchedConnection, type MatchTarget } from "./matched.ts";
import type { Example, ReportBuilder } from "./report.ts";

/** Options of {@link compareTap}. */
export interface CompareTapOptions {
  target: MatchTarget;
  builder: ReportBuilder;
  compare: CompareOptions;
  logger?: Logger;
  /** Called for each command that differs, as it happens. */
  onDifference?: (example: Example) => void;
  /**
   * Decode and compare during the tap's calls, keeping no copy of the chunks: for a thread of
   * its own (the comparing worker), where nothing else waits. Default: after the relay, in
   * macrotasks of their own.
   */
  inline?: boolean;
  /** The clock, in microseconds (default: this thread's, from when the tap was made). */
  now?: () => number;
}

/** A comparing connection's tap; `stop()` leaves the rest of the connection uncompared. */
export type ComparingTap = ConnectionTap & { stop(reason: string): void };

/** A tap factory for `startProxy`, plus a way to wait until every comparison ran. */
export interface CompareTap {
  tap(info: ConnectionInfo): ComparingTap;
  /** Resolves once every command seen so far was compared. */
  settled(): Promise<void>;
}

/**
 * Makes the tap that compares live traffic with a recording.
 *
 * @example
 * ```ts ignore
 * const compare = compareTap({ target, builder, compare: { noise } });
 * await using proxy = await startProxy({ listen, server, tap: compare.tap });
 * ```
 */
export function compareTap(options: CompareTapOptions): CompareTap {
  const columns = new LiveColumns();
  const origin = performance.now();
  const now = options.now ?? (() => Math.round((performance.now() - origin) * 1000));
  const work: (() => void)[] = [];
  let scheduled = false;
  const idle: (() => void)[] = [];
  const drain = () => {
    scheduled = false;
    // A few comparisons per turn, then back to the event loop (and the relay).
    const started = performance.now();
    while (work.length > 0 && performance.now() - started < 5) work.shift()!();
    if (work.length > 0) schedule();
    else for (const resolve of idle.splice(0)) resolve();
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      setTimeout(drain, 0);
    }
  };
  const enqueue = options.inline ? (job: () => void) => job() : (job: () => void) => {
    work.push(job);
    schedule();
  };
  const tap = (info: ConnectionInfo): ComparingTap => {
    const matched = new MatchedConnection(
      options.target,
      { id: info.id },
      (id) => columns.sets.get(id),
      options.builder,
      options.compare,
    );
    options.builder.opened();
    const merger = new CommandMerger();
    let index = 0;
    let broken = false;
    const compare = (command: RecordedCommand) => {
      const at = index++;
      enqueue(() => {
        const example = matched.compare(command, at);
        if (!example) return;
        options.onDifference?.(example);
        for (const difference of example.differences) {
          options.logger?.log(
            "warn",
            "difference",
            `${difference.category}: ${difference.message} (${example.sql ?? example.cmd})`,
            { connection: info.id, category: difference.category },
          );
        }
      });
    };
    // deno-lint-ignore prefer-const
    let session: ReturnType<typeof createSessionTap>;
    const recorder = new ConnectionRecorder({
      conn: info.id,
      now,
      context: () => session.decoder.context,
      columns: columns.registry,
      emit: (event) => {
        if (event.type !== "command") return;
        const command = merger.command(event as CommandEvent);
        if (command) compare(command);
      },
      chunkBytes: Number.MAX_SAFE_INTEGER,
    });
    session = createSessionTap({
      onPacket: (packet) => {
        const message = packet.message;
        if (message.kind === "handshake-v10") matched.connectionId = message.connectionId;
        if (message.kind === "handshake-response-41" || message.kind === "handshake-response-320") {
          matched.user = message.username;
        }
        recorder.packet(packet);
      },
    });
    // As in record(): decode in a microtask, after the relay has handed the chunk on.
    const pending: { client: boolean; bytes: Uint8Array }[] = [];
    let queued = false;
    const run = () => {
      queued = false;
      const chunks = pending.splice(0);
      if (broken) return;
      try {
        for (const chunk of chunks) {
          if (chunk.client) session.client(chunk.bytes);
          else session.server(chunk.bytes);
        }
      } catch (error) {
        broken = true;
        options.logger?.log(
          "warn",
          "decode-failed",
          `Cannot decode the connection's bytes; it is no longer compared: ${
            (error as Error).message
          }`,
          { connection: info.id },
        );
      }
    };
    const queue = (client: boolean, chunk: Uint8Array) => {
      if (options.inline) {
        pending.push({ client, bytes: chunk });
        run();
        return;
      }
      pending.push({ client, bytes: chunk.slice() });
      if (!queued) {
        queued = true;
        queueMicrotask(run);
      }
    };
    return {
      client: (chunk) => queue(true, chunk),
      server: (chunk) => queue(false, chunk),
      get commands() {
        return session.commands;
      },
      close() {
        run();
        enqueue(() => matched.close());
      },
      stop(reason) {
        if (broken) return;
        run();
        broken = true;
        options.builder.uncompared(reason);
      },
    };
  };
  return {
    tap,
    settled: () =>
      work.length === 0 && !scheduled
        ? Promise.resolve()
        : new Promise((resolve) => idle.push(resolve)),
  };
}
