/**
 * The recording sessions driven by the mariadb CLI, MariaDB Connector/Node (npm:mariadb), a
 * libmariadb C program and sysbench.
 *
 * @module
 */

import mariadb from "npm:mariadb@3.4.5";
import { join } from "node:path";
import { cli, expectError, runProgram, type SessionContext } from "./context.ts";
import { SYSBENCH_OPTIONS } from "./specs.ts";

/** The demo's CLI session: what a person types (batch mode, so the output is plain). */
export const DEMO_CLI_SESSION = `
SELECT id, name, price, stock FROM products ORDER BY id;
SELECT p.name, SUM(o.quantity) AS sold FROM orders o JOIN products p ON p.id = o.product_id GROUP BY p.name ORDER BY sold DESC;
SELECT nope FROM products;
UPDATE products SET stock = stock - 1 WHERE id = 3;
`;

/** The demo's mariadb CLI part: a one-liner (as the README shows), then a session on stdin. */
export async function demoCli(context: SessionContext): Promise<void> {
  const login = context.spec.login;
  await cli(context, login, ["shop", "-e", "SELECT id, name, price FROM products ORDER BY id"]);
  await cli(context, login, ["shop", "--batch", "--force"], { stdin: DEMO_CLI_SESSION });
}

/** LOAD DATA LOCAL INFILE from files in the CLI's working directory (the names are recorded). */
export async function localInfile(context: SessionContext): Promise<void> {
  await Deno.writeTextFile(join(context.dir, "people.tsv"), "2\tGrace\tNew York\n3\tLinus\t\\N\n");
  await Deno.writeTextFile(join(context.dir, "empty.tsv"), "");
  const script = `
LOAD DATA LOCAL INFILE 'people.tsv' INTO TABLE people;
LOAD DATA LOCAL INFILE 'empty.tsv' INTO TABLE people;
LOAD DATA LOCAL INFILE 'people.tsv' INTO TABLE people;
SHOW WARNINGS;
LOAD DATA LOCAL INFILE 'people.tsv' REPLACE INTO TABLE people FIELDS TERMINATED BY '\\t' (id, name, @city) SET city = UPPER(@city);
SELECT * FROM people ORDER BY id;
USE loaddata;
SELECT COUNT(*) AS people FROM people;
`;
  const output = await cli(
    context,
    context.spec.login,
    ["--local-infile=1", "--batch", "--force", "loaddata"],
    { stdin: script, cwd: context.dir },
  );
  if (!output.stdout.includes("LINUS") && !output.stdout.includes("Linus")) {
    throw new Error("LOCAL INFILE did not load people.tsv");
  }
}

/** The mariadb CLI as a user of client_ed25519: the server switches the CLI's plugin. */
export async function ed25519Cli(context: SessionContext): Promise<void> {
  const ed = context.spec.otherLogins!.ed25519;
  await cli(context, ed, [
    "authdb",
    "--batch",
    "-e",
    "SELECT CURRENT_USER() AS me; SELECT owner FROM secrets ORDER BY id",
  ]);
}

/** npm:mariadb logging in with client_ed25519 (it starts with it, or switches to it). */
export async function ed25519Connector(context: SessionContext): Promise<void> {
  const ed = context.spec.otherLogins!.ed25519;
  const connection = await mariadb.createConnection({
    host: context.host,
    port: context.port,
    user: ed.user,
    password: ed.password,
    database: "authdb",
  });
  try {
    context.log(JSON.stringify(await connection.query("SELECT CURRENT_USER() AS me")));
  } finally {
    await connection.end();
  }
}

/** MariaDB Connector/Node: text and binary queries, pipelining, a batch (bulk) insert. */
export async function connector(context: SessionContext): Promise<void> {
  const connection = await mariadb.createConnection({
    host: context.host,
    port: context.port,
    user: context.spec.login.user,
    password: context.spec.login.password,
    database: "connector",
    dateStrings: true,
    timezone: "+00:00",
  });
  try {
    await connection.query("SELECT id, kind, amount, at FROM events ORDER BY id");
    await connection.query("SELECT kind FROM events WHERE id = ?", [1]);
    await connection.execute("SELECT kind, amount FROM events WHERE id = ?", [2]);
    await connection.execute("SELECT kind, amount FROM events WHERE id = ?", [1]);
    const result = await connection.batch(
      "INSERT INTO events (kind, amount, at) VALUES (?, ?, ?)",
      [["a", 1.5, "2026-02-01 00:00:00"], ["b", 2.5, "2026-02-02 00:00:00"]],
    );
    context.log(`batch: ${JSON.stringify(result, (_, v) => typeof v === "bigint" ? `${v}` : v)}`);
    await connection.query("SELECT COUNT(*) AS n, SUM(amount) AS total FROM events");
    await expectError(context, "unknown column", () => connection.query("SELECT nope FROM events"));
    await connection.ping();
  } finally {
    await connection.end();
  }
}

const CAPI_SOURCE = new URL("./capi_client.c", import.meta.url).pathname;

/** Compiles and runs capi_client.c (gcc and libmariadb-dev). */
export async function capi(context: SessionContext): Promise<void> {
  const binary = join(context.dir, "capi_client");
  const flags = await runProgram("mariadb_config", ["--cflags", "--libs"]).catch(() => undefined);
  const args = flags && flags.code === 0
    ? flags.stdout.trim().split(/\s+/)
    : ["-I/usr/include/mariadb", "-lmariadb"];
  const build = await runProgram("gcc", ["-O1", "-o", binary, CAPI_SOURCE, ...args]);
  if (build.code !== 0) {
    throw new Error(
      `Cannot build ${CAPI_SOURCE} (needs gcc and libmariadb-dev):\n${build.stderr}`,
    );
  }
  const { user, password } = context.spec.login;
  const run = await runProgram(binary, [
    context.host,
    String(context.port),
    user,
    password,
    "capi",
  ]);
  context.log((run.stdout + run.stderr).trimEnd());
  if (run.code !== 0) throw new Error(`capi_client failed (${run.code})`);
}

/** sysbench: prepare (its table and rows), then oltp_read_write prepared and as text. */
export async function sysbench(context: SessionContext): Promise<void> {
  const { user, password } = context.spec.login;
  const common = [
    "--db-driver=mysql",
    `--mysql-host=${context.host}`,
    `--mysql-port=${context.port}`,
    `--mysql-user=${user}`,
    `--mysql-password=${password}`,
    "--mysql-db=sbrec",
    "--mysql-ssl=off",
    "--threads=1",
    ...SYSBENCH_OPTIONS,
  ];
  const runs = [
    ["oltp_read_write", ...common, "prepare"],
    ["oltp_read_write", ...common, "--events=3", "--time=0", "run"],
    ["oltp_read_write", ...common, "--events=2", "--time=0", "--db-ps-mode=disable", "run"],
  ];
  for (const args of runs) {
    const output = await runProgram("sysbench", args);
    if (output.code !== 0) {
      throw new Error(`sysbench ${args.at(-1)} failed (${output.code}):\n${output.stderr}`);
    }
    context.log(`sysbench ${args.at(-1)}: ok`);
  }
}
