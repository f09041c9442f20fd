/**
 * `replay`: serve recordings as a MySQL/MariaDB server.
 *
 * @module
 */

import { parse, positiveInteger, UsageError } from "./args.ts";
import { certificateOption } from "./proxy.ts";
import { LineWriter, stderrLogger } from "./output.ts";
import { untilSignal } from "./signals.ts";
import { formatEndpoint, parseEndpoint } from "../net/endpoint.ts";
import { replay, type ReplayServer, type ReplayStats } from "../replay/server.ts";

/** Help text of `replay`. */
export const REPLAY_HELP =
  `Usage: deno run -A mod.ts replay FILE.jsonl [FILE.jsonl|DIR ...] [options]

Serves recordings as a MySQL/MariaDB server: clients log in with any password and get the
recorded answers to their queries, with no database anywhere. Several files, or directories of
*.jsonl files, are merged. How requests are matched: docs/matching.md.

Options:
  --listen ADDR         where clients connect: HOST:PORT or unix:/PATH (default 127.0.0.1:3307;
                        port 0 picks a free port)
  --strict              exit 1 if any command missed or any recorded exchange was never used
  --report FILE         write a JSON report at exit: counts, misses, unused exchanges
  --speed N             replay recorded latency: each response waits its recorded duration / N
                        (1 = as recorded, 2 = twice as fast); default: no waiting
  --users recorded      only users and databases the recordings logged in with (else ERR 1045 /
                        1049); or a comma-separated list of user names
  --auth-plugin NAME    ask every client for this auth plugin (caching_sha2_password,
                        client_ed25519, mysql_clear_password, ...); default: as recorded
  --redact-key KEY      the key the recordings were made with (record --redact-key): live
                        queries get the same pseudonyms and match exactly
  --exact               never answer with a recorded statement whose values differ
  --once                serve each recorded exchange at most once (no repeats)
  --lenient             skip invalid recording lines (with a warning) instead of failing
  --tls-cert FILE       offer TLS to clients with this certificate (PEM; with --tls-key)
  --tls-key FILE        the certificate's private key (PEM)
  --tls-auto            offer TLS with a self-signed certificate made at start (clients must
                        not verify it; its SHA-256 fingerprint is logged). Without these,
                        replay clears CLIENT_SSL and answers an SSLRequest with an ERR
  --max-packet BYTES    the largest request a client may send (default 67108864 = 64 MiB); a
                        longer one closes that connection with a log line
  --json                logs (stderr), the ready line and the summary as JSON
  --quiet               log only warnings and errors
  -h, --help            show this help

A command the recordings cannot answer gets ERR 1105 (HY000) naming it and the closest recorded
request; the connection stays open. Replay offers zlib compression (CLIENT_COMPRESS) whatever the
recording's server did, and serves compressed frames to clients that ask for it (mariadb
--compress, mysql2 compress: true). SIGINT/SIGTERM stop accepting and wait for open connections
to finish; a second signal closes them. Exit status: 0, or 1 on a runtime error, an invalid
recording, or (with --strict) misses or unused exchanges; 2 on a usage error.
`;

/** Runs `replay` with its arguments; resolves to the exit status. */
export async function replayCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    listen: { type: "string", default: "127.0.0.1:3307" },
    strict: { type: "boolean", default: false },
    report: { type: "string" },
    speed: { type: "string" },
    users: { type: "string" },
    "auth-plugin": { type: "string" },
    "redact-key": { type: "string" },
    exact: { type: "boolean", default: false },
    once: { type: "boolean", default: false },
    lenient: { type: "boolean", default: false },
    "max-packet": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-auto": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  }, true);
  if (values.help) {
    console.log(REPLAY_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("Give at least one recording (FILE.jsonl)");
  let listen;
  try {
    listen = parseEndpoint(values.listen);
  } catch (error) {
    throw new UsageError(`Option --listen: ${(error as Error).message}`);
  }
  const speed = values.speed === undefined ? undefined : Number(values.speed);
  if (speed !== undefined && !(Number.isFinite(speed) && speed > 0)) {
    throw new UsageError(`Option --speed needs a positive number, got "${values.speed}"`);
  }
  const users = values.users === undefined
    ? undefined
    : values.users === "recorded"
    ? "recorded" as const
    : values.users.split(",").map((u) => u.trim()).filter((u) => u !== "");
  if (Array.isArray(users) && users.length === 0) {
    throw new UsageError(`Option --users needs "recorded" or user names`);
  }
  const json = values.json;
  const logger = stderrLogger(json ? "json" : "human", values.quiet ? "warn" : "info");
  const out = new LineWriter(Deno.stdout);
  const server = await replay(positionals, {
    listen,
    speed,
    users,
    authPlugin: values["auth-plugin"],
    approximate: !values.exact,
    repeat: !values.once,
    lenient: values.lenient,
    maxPacketLength: positiveInteger(values["max-packet"], "max-packet"),
    redactKey: values["redact-key"],
    tls: certificateOption(values),
    logger,
    onWarning: (warning) => logger.log("warn", "recording-warning", warning),
  });
  if (server.tlsFingerprint) {
    logger.log(
      "info",
      "tls-offered",
      `TLS offered to clients; certificate SHA-256 ${server.tlsFingerprint}` +
        (values["tls-auto"] ? " (self-signed, made by --tls-auto)" : ""),
      { fingerprint: server.tlsFingerprint },
    );
  }
  const ready = {
    event: "listening",
    listen: formatEndpoint(server.endpoint),
    recordings: positionals,
    exchanges: server.stats().recorded,
  };
  out.write(
    json
      ? JSON.stringify(ready)
      : `Replaying ${ready.exchanges} recorded exchanges from ${
        positionals.join(", ")
      } on ${ready.listen}`,
  );
  out.flush();
  await untilSignal(server, logger);
  return finish(server, out, { json, strict: values.strict, report: values.report });
}

async function finish(
  server: ReplayServer,
  out: LineWriter,
  options: { json: boolean; strict: boolean; report?: string },
): Promise<number> {
  await server.close();
  const stats = server.stats();
  const unused = server.unused();
  const failed = options.strict && (stats.misses > 0 || unused.length > 0);
  if (options.report !== undefined) {
    const report = { stats, misses: server.misses, unused, strict: options.strict, failed };
    await Deno.writeTextFile(options.report, JSON.stringify(report, null, 2) + "\n");
  }
  if (options.json) {
    out.write(JSON.stringify({ event: "summary", ...stats, failed }));
  } else {
    out.write(summary(stats));
    if (options.strict) {
      for (const miss of server.misses.slice(0, 20)) out.write(`  miss: ${miss.message}`);
      for (const left of unused.slice(0, 20)) {
        out.write(`  never used: ${left.request} (${left.recording})`);
      }
      if (failed) {
        out.write("Strict mode: failing because of the misses and unused exchanges above");
      }
    }
  }
  out.flush();
  return failed ? 1 : 0;
}

/** The summary line printed at exit. */
export function summary(stats: ReplayStats): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `Served ${plural(stats.connections, "connection")}: ${
    plural(stats.commands, "command")
  }, ` +
    `${stats.matched} matched (${stats.exact} exact, ${stats.repeated} repeated, ` +
    `${stats.approximate} approximate, ${stats.session} session), ` +
    `${stats.synthesized} synthesized, ${stats.misses} miss${stats.misses === 1 ? "" : "es"}; ` +
    `${stats.unused} of ${stats.recorded} recorded exchanges never used`;
}
