/**
 * collectResult() over real decoded responses: a client that did not negotiate
 * CLIENT_DEPRECATE_EOF (the EOF after the column definitions ends nothing) and one that did.
 *
 * @module
 */

import assert from "node:assert/strict";
import { collectResult } from "../../src/client/result.ts";
import { type DecodedPacket, SessionDecoder } from "../../src/session/decoder.ts";
import { PacketFramer } from "../../src/protocol/framing.ts";
import { frame, readCapture } from "../helpers/hex.ts";

const CAPTURES = new URL("../fixtures/captures/", import.meta.url);
const decoder = new TextDecoder();

/** Each command of a capture's first connection with the server packets answering it. */
function responses(name: string): { sql?: string; packets: DecodedPacket[] }[] {
  const frames = readCapture(new URL(name, CAPTURES)).filter((f) => f.connection === 1);
  const session = new SessionDecoder();
  const framers = { client: new PacketFramer(), server: new PacketFramer() };
  const out: { sql?: string; packets: DecodedPacket[] }[] = [];
  for (const f of frames) {
    framers[f.direction].push(frame(f.sequenceId, f.payload), (packet) => {
      const decoded = session[f.direction](packet);
      if (session.phase !== "command" && out.length === 0) return;
      if (f.direction === "client") {
        const message = decoded.message;
        out.push({ sql: message.kind === "COM_QUERY" ? message.sql : undefined, packets: [] });
      } else out.at(-1)?.packets.push(structuredClone(decoded));
    });
  }
  return out;
}

function firstRows(name: string, sql: RegExp): string[][] {
  const response = responses(name).find((r) => r.sql && sql.test(r.sql));
  assert.ok(response, `${name} has a query matching ${sql}`);
  const result = collectResult({ kind: "COM_QUERY", sql: response.sql! }, response.packets, [], {
    sentAt: 0,
    firstByteUs: 0,
    totalUs: 0,
  });
  assert.equal(result.resultSets.length, 1);
  assert.ok(result.resultSets[0].end, "the result set was ended by its last packet");
  return (result.resultSets[0].rows as (Uint8Array | null)[][]).map((row) =>
    row.map((value) => value === null ? "NULL" : decoder.decode(value))
  );
}

Deno.test("collectResult() keeps the rows after the EOF that ends the column definitions", () => {
  const rows = firstRows("d-cli-queries.txt", /^SELECT id, name, note, b FROM t/);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows.map((row) => row[0]), ["1", "2", "3"]);
});

Deno.test("collectResult() reads rows the same way with CLIENT_DEPRECATE_EOF", () => {
  const response = responses("d-mariadb-connector-deprecate-eof.txt").find((r) =>
    r.sql?.startsWith("SELECT")
  );
  assert.ok(response);
  const result = collectResult({ kind: "COM_QUERY", sql: response.sql! }, response.packets, [], {
    sentAt: 0,
    firstByteUs: 0,
    totalUs: 0,
  });
  assert.ok(result.resultSets.length >= 1);
  assert.ok(result.resultSets[0].rows.length > 0, "rows were collected");
});
