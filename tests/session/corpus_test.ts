/**
 * Every packet of every real capture in tests/fixtures/captures/ goes through the session state
 * machine: it must decode to a known kind (no `unknown`) and encode back to the same bytes.
 */
import assert from "node:assert/strict";
import { createSessionTap } from "../../src/session/tap.ts";
import { serializeMessage } from "../../src/session/encode.ts";
import { type DecodedPacket, SessionDecoder } from "../../src/session/decoder.ts";
import { PacketFramer } from "../../src/protocol/framing.ts";
import { frame, readCapture, toHex } from "../helpers/hex.ts";

const CAPTURES = new URL("../fixtures/captures/", import.meta.url);

/**
 * Packets that are rightly `unknown`, by capture file: what a real server answered to traffic
 * that was itself made up for the capture.
 */
const EXPECTED_UNKNOWN: Record<string, RegExp> = {};

interface Outcome {
  packets: number;
  unknown: string[];
  mismatches: string[];
  kinds: Set<string>;
}

function decodeCapture(name: string): Outcome {
  const frames = readCapture(new URL(name, CAPTURES));
  const connections = new Map<number, typeof frames>();
  for (const f of frames) {
    if (!connections.has(f.connection)) connections.set(f.connection, []);
    connections.get(f.connection)!.push(f);
  }
  const outcome: Outcome = { packets: 0, unknown: [], mismatches: [], kinds: new Set() };
  for (const [id, list] of connections) {
    const onPacket = (packet: DecodedPacket) => {
      outcome.packets++;
      outcome.kinds.add(packet.message.kind);
      const where = `conn ${id} ${packet.direction} seq ${packet.sequenceId}`;
      if (packet.message.kind === "unknown") {
        outcome.unknown.push(`${where}: ${packet.message.reason}`);
        return;
      }
      const columns = packet.exchange?.columns ?? [];
      const payload = currentPayload!;
      try {
        const again = serializeMessage(packet.message, tap.decoder.context, columns);
        if (toHex(again) !== toHex(payload)) {
          outcome.mismatches.push(
            `${where} ${packet.message.kind}: got ${toHex(again).slice(0, 80)}, want ${
              toHex(payload).slice(0, 80)
            }`,
          );
        }
      } catch (error) {
        outcome.mismatches.push(`${where} ${packet.message.kind}: ${(error as Error).message}`);
      }
    };
    let currentPayload: Uint8Array | undefined;
    const tap = createSessionTap({ onPacket });
    for (const f of list) {
      currentPayload = f.payload;
      const bytes = frame(f.sequenceId, f.payload);
      if (f.direction === "client") tap.client(bytes);
      else tap.server(bytes);
    }
  }
  return outcome;
}

const names = [...Deno.readDirSync(CAPTURES)].map((e) => e.name).filter((n) => n.endsWith(".txt"))
  .sort();

for (const name of names) {
  Deno.test(`SessionDecoder decodes every packet of ${name} and re-encodes it exactly`, () => {
    const outcome = decodeCapture(name);
    assert.ok(outcome.packets > 0, "capture has packets");
    const allowed = EXPECTED_UNKNOWN[name];
    const unexpected = outcome.unknown.filter((line) => !allowed || !allowed.test(line));
    assert.deepEqual(unexpected, [], "packets decoded as unknown");
    assert.deepEqual(outcome.mismatches, [], "packets that do not re-encode to their bytes");
  });
}

Deno.test("the capture corpus covers every packet kind the decoder knows", () => {
  const seen = new Set<string>();
  for (const name of names) for (const kind of decodeCapture(name).kinds) seen.add(kind);
  const expected = [
    "handshake-v10",
    "ssl-request",
    "handshake-response-41",
    "handshake-response-320",
    "auth-switch-request",
    "old-auth-switch-request",
    "auth-switch-response",
    "auth-more-data",
    "auth-next-factor",
    "ok",
    "err",
    "eof",
    "progress",
    "column-count",
    "column-definition",
    "column-definition-320",
    "text-row",
    "binary-row",
    "stmt-prepare-ok",
    "local-infile-request",
    "local-infile-data",
    "statistics",
    "COM_QUERY",
    "COM_QUIT",
    "COM_INIT_DB",
    "COM_PING",
    "COM_FIELD_LIST",
    "COM_STATISTICS",
    "COM_CHANGE_USER",
    "COM_RESET_CONNECTION",
    "COM_SET_OPTION",
    "COM_STMT_PREPARE",
    "COM_STMT_EXECUTE",
    "COM_STMT_FETCH",
    "COM_STMT_CLOSE",
    "COM_STMT_RESET",
    "COM_STMT_SEND_LONG_DATA",
    "COM_DEBUG",
    "COM_REFRESH",
  ];
  assert.deepEqual(expected.filter((kind) => !seen.has(kind)), []);
});

Deno.test("SessionDecoder.track() walks the same states as full decoding on every capture", () => {
  for (const name of names) {
    const frames = readCapture(new URL(name, CAPTURES));
    for (const id of new Set(frames.map((f) => f.connection))) {
      const full = new SessionDecoder();
      const lite = new SessionDecoder();
      const fullFramer = { client: new PacketFramer(), server: new PacketFramer() };
      const liteFramer = { client: new PacketFramer(), server: new PacketFramer() };
      const state = (d: SessionDecoder) =>
        JSON.stringify([
          d.phase,
          d.framed,
          d.commands,
          d.pending.map((e) => [e.shape, e.stage, e.columnCount, e.rows, e.results]),
          [...d.statements.keys()],
          d.context,
        ]);
      for (const [i, f] of frames.filter((f) => f.connection === id).entries()) {
        const bytes = frame(f.sequenceId, f.payload);
        fullFramer[f.direction].push(bytes, (p) => full[f.direction](p));
        liteFramer[f.direction].push(bytes, (p) => lite.track(f.direction, p));
        assert.equal(state(lite), state(full), `${name} connection ${id} frame ${i}`);
      }
    }
  }
});
