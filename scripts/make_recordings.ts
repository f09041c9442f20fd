/**
 * `deno task recordings`: makes every committed recording against a throwaway MariaDB (a private
 * `mariadbd` on a free port, deleted afterwards; see tests/helpers/mariadb.ts):
 *
 * - `recordings/*.jsonl`: one per entry of `scripts/recordings/specs.ts` (the README's demo, every
 *   column and parameter type, multi-results and CALL, LOCAL INFILE, large packets, auth switch
 *   and change user, MariaDB Connector/Node, the C API's cursors, sysbench): each gets its
 *   database set up from fixed data, then its clients' session (`scripts/recordings/sessions.ts`)
 *   runs through `record()`;
 * - `examples/shop/cassettes/*.jsonl`: the example's tests run once with `MYSQL_CASSETTE_MODE=record`.
 *
 * ```sh
 * deno task recordings              # everything
 * deno task recordings auth demo    # only these (names from --list; "examples" for the cassettes)
 * deno task recordings --list
 * ```
 *
 * Nothing secret reaches a file: logins are redacted, the users and passwords are made up for the
 * throwaway server, and the demo's customer emails are pseudonyms. Needs mariadb-server and
 * mariadb-client; the `sysbench` recording needs sysbench, `libmariadb-capi` gcc and
 * libmariadb-dev.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { startMariaDB } from "../tests/helpers/mariadb.ts";
import { findBinary } from "../tests/helpers/mariadb_server.ts";
import { record } from "../src/record/recorder.ts";
import {
  RECORDINGS,
  type RecordingSpec,
  setupScript,
  SHOP_LOGIN,
  shopSchema,
  spec,
} from "./recordings/specs.ts";
import { SESSIONS } from "./recordings/sessions.ts";

const RECORDINGS_DIR = new URL("../recordings/", import.meta.url).pathname;
const EXAMPLES = "examples";
const USAGE = `Usage: deno task recordings [NAME ...] [--list]

Remakes the committed recordings against a throwaway MariaDB. Without NAMEs, all of them and the
example's cassettes ("${EXAMPLES}").`;

interface Made {
  name: string;
  path: string;
  connections: number;
  commands: number;
  bytes: number;
}

async function makeRecording(
  db: Awaited<ReturnType<typeof startMariaDB>>,
  recording: RecordingSpec,
): Promise<Made> {
  if (recording.ed25519 && !db.ed25519) {
    throw new Error(`Cannot make ${recording.name}: the server has no auth_ed25519 plugin`);
  }
  await db.sql(setupScript(recording));
  const path = join(RECORDINGS_DIR, `${recording.name}.jsonl`);
  const dir = await Deno.makeTempDir({ prefix: `recording-${recording.name}-` });
  try {
    await using recorder = await record({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      out: path,
      overwrite: true,
      redact: recording.redact,
      redactKey: recording.redactKey,
    });
    const log = (line: string) => {
      if (line !== "") console.log(line.replace(/^/gm, `  ${recording.name}| `));
    };
    await SESSIONS[recording.name]({
      host: recorder.hostname,
      port: recorder.port,
      spec: recording,
      mariadb: db.bin.mariadb,
      dir,
      log,
    });
    // Let the last connection's QUIT reach the recorder before closing.
    for (let i = 0; i < 250 && recorder.activeConnections > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await recorder.close();
    const stats = recorder.stats();
    return {
      name: recording.name,
      path,
      connections: stats.connections,
      commands: stats.commands,
      bytes: (await Deno.stat(path)).size,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the example's tests in record mode against the server, with the shop's fresh data. */
async function makeExampleCassettes(db: { port: number; sql(s: string): Promise<string> }) {
  await db.sql(
    `DROP DATABASE IF EXISTS shop;\n${shopSchema()}\n` +
      `CREATE OR REPLACE USER '${SHOP_LOGIN.user}'@'%' IDENTIFIED BY '${SHOP_LOGIN.password}';\n` +
      `GRANT SELECT, INSERT, UPDATE ON shop.* TO '${SHOP_LOGIN.user}'@'%';`,
  );
  const root = new URL("../", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "examples/shop/"],
    cwd: root,
    env: {
      MYSQL_CASSETTE_MODE: "record",
      MYSQL_CASSETTE_SERVER: `127.0.0.1:${db.port}`,
      SHOP_DB_PASSWORD: SHOP_LOGIN.password,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`The example's tests failed while recording:\n${output}`);
  console.log(`  ${EXAMPLES}| recorded examples/shop/cassettes/`);
}

function missingTools(recordings: readonly RecordingSpec[]): string[] {
  const missing = new Set<string>();
  for (const recording of recordings) {
    for (const tool of recording.tools ?? []) {
      if (!findBinary(tool)) missing.add(`${tool} (for ${recording.name})`);
    }
  }
  return [...missing];
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { list: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const r of RECORDINGS) console.log(`${r.name.padEnd(22)} ${r.description}`);
    console.log(`${EXAMPLES.padEnd(22)} examples/shop/cassettes/ (the example's own tests)`);
    return 0;
  }
  const names = positionals.length === 0
    ? [...RECORDINGS.map((r) => r.name), EXAMPLES]
    : positionals;
  const selected = names.filter((n) => n !== EXAMPLES).map(spec);
  const missing = missingTools(selected);
  if (missing.length > 0) {
    console.error(`Cannot make the recordings: not found on PATH: ${missing.join(", ")}`);
    return 1;
  }
  await Deno.mkdir(RECORDINGS_DIR, { recursive: true });
  await using db = await startMariaDB({ tls: false });
  console.log(`MariaDB ${db.version} on port ${db.port}`);
  const made: Made[] = [];
  for (const recording of selected) {
    console.log(`${recording.name}: ${recording.description}`);
    made.push(await makeRecording(db, recording));
  }
  if (names.includes(EXAMPLES)) await makeExampleCassettes(db);
  for (const m of made) {
    console.log(
      `Wrote ${m.path}: ${m.connections} connections, ${m.commands} commands, ` +
        `${(m.bytes / 1024).toFixed(1)} KiB`,
    );
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
