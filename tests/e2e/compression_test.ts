/**
 * The compressed protocol with real clients: the mariadb CLI with `--compress` and mysql2 with
 * `compress: true`, straight to MariaDB, through the proxy (every packet decoded), through the
 * recorder (the recording holds the decoded queries and says the connection was compressed), and
 * against replay of that recording (which serves compressed frames: a decoding proxy in front of
 * it sees them).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { createSessionTap, replay, startProxy } from "../../mod.ts";
import { liveTest, type MariaDB } from "../helpers/mariadb.ts";
import { withProxy } from "../helpers/proxy.ts";
import { startRecorder } from "../helpers/recording.ts";
import { loadRecording } from "../../src/record/reader.ts";

const DATABASE = "e2e_compression";
/** 17 MiB: a value past one packet's 16 MiB - 1 (continuation packets straddling frames). */
const BIG = 17 * 1024 * 1024;

let prepared: Promise<void> | undefined;
function prepare(db: MariaDB): Promise<void> {
  prepared ??= db.sql(
    `DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};` +
      `CREATE TABLE ${DATABASE}.loaded (id INT, name VARCHAR(40));`,
  ).then(() => {});
  return prepared;
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The mariadb CLI with `--compress` against `port`, the script on stdin. */
async function cli(db: MariaDB, port: number, script: string, extra: string[] = []) {
  const child = new Deno.Command(db.bin.mariadb, {
    args: [
      "--no-defaults",
      "--protocol=TCP",
      "--skip-ssl",
      "--compress",
      "-h",
      "127.0.0.1",
      "-P",
      String(port),
      `--user=${db.users.native.user}`,
      `--password=${db.users.native.password}`,
      "--max-allowed-packet=64M",
      "--local-infile=1",
      "--batch",
      ...extra,
      DATABASE,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  // The 17 MiB value is compared by hash, not printed in assertion messages.
  const text = new TextDecoder().decode(stdout).split("\n").map((line) =>
    line.length > 10_000
      ? `<${line.length} chars, sha256 ${createHash("sha256").update(line).digest("hex")}>`
      : line
  ).join("\n");
  return { code, stdout: text, stderr: new TextDecoder().decode(stderr) } satisfies CliRun;
}

/** The statements of the script (from its start, enough to tell them apart). */
function statements(file: string): string[] {
  return [
    "SELECT 1 AS one, 'short' AS s",
    "SELECT seq, REPEAT(CHAR(65 + seq % 26), 30) AS filler FROM seq_1_to_3000",
    `SELECT REPEAT('x', ${BIG}) AS big`,
    "DELETE FROM loaded",
    `LOAD DATA LOCAL INFILE '${file}' INTO TABLE loaded`,
    "SELECT COUNT(*), MAX(name) FROM loaded",
  ];
}

/** A script covering several packets per frame, a result over many frames, a 17 MiB value, LOCAL INFILE. */
async function script(): Promise<{ text: string; file: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "e2e-compress-" });
  const file = join(dir, "names.tsv");
  const lines = Array.from({ length: 3000 }, (_, i) => `${i}\tname number ${i}`);
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  const text = statements(file).map((sql) => `${sql};`).join("\n") + "\n";
  return { text, file, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

liveTest(
  "mariadb --compress: the proxy decodes every packet and the CLI prints the same",
  async (db) => {
    await prepare(db);
    const { text, file, cleanup } = await script();
    try {
      const direct = await cli(db, db.port, text);
      assert.equal(direct.code, 0, direct.stderr);
      assert.match(direct.stdout, /<17825792 chars, sha256 /);
      assert.match(direct.stdout, /3000\tname number 999/);
      await withProxy(db, async (h) => {
        const proxied = await cli(db, h.proxy.port, text);
        await h.waitForLog("connection-closed", 1);
        assert.deepEqual(proxied, direct);
        h.assertAllDecoded();
        assert.deepEqual(
          h.commands().map((c) => c.slice(0, 40)),
          statements(file).map((sql) => `COM_QUERY ${sql}`.slice(0, 40)).concat("COM_QUIT"),
        );
        // The 17 MiB row was reassembled from continuation packets carried by compressed frames.
        assert.ok(h.packets.some((p) => p.kind === "text-row" && p.length > BIG));
        assert.equal(h.kinds().filter((k) => k === "text-row").length, 3000 + 1 + 1 + 1);
        assert.ok(h.kinds().includes("local-infile-request"));
      });
    } finally {
      await cleanup();
    }
  },
  { timeoutMs: 180_000 },
);

/** A proxy in front of `server` that reports, per connection, whether compression was decoded. */
async function compressionWatcher(port: number) {
  const seen: { compressed: boolean; commands: number; unknown: number }[] = [];
  const proxy = await startProxy({
    listen: "127.0.0.1:0",
    server: `127.0.0.1:${port}`,
    tap: () => {
      let unknown = 0;
      const tap = createSessionTap({
        onPacket: (p) => unknown += p.message.kind === "unknown" ? 1 : 0,
      });
      return {
        ...tap,
        client: tap.client,
        server: tap.server,
        get commands() {
          return tap.commands;
        },
        close() {
          seen.push({ compressed: tap.decoder.compressed, commands: tap.commands, unknown });
        },
      };
    },
  });
  return { proxy, seen };
}

liveTest(
  "mariadb --compress: record, then replay serves compressed frames and the CLI prints the same",
  async (db) => {
    await prepare(db);
    const { text, file, cleanup } = await script();
    try {
      const direct = await cli(db, db.port, text);
      await using recorder = await startRecorder(db);
      const recordedRun = await cli(db, recorder.port, text);
      assert.deepEqual(recordedRun, direct);
      const path = await recorder.close();
      const recording = await loadRecording(path);
      const [connection] = recording.connections.values();
      assert.equal(connection.compression, "zlib");
      assert.equal(connection.opaque, undefined);
      assert.deepEqual(
        connection.commands.map((c) => `${c.event.cmd} ${c.event.sql ?? ""}`.slice(0, 40)),
        statements(file).map((sql) => `query ${sql}`.slice(0, 40)).concat("quit "),
      );
      await using server = await replay(path, { listen: "127.0.0.1:0", strict: true });
      const watcher = await compressionWatcher(server.port);
      try {
        const replayed = await cli(db, watcher.proxy.port, text);
        assert.deepEqual(replayed, direct);
        // Without --compress the same recording replays too (compression is the client's choice).
        const plain = await cli(db, server.port, text, ["--skip-compress"]);
        assert.deepEqual(plain, direct);
      } finally {
        await watcher.proxy.close();
      }
      assert.deepEqual(watcher.seen, [{ compressed: true, commands: 7, unknown: 0 }]);
      assert.deepEqual(server.misses, []);
    } finally {
      await cleanup();
    }
  },
  { timeoutMs: 240_000 },
);

liveTest(
  "mysql2 compress: true: queries, prepared statements and a large result through proxy, record and replay",
  async (db) => {
    await prepare(db);
    const run = async (target: { host: string; port: number }) => {
      const conn = await mysql.createConnection({
        ...target,
        user: db.users.native.user,
        password: db.users.native.password,
        database: DATABASE,
        compress: true,
      });
      try {
        const [small] = await conn.query("SELECT 1 AS one, 'two' AS two");
        const [rows] = await conn.query(
          "SELECT seq, REPEAT(CHAR(65 + seq % 26), 100) AS filler FROM seq_1_to_5000",
        );
        const [executed] = await conn.execute("SELECT ? + 1 AS n, CONCAT(?, '!') AS s", [41, "hi"]);
        const [big] = await conn.execute("SELECT REPEAT(?, ?) AS v", ["yz", 1024 * 1024]);
        const value = (big as { v: string }[])[0].v;
        return {
          small,
          rows: (rows as unknown[]).length,
          last: (rows as unknown[]).at(-1),
          executed,
          big: [value.length, createHash("sha256").update(value).digest("hex")],
        };
      } finally {
        await conn.end();
      }
    };
    const direct = await run({ host: db.hostname, port: db.port });
    assert.equal(direct.rows, 5000);
    await withProxy(db, async (h) => {
      assert.deepEqual(await run(h.address as { host: string; port: number }), direct);
      await h.waitForLog("connection-closed", 1);
      h.assertAllDecoded();
      assert.ok(h.commands().some((c) => c.startsWith("COM_STMT_EXECUTE")));
    });
    await using recorder = await startRecorder(db);
    assert.deepEqual(await run(recorder.address), direct);
    const path = await recorder.close();
    const recording = await loadRecording(path);
    const [connection] = recording.connections.values();
    assert.equal(connection.compression, "zlib");
    assert.ok(connection.commands.some((c) => c.event.cmd === "stmt-execute"));
    await using server = await replay(path, { listen: "127.0.0.1:0", strict: true });
    const watcher = await compressionWatcher(server.port);
    try {
      assert.deepEqual(await run({ host: "127.0.0.1", port: watcher.proxy.port }), direct);
    } finally {
      await watcher.proxy.close();
    }
    assert.equal(watcher.seen[0]?.compressed, true);
    assert.equal(watcher.seen[0]?.unknown, 0);
  },
  { timeoutMs: 180_000 },
);
