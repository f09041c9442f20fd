/**
 * Size caps: a header announcing a huge packet costs nothing until its bytes arrive, and
 * `--max-packet` bounds what the proxy's decoder and replay's request reader hold.
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { createSessionTap, replay, startProxy } from "../../mod.ts";
import { PacketFramer } from "../../src/protocol/framing.ts";
import { liveTest } from "../helpers/mariadb.ts";
import { frame } from "../helpers/hex.ts";
import { captureLogger } from "../fuzz/net.ts";
import { queryDemo } from "./cli.ts";
import { loadCorpus } from "../fuzz/random.ts";

const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;

Deno.test("PacketFramer allocates nothing for a header that claims 16 MiB and sends 10 bytes", () => {
  for (const options of [{}, { truncateAbove: 64 * 1024 }]) {
    const framer = new PacketFramer(options);
    let packets = 0;
    framer.push(
      new Uint8Array([0xff, 0xff, 0xfe, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
      () => packets++,
    );
    assert.equal(packets, 0);
    assert.equal(framer.buffered, 14, "the header and the bytes received, no more");
  }
});

/** The first real login of the captures (replay accepts any password). */
function login(): Uint8Array {
  const packet = loadCorpus().flatMap((s) => s.packets).find((p) =>
    p.direction === "client" && p.sequenceId === 1 && p.payload.length > 32
  )!;
  return frame(1, packet.payload);
}

async function readPacket(conn: Deno.Conn): Promise<Uint8Array> {
  let bytes = new Uint8Array(0);
  const buffer = new Uint8Array(4096);
  while (bytes.length < 4 || bytes.length < 4 + (bytes[0] | bytes[1] << 8 | bytes[2] << 16)) {
    const count = await conn.read(buffer);
    if (count === null) throw new Error(`closed after ${bytes.length} bytes`);
    const joined = new Uint8Array(bytes.length + count);
    joined.set(bytes);
    joined.set(buffer.subarray(0, count), bytes.length);
    bytes = joined;
  }
  return bytes;
}

Deno.test("replay(): a request over maxPacketLength closes that connection with one log line; others go on", async () => {
  const log = captureLogger();
  await using server = await replay(DEMO, {
    listen: "127.0.0.1:0",
    logger: log.logger,
    maxPacketLength: 1024,
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await readPacket(conn); // greeting
    await conn.write(login());
    const ok = await readPacket(conn);
    assert.equal(ok[4], 0x00, "logged in");
    // A COM_QUERY header announcing 16 MiB - 1 bytes: refused at the header, nothing buffered.
    await conn.write(new Uint8Array([0xff, 0xff, 0xff, 0, 0x03, 0x53, 0x45]));
    assert.equal(await conn.read(new Uint8Array(16)), null, "replay closed the connection");
  } finally {
    conn.close();
  }
  await log.waitFor("connection-closed", 1);
  const closed = log.records.filter((r) => r.event === "connection-closed");
  assert.equal(closed.length, 1);
  assert.match(closed[0].reason!, /exceeds the 1024-byte limit/);
  // The next client is served.
  assert.equal(await queryDemo(server.port), 4);
});

liveTest(
  "proxy: a packet over --max-packet stops decoding that connection with one warning; relaying goes on",
  async (db) => {
    const log = captureLogger();
    const kinds: string[] = [];
    await using proxy = await startProxy({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      logger: log.logger,
      tap: () =>
        createSessionTap({
          maxPacketLength: 1024,
          onPacket: (p) => kinds.push(p.message.kind),
        }),
    });
    const { user, password } = db.users.native;
    const conn = await mysql.createConnection({
      host: "127.0.0.1",
      port: proxy.port,
      user,
      password,
    });
    try {
      const long = "x".repeat(4096);
      const [rows] = await conn.query(`SELECT LENGTH('${long}') AS n`);
      assert.deepEqual(rows, [{ n: 4096 }]);
      const [again] = await conn.query("SELECT 1 AS one");
      assert.deepEqual(again, [{ one: 1 }]);
    } finally {
      await conn.end();
    }
    await log.waitFor("connection-closed", 1);
    const warnings = log.records.filter((r) => r.level === "warn");
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0].event, "decode-failed");
    assert.match(warnings[0].message, /exceeds the 1024-byte limit/);
    assert.ok(!kinds.includes("COM_QUIT"), "decoding stopped at the long packet");
  },
);
