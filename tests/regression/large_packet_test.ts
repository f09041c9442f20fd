/**
 * Packets past 16 MiB, which travel as continuation frames (0xffffff-byte frames, then the rest):
 * too big for a committed recording, so made at test time. A 17 MiB value goes to the server as
 * an execute parameter and comes back as a text row and a binary row, through `record()`; the
 * recording then replays byte for byte to its own client side, and npm:mysql2 gets the same value
 * from the replay as from the server.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import mysql from "mysql2/promise";
import { record, replay } from "../../mod.ts";
import { liveTest } from "../helpers/mariadb.ts";
import { checkReplay } from "./drive_replay.ts";

const DATABASE = "regression_large";
const SIZE = 17 * 1024 * 1024 + 3;

function value(): Buffer {
  const bytes = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) bytes[i] = (i * 31 + (i >>> 16)) & 0xff;
  return bytes;
}

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function session(endpoint: { hostname: string; port: number }, insert: boolean) {
  const connection = await mysql.createConnection({
    host: endpoint.hostname,
    port: endpoint.port,
    user: "proxy_native",
    password: "native-pw-1",
    database: DATABASE,
  });
  try {
    if (insert) await connection.execute("INSERT INTO big VALUES (?, ?)", [1, value()]);
    const [text] = await connection.query("SELECT body FROM big WHERE id = 1");
    const [binary] = await connection.execute("SELECT body FROM big WHERE id = ?", [1]);
    return [
      sha((text as { body: Buffer }[])[0].body),
      sha((binary as { body: Buffer }[])[0].body),
    ];
  } finally {
    await connection.end();
  }
}

liveTest(
  "a 17 MiB value (continuation frames) records, replays byte for byte, and reads back",
  async (db) => {
    await db.sql(
      `DROP DATABASE IF EXISTS ${DATABASE}; CREATE DATABASE ${DATABASE};` +
        `CREATE TABLE ${DATABASE}.big (id INT PRIMARY KEY, body LONGBLOB)`,
    );
    const path = await Deno.makeTempFile({ prefix: "large-packet-", suffix: ".jsonl" });
    try {
      let recorded;
      {
        await using recorder = await record({
          listen: "127.0.0.1:0",
          server: `${db.hostname}:${db.port}`,
          out: path,
          overwrite: true,
        });
        recorded = await session(recorder, true);
      }
      assert.deepEqual(recorded, [sha(value()), sha(value())]);

      const check = await checkReplay(path, "proxy_native");
      assert.deepEqual(check.differences.map((d) => d.command), []);
      assert.deepEqual(check.notes, []);
      assert.equal(check.stats.misses, 0);
      assert.ok(check.packets >= 4, "the large rows were compared");

      await using server = await replay(path, { listen: "127.0.0.1:0", strict: true });
      assert.deepEqual(await session(server, true), recorded);
    } finally {
      await Deno.remove(path);
    }
  },
  { timeoutMs: 180_000 },
);
