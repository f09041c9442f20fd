/**
 * The command line: `deno run -A mod.ts <subcommand> [options]`.
 *
 * @module
 */

import { UsageError } from "./args.ts";
import { PROXY_HELP, proxyCommand } from "./proxy.ts";
import { RECORD_HELP, recordCommand } from "./record.ts";
import { INSPECT_HELP, inspectCommand } from "./inspect.ts";
import { REPLAY_HELP, replayCommand } from "./replay.ts";
import { VERSION } from "../version.ts";
import { VERIFY_HELP, verifyCommand } from "./verify.ts";
import { DIFF_HELP, diffCommand } from "./diff.ts";

export { VERSION } from "../version.ts";

interface Subcommand {
  summary: string;
  help: string;
  run(args: string[]): Promise<number>;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  proxy: {
    summary: "relay clients to a server, decoding every packet (--trace prints them)",
    help: PROXY_HELP,
    run: proxyCommand,
  },
  record: {
    summary: "the proxy, writing every connection to a JSONL recording",
    help: RECORD_HELP,
    run: recordCommand,
  },
  inspect: {
    summary: "validate a recording and summarize it (connections, commands, errors, top queries)",
    help: INSPECT_HELP,
    run: inspectCommand,
  },
  replay: {
    summary: "serve recordings as a fake MySQL server (no database needed)",
    help: REPLAY_HELP,
    run: replayCommand,
  },
  verify: {
    summary: "drive a recording against a live server and report answers that changed",
    help: VERIFY_HELP,
    run: verifyCommand,
  },
  diff: {
    summary: "compare two recordings of the same traffic, exchange by exchange",
    help: DIFF_HELP,
    run: diffCommand,
  },
};

/** Top-level help. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((name) => name.length));
  const lines = Object.entries(SUBCOMMANDS).map(([name, sub]) =>
    `  ${name.padEnd(width)}  ${sub.summary}`
  );
  return `Usage: deno run -A mod.ts <command> [options]

A MySQL/MariaDB proxy that decodes the client/server protocol.

Commands:
${lines.join("\n")}

Run \`deno run -A mod.ts <command> --help\` for a command's options.
Options: -h, --help  show this help;  --version  print the version
`;
}

/**
 * Runs the CLI; resolves to the exit status (0 ok, 1 runtime error, 2 usage error).
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 * Deno.exit(await main(["proxy", "--help"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    console.log(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version") {
    console.log(VERSION);
    return 0;
  }
  const subcommand = SUBCOMMANDS[name];
  if (!subcommand) {
    console.error(`Unknown command "${name}".\n\n${mainHelp()}`);
    return 2;
  }
  try {
    return await subcommand.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(
        `${name}: ${error.message}\nRun \`deno run -A mod.ts ${name} --help\` for usage.`,
      );
      return 2;
    }
    console.error(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
