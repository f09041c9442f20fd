/**
 * The fake server's command phase at the packet level, with a raw client (no driver): what a
 * driver would never send, and the answers replay makes up.
 */
import assert from "node:assert/strict";
import { replay } from "../../mod.ts";
import { PacketFramer } from "../../src/protocol/framing.ts";
import { framePacket } from "../../src/protocol/writer.ts";
import { serializeHandshakeResponse41 } from "../../src/protocol/handshake.ts";
import { Capability } from "../../src/protocol/constants.ts";
import { parseErr } from "../../src/protocol/generic.ts";
import { rows, writeRecording } from "./recordings.ts";

/** A client speaking raw packets: one request, then every packet of its response. */
class RawClient {
  #conn: Deno.Conn;
  #framer = new PacketFramer();
  #packets: Uint8Array[] = [];
  #buffer = new Uint8Array(65536);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async login(port: number): Promise<RawClient> {
    const client = new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
    await client.read(1); // the greeting
    const capabilities = Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION |
      Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_LONG_PASSWORD;
    await client.#conn.write(framePacket(
      serializeHandshakeResponse41({
        kind: "handshake-response-41",
        capabilities,
        maxPacketSize: 0,
        characterSet: 45,
        mariadbCapabilities: 0,
        username: "app",
        authResponse: new Uint8Array(20),
        authPluginName: "mysql_native_password",
      }),
      1,
    ));
    const [ok] = await client.read(1);
    assert.equal(ok[0], 0x00, "login OK");
    return client;
  }

  /** Sends a command and reads `count` response packets. */
  async command(payload: number[] | Uint8Array, count: number): Promise<Uint8Array[]> {
    await this.#conn.write(framePacket(Uint8Array.from(payload), 0));
    return await this.read(count);
  }

  async read(count: number): Promise<Uint8Array[]> {
    while (this.#packets.length < count) {
      const n = await this.#conn.read(this.#buffer);
      if (n === null) throw new Error("the server closed the connection");
      this.#framer.push(this.#buffer.subarray(0, n), (p) => this.#packets.push(p.payload.slice()));
    }
    return this.#packets.splice(0, count);
  }

  close(): void {
    this.#conn.close();
  }
}

const QUERY = "SELECT v FROM t";

Deno.test("replay answers an unknown statement and a malformed packet with errors, counted as misses", async () => {
  const path = await writeRecording([{ commands: [{ cmd: "query", sql: QUERY, ...rows("a") }] }]);
  try {
    const server = await replay(path, { listen: "127.0.0.1:0", strict: true });
    const client = await RawClient.login(server.port);
    try {
      const [unknown] = await client.command([0x17, 99, 0, 0, 0, 0, 1, 0, 0, 0], 1);
      const err = parseErr(unknown);
      assert.equal(err.code, 1243);
      assert.equal(
        err.message,
        "Unknown prepared statement handler (99) given to mysqld_stmt_execute",
      );
      const [malformed] = await client.command([0x1c, 1], 1); // COM_STMT_FETCH cut short
      assert.equal(parseErr(malformed).code, 1835);
      // The connection goes on: the recorded query is answered (count, column, EOF, row, EOF).
      const answer = await client.command([0x03, ...new TextEncoder().encode(QUERY)], 5);
      assert.deepEqual([...answer[3]], [1, 0x61]);
      const [pong] = await client.command([0x0e], 1);
      assert.equal(pong[0], 0x00, "COM_PING is answered OK without a recording");
    } finally {
      client.close();
    }
    assert.deepEqual(server.misses.map((m) => m.message), [
      "Unknown prepared statement handler (99)",
      "Malformed packet: Cannot parse COM_STMT_FETCH: int<4> needs 4 bytes at offset 1, 1 left",
    ]);
    assert.equal(server.stats().misses, 2);
    await assert.rejects(server.close(), /2 miss\(es\), 0 recorded exchange\(s\) never used/);
  } finally {
    await Deno.remove(path);
  }
});
