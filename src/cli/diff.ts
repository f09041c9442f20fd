/**
 * `diff`: compare two recordings exchange by exchange.
 *
 * @module
 */

import { parse, UsageError } from "./args.ts";
import { diffRecordings } from "../compare/diff.ts";
import { emitReport, noiseRules } from "./verify.ts";

/** Help text of `diff`. */
export const DIFF_HELP = `Usage: deno run -A mod.ts diff A.jsonl B.jsonl [options]

Compares two recordings of the same traffic (before and after an upgrade, against two servers):
each command of B is matched to A's recorded exchanges by replay's rules (docs/matching.md), and
the two answers are compared with verify's categories: errors, row counts, row values, column
names/types/flags, affected rows and insert ids, warnings, and time when B is at least 10x slower.

Options:
  --ignore RULE     noise to ignore, repeatable (as for verify: column:, value:, field:,
                    fingerprint:)
  --noise FILE      noise rules from a JSON file
  --ordered         compare rows in order even without ORDER BY
  --report FILE     write the report as JSON (docs/compare.md)
  --json            print the report as JSON instead of text
  --quiet           print only the tally
  -h, --help        show this help

Commands of B that A never recorded are listed as not compared. Exit status: 0 no differences,
4 differences found, 1 an unreadable recording, 2 a usage error.
`;

/** Runs `diff` with its arguments; resolves to the exit status. */
export async function diffCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ignore: { type: "string", multiple: true },
    noise: { type: "string" },
    ordered: { type: "boolean", default: false },
    report: { type: "string" },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  }, true);
  if (values.help) {
    console.log(DIFF_HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError("Give two recordings: A.jsonl B.jsonl");
  const ignore = await noiseRules(values.ignore, values.noise);
  const report = await diffRecordings(positionals[0], positionals[1], {
    ignore,
    ordered: values.ordered,
    onWarning: (warning) => console.error(`diff: ${warning}`),
  });
  await emitReport(report, { json: values.json, quiet: values.quiet, report: values.report });
  return report.exitCode;
}
