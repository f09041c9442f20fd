/**
 * `verify`: drive a recording against a live server and report what answers differently.
 *
 * @module
 */

import { parse, positiveInteger, UsageError } from "./args.ts";
import { parseEndpoint } from "../net/endpoint.ts";
import { parseTlsMode, type TlsMode } from "../client/tls.ts";
import { verify } from "../compare/verify.ts";
import { loadNoiseFile, type NoiseRule, parseNoiseRule } from "../compare/noise.ts";
import { formatReport, progressLine } from "../compare/format.ts";
import type { CompareReport } from "../compare/report.ts";

/** Help text of `verify`. */
export const VERIFY_HELP =
  `Usage: deno run -A mod.ts verify FILE.jsonl --server HOST:PORT --user USER [options]

Replays the client side of every recorded connection against a live server (logging in as USER,
never with the recorded credentials) and compares each answer with the recorded one: errors,
row counts, row values, column names/types/flags, affected rows and insert ids, warnings, and
time when at least 10x slower. Rows of a statement without ORDER BY compare as a multiset.

Both servers must hold the same data: restore the data the recording was made with first, or
every changed row is reported.

Options:
  --server ADDR          the live server: HOST:PORT, [IPV6]:PORT or unix:/PATH (required)
  --user USER            the user every connection logs in as (required)
  --password PASSWORD    its password; default the MYSQL_PWD environment variable
  --database DB          default schema of every connection (default: each one's recorded schema)
  --concurrency N        connections open at once (default: as recorded; 1 runs them one by one)
  --ignore RULE          noise to ignore, repeatable: column:NAME, column:/REGEX/, value:/REGEX/,
                         field:insertId|affectedRows|info|warnings|connectionId|time|message|metadata,
                         fingerprint:"SQL"
  --noise FILE           noise rules from a JSON file (a list of rules, or {"ignore": [...]})
  --ordered              compare rows in order even without ORDER BY
  --tls MODE             off, preferred, required, verify-ca, verify-identity (default off)
  --tls-ca FILE          CA certificates (PEM) for verify-ca / verify-identity
  --server-public-key F  the server's RSA public key (PEM) for caching_sha2_password without TLS
  --redact-key KEY       the key the recording's --redact rules used: live values get the same
                         pseudonyms (default: columns those rules hid are not compared)
  --time-factor N        how many times slower is a difference (default 10)
  --time-floor MS        and at least this many milliseconds slower (default 50)
  --report FILE          write the report as JSON (its shape: docs/compare.md)
  --json                 print the report as JSON instead of text
  --progress             show a progress line on stderr (default: when stderr is a terminal)
  --quiet                print only the tally, not the differences
  -h, --help             show this help

Exit status: 0 no differences, 4 differences found, 1 an error (a connection failed, the server
refused the login, an unreadable recording), 2 a usage error.
`;

/** Verify's exit status for differences (pt-upgrade's). */
export const EXIT_DIFFERENCES = 4;

/** Noise rules from `--ignore` and `--noise`; bad ones are usage errors. */
export async function noiseRules(
  ignore: string[] | undefined,
  file: string | undefined,
): Promise<NoiseRule[]> {
  const rules: NoiseRule[] = [];
  try {
    for (const text of ignore ?? []) rules.push(parseNoiseRule(text));
    if (file !== undefined) rules.push(...await loadNoiseFile(file));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return rules;
}

/** Writes the report: JSON to `--report`, text or JSON to stdout. */
export async function emitReport(
  report: CompareReport,
  options: { json: boolean; quiet: boolean; report?: string },
): Promise<void> {
  if (options.report !== undefined) {
    await Deno.writeTextFile(options.report, JSON.stringify(report, null, 2) + "\n");
  }
  if (options.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const text = formatReport(report);
  if (!options.quiet) console.log(text);
  else console.log(text.slice(text.indexOf("\nTally:") + 1));
}

/** A progress line on stderr, rewritten in place, at most every 250 ms. */
export function progressReporter(enabled: boolean) {
  const started = performance.now();
  let last = 0;
  let shown = false;
  const encoder = new TextEncoder();
  return {
    update(state: { commands: number; different: number; errors: number }) {
      if (!enabled) return;
      const now = performance.now();
      if (now - last < 250) return;
      last = now;
      shown = true;
      const line = progressLine({ ...state, seconds: (now - started) / 1000 });
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
    },
    done() {
      if (shown) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
    },
  };
}

/** Runs `verify` with its arguments; resolves to the exit status. */
export async function verifyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    server: { type: "string" },
    user: { type: "string" },
    password: { type: "string" },
    database: { type: "string" },
    concurrency: { type: "string" },
    ignore: { type: "string", multiple: true },
    noise: { type: "string" },
    ordered: { type: "boolean", default: false },
    tls: { type: "string" },
    "tls-ca": { type: "string" },
    "server-public-key": { type: "string" },
    "redact-key": { type: "string" },
    "time-factor": { type: "string" },
    "time-floor": { type: "string" },
    report: { type: "string" },
    json: { type: "boolean", default: false },
    progress: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  }, true);
  if (values.help) {
    console.log(VERIFY_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? "Give the recording to verify (FILE.jsonl)" : "Give one recording",
    );
  }
  if (values.server === undefined) throw new UsageError("Option --server is required");
  if (values.user === undefined) throw new UsageError("Option --user is required");
  try {
    parseEndpoint(values.server);
  } catch (error) {
    throw new UsageError(`Option --server: ${(error as Error).message}`);
  }
  let mode: TlsMode = "off";
  if (values.tls !== undefined) {
    try {
      mode = parseTlsMode(values.tls);
    } catch (error) {
      throw new UsageError(`Option --tls: ${(error as Error).message}`);
    }
  }
  if (values["tls-ca"] !== undefined && values.tls === undefined) mode = "verify-ca";
  const timeFactor = values["time-factor"] === undefined
    ? undefined
    : Number(values["time-factor"]);
  if (timeFactor !== undefined && !(timeFactor > 1)) {
    throw new UsageError(
      `Option --time-factor needs a number above 1, got "${values["time-factor"]}"`,
    );
  }
  const timeFloorMs = values["time-floor"] === undefined ? undefined : Number(values["time-floor"]);
  if (timeFloorMs !== undefined && !(timeFloorMs >= 0)) {
    throw new UsageError(
      `Option --time-floor needs a number of milliseconds, got "${values["time-floor"]}"`,
    );
  }
  const ignore = await noiseRules(values.ignore, values.noise);
  let serverPublicKey: string | undefined;
  if (values["server-public-key"] !== undefined) {
    try {
      serverPublicKey = await Deno.readTextFile(values["server-public-key"]);
    } catch (error) {
      throw new UsageError(`Option --server-public-key: ${(error as Error).message}`);
    }
  }
  const progress = progressReporter(values.progress || Deno.stderr.isTerminal());
  const report = await verify(positionals[0], {
    server: values.server,
    user: values.user,
    password: values.password ?? Deno.env.get("MYSQL_PWD"),
    database: values.database,
    concurrency: positiveInteger(values.concurrency, "concurrency"),
    ignore,
    ordered: values.ordered,
    tls: mode === "off" ? undefined : { mode, caFile: values["tls-ca"] },
    serverPublicKey,
    redactKey: values["redact-key"],
    timeFactor,
    timeFloorMs,
    onProgress: (state) => progress.update(state),
    onWarning: (warning) => console.error(`verify: ${warning}`),
  });
  progress.done();
  await emitReport(report, { json: values.json, quiet: values.quiet, report: values.report });
  return report.exitCode;
}
