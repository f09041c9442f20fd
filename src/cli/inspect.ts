/**
 * `inspect`: validate a recording and summarize it.
 *
 * @module
 */

import { parse, positiveInteger, UsageError } from "./args.ts";
import { formatBytes } from "../net/connection.ts";
import { type Digest, inspectRecording, type InspectReport } from "../record/inspect.ts";

/** Help text of `inspect`. */
export const INSPECT_HELP = `Usage: deno run -A mod.ts inspect FILE.jsonl [options]

Validates a recording (docs/recording-format.md) and summarizes it: the server, how long it
spans, connections and their clients, commands by type, errors by code, and the top query
fingerprints (literals replaced by ?) by count and by total time, like pt-query-digest.

Options:
  --json        the summary as one JSON object (every fingerprint, every connection)
  --top N       fingerprints to list in each top list (default 10)
  -h, --help    show this help

An invalid line is reported with its line number and what is wrong, and the exit status is 1.
A last line cut short (a recording killed mid-write) is dropped with a warning on stderr.
Exit status: 0 for a valid recording, 1 for an invalid or unreadable one, 2 on a usage error.
`;

/**
 * Runs `inspect` with its arguments; resolves to the exit status.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await inspectCommand(["recordings/demo.jsonl", "--top", "5"]));
 * ```
 */
export async function inspectCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: "boolean", default: false },
    top: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  }, true);
  if (values.help) {
    console.log(INSPECT_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? "Give the recording to inspect" : "Give one recording at a time",
    );
  }
  const top = positiveInteger(values.top, "top") ?? 10;
  const report = await inspectRecording(positionals[0]);
  for (const warning of report.warnings) console.error(`warning: ${warning}`);
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report, top));
  return 0;
}

/**
 * The human summary of a report.
 *
 * @example
 * ```ts ignore
 * console.log(formatReport(await inspectRecording("recordings/demo.jsonl"), 10));
 * ```
 */
export function formatReport(report: InspectReport, top: number): string {
  const { header } = report;
  const server = header.server;
  const out: string[] = [];
  out.push(`${report.path}: valid, ${count(report.lines, "line")}`);
  const rules = header.redaction.rules.length === 0
    ? "no --redact rules"
    : `rules ${header.redaction.rules.join(", ")} (${header.redaction.key ?? "random"} key)`;
  out.push(
    ...table([
      ["format", `${header.format} v${header.version}, written by ${header.tool}`],
      ["created", `${header.created}, spans ${seconds(report.durationUs)}`],
      [
        "server",
        `${server.address}, ${server.version ?? "version unknown (no greeting recorded)"}` +
        (server.authPlugin ? ` (${server.authPlugin})` : ""),
      ],
      ["redaction", `auth data, SQL passwords; ${rules}`],
      [
        "wire",
        `${formatBytes(report.wire.client + report.wire.server)} (from clients ${
          formatBytes(report.wire.client)
        }, from the server ${formatBytes(report.wire.server)})`,
      ],
    ], "  "),
  );
  out.push("", `Connections: ${report.connections.length}`);
  out.push(...connectionLines(report));
  out.push("", `Commands: ${report.commands.total.toLocaleString("en-US")}`);
  const types = Object.entries(report.commands.byType).sort((a, b) => b[1] - a[1]);
  out.push(...table(types.map(([type, n]) => [type, n.toLocaleString("en-US")]), "  "));
  if (report.incomplete > 0) out.push(`  (${report.incomplete} cut short)`);
  out.push("", `Errors: ${report.errors.total.toLocaleString("en-US")}`);
  out.push(
    ...table(
      report.errors.byCode.map((e) => [
        String(e.code),
        e.sqlState ?? "",
        `${e.count}x`,
        e.message.length > 100 ? `${e.message.slice(0, 97)}...` : e.message,
      ]),
      "  ",
    ),
  );
  if (report.digests.length > 0) {
    out.push(
      "",
      `Top ${
        Math.min(top, report.digests.length)
      } of ${report.digests.length} query fingerprints by count:`,
    );
    out.push(...digestTable(report.digests.slice(0, top)));
    const byTime = [...report.digests].sort((a, b) => b.totalUs - a.totalUs).slice(0, top);
    out.push("", `Top ${byTime.length} by total time:`);
    out.push(...digestTable(byTime));
  }
  return out.join("\n");
}

function connectionLines(report: InspectReport): string[] {
  const list = report.connections;
  if (list.length <= 20) {
    return table(
      list.map((c) => [
        `#${c.conn}`,
        (c.client ?? "?") + (c.tls ? " TLS" : ""),
        c.user === undefined ? "" : `user ${c.user}`,
        c.database === undefined ? "" : `db ${c.database}`,
        count(c.commands, "command"),
        c.opened !== undefined && c.closed !== undefined ? seconds(c.closed - c.opened) : "",
        c.opaque ? `not decoded: ${c.opaque}` : c.reason ?? "not closed",
      ]),
      "  ",
    );
  }
  // Many connections (a pool, sysbench): group them by client host and user.
  const groups = new Map<string, { n: number; commands: number }>();
  for (const c of list) {
    const host = (c.client ?? "?").replace(/:\d+$/, "");
    const key = `from ${host}${c.user === undefined ? "" : `, user ${c.user}`}`;
    const group = groups.get(key) ?? { n: 0, commands: 0 };
    group.n++;
    group.commands += c.commands;
    groups.set(key, group);
  }
  return table(
    [...groups].map(([key, g]) => [key, count(g.n, "connection"), count(g.commands, "command")]),
    "  ",
  );
}

function digestTable(digests: Digest[]): string[] {
  const rows = digests.map((d) => [
    d.count.toLocaleString("en-US"),
    (d.totalUs / 1000).toFixed(1),
    (d.totalUs / d.count / 1000).toFixed(3),
    (d.maxUs / 1000).toFixed(1),
    d.rows.toLocaleString("en-US"),
    String(d.errors),
    d.fingerprint.length > 120 ? `${d.fingerprint.slice(0, 117)}...` : d.fingerprint,
  ]);
  return table(
    [["count", "total ms", "mean ms", "max ms", "rows", "errors", "fingerprint"], ...rows],
    "  ",
    6,
  );
}

/** Columns padded to their widest cell; the first `right` columns are right-aligned. */
function table(rows: string[][], indent: string, right = 0): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return rows.map((row) =>
    indent +
    row.map((cell, i) =>
      i === row.length - 1 ? cell : i < right ? cell.padStart(widths[i]) : cell.padEnd(widths[i])
    ).join("  ").trimEnd()
  );
}

function count(n: number, noun: string): string {
  return `${n.toLocaleString("en-US")} ${noun}${n === 1 ? "" : "s"}`;
}

function seconds(us: number): string {
  return `${(us / 1e6).toFixed(us < 10e6 ? 3 : 1)} s`;
}
