/**
 * `record`: the proxy, writing every connection it relays to a JSONL recording.
 *
 * @module
 */

import { parse, UsageError } from "./args.ts";
import { announce, PROXY_OPTIONS, PROXY_OPTIONS_HELP, proxySettings } from "./proxy.ts";
import { untilSignal } from "./signals.ts";
import { formatEndpoint } from "../net/endpoint.ts";
import { formatBytes } from "../net/connection.ts";
import { record, type RecordingStats } from "../record/recorder.ts";
import { parseRedactRule, type RedactRule } from "../record/redact.ts";

/** Help text of `record`. */
export const RECORD_HELP = `Usage: deno run -A mod.ts record [options]

Relays MySQL/MariaDB clients to a server like \`proxy\`, and writes every connection to a JSONL
recording (docs/recording-format.md): handshake, each command with its decoded response,
timings. Auth data and passwords in SQL never reach the file.

Options:
  --out FILE              the recording (default recordings/<YYYYMMDD>-<HHMMSS>.jsonl, creating
                          recordings/); created with mode 0600; an existing file is refused
  --overwrite             replace --out if it exists
  --redact RULE           hide more (repeatable), with consistent pseudonyms:
                            query:REGEX   matches in SQL text, string parameters, LOCAL INFILE
                                          data and error messages (with capture groups, only
                                          the groups)
                            column:REGEX  values of result columns whose name matches
                          regexes ignore case; pseudonyms keep the value's type: strings become
                          redacted:<12 hex digits>, numbers and dates keep their layout
  --redact-key KEY        key for the pseudonyms: the same key gives the same pseudonyms in every
                          recording (default: a random key per recording). Prefer the environment
                          variable MYSQL_PROXY_REDACT_KEY: command lines are visible to others
  --on-record-error WHAT  when the recording cannot be written (disk full, ...): continue (default:
                          relay every connection, unrecorded) or refuse (also refuse new
                          connections with ERR 1053 naming why); either way it is logged at once
${PROXY_OPTIONS_HELP}

Prints the file's path at start and a summary at exit (connections, commands, bytes on the wire,
file size). TLS and compression are handled as by \`proxy\` (see its --help): connections that
use compression are decoded and recorded like the others.

SIGINT/SIGTERM stop accepting, wait for open connections to finish, then flush and close the
file; a second signal closes the connections at once. Exit status: 0 after a clean shutdown, 1 on
a runtime error (the file cannot be created or written: also when writing failed midway, after
relaying went on), 2 on a usage error.

Example:
  deno run -A mod.ts record --server 127.0.0.1:3306 --redact 'column:^(email|phone)$'
  mariadb -h 127.0.0.1 -P 3307 -u app -p shop     # in another terminal; Ctrl-C the recorder after
  deno run -A mod.ts inspect recordings/20261121-101500.jsonl
`;

/**
 * Runs `record` with its arguments; resolves to the exit status.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await recordCommand(["--server", "127.0.0.1:3306", "--out", "/tmp/session.jsonl"]));
 * ```
 */
export async function recordCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...PROXY_OPTIONS,
    out: { type: "string" },
    overwrite: { type: "boolean", default: false },
    redact: { type: "string", multiple: true, default: [] },
    "redact-key": { type: "string" },
    "on-record-error": { type: "string", default: "continue" },
  });
  if (values.help) {
    console.log(RECORD_HELP);
    return 0;
  }
  const settings = proxySettings(values);
  const rules = values.redact.map(redactRule);
  const key = values["redact-key"] ?? Deno.env.get("MYSQL_PROXY_REDACT_KEY");
  if (key === "") throw new UsageError("Option --redact-key: the key is empty");
  const onRecordError = values["on-record-error"];
  if (onRecordError !== "continue" && onRecordError !== "refuse") {
    throw new UsageError(
      `Option --on-record-error needs continue or refuse, got "${onRecordError}"`,
    );
  }
  const { logger, out, json } = settings;
  const recording = await record({
    listen: settings.listen,
    server: settings.hooks.serverless ? null : settings.server,
    ...settings.hooks.proxy,
    logger,
    connectTimeoutMs: settings.connectTimeoutMs,
    ...settings.tls,
    relay: settings.relay,
    maxPacketLength: settings.maxPacketLength,
    onPacket: settings.onPacket,
    onOpaque: settings.onOpaque,
    out: values.out,
    overwrite: values.overwrite,
    redact: rules,
    redactKey: key,
    onRecordError,
  });
  out.write(
    json
      ? JSON.stringify({ event: "recording", path: recording.path })
      : `Recording to ${recording.path}`,
  );
  // Signal handlers first: a signal right after the ready line must still close the file.
  const stopped = untilSignal(recording, logger);
  const control = await settings.hooks.startControl(recording.faults, logger);
  announce(settings, formatEndpoint(recording.endpoint), recording.tlsFingerprint);
  let failure: unknown;
  try {
    await stopped;
    await control?.close();
  } finally {
    try {
      await recording.close();
    } catch (error) {
      failure = error;
    }
    const stats = recording.stats();
    out.write(json ? JSON.stringify({ event: "recorded", ...stats }) : summary(stats));
    out.flush();
  }
  if (failure) {
    logger.log("error", "recording-failed", (failure as Error).message);
    return 1;
  }
  return 0;
}

function redactRule(text: string): RedactRule {
  try {
    return parseRedactRule(text);
  } catch (error) {
    throw new UsageError(`Option --redact: ${(error as Error).message}`);
  }
}

/**
 * The exit summary:
 * `Recorded 2 connections, 41 commands to recordings/x.jsonl` and the bytes on the wire and in
 * the file.
 *
 * @example
 * ```ts
 * import { summary } from "./record.ts";
 * const text = summary({
 *   path: "x.jsonl", lines: 10, bytesWritten: 1500, queuedLines: 0, connections: 1, commands: 4,
 *   longestLine: 300, wire: { client: 500, server: 1500 },
 * });
 * console.assert(text.includes("0.75x"));
 * ```
 */
export function summary(stats: RecordingStats): string {
  const wire = stats.wire.client + stats.wire.server;
  const ratio = wire === 0
    ? ""
    : `, ${(stats.bytesWritten / wire).toFixed(2)}x the bytes on the wire`;
  return [
    `Recorded ${plural(stats.connections, "connection")}, ${
      plural(stats.commands, "command")
    } to ${stats.path}`,
    `  on the wire: ${formatBytes(wire)} (from clients ${formatBytes(stats.wire.client)}, ` +
    `from the server ${formatBytes(stats.wire.server)})`,
    `  file: ${formatBytes(stats.bytesWritten)} in ${plural(stats.lines, "line")}${ratio}`,
    ...(stats.error ? [`  the recording is incomplete: ${stats.error}`] : []),
  ].join("\n");
}

function plural(count: number, noun: string): string {
  return `${count.toLocaleString("en-US")} ${noun}${count === 1 ? "" : "s"}`;
}
