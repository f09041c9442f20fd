/**
 * A tap handed to another thread: `detach()` serializes a track-only tap between packets, and
 * `resumeSessionTap()` goes on from there exactly as the original would have.
 */
import assert from "node:assert/strict";
import { createSessionTap, resumeSessionTap } from "../../src/session/tap.ts";
import { frame, hex } from "../helpers/hex.ts";
import { CLASSIC, loginFrames, withCompression } from "../helpers/login.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";

const QUERY_SELECT_1 = frame(0, hex("03 53454c4543542031"));
// `SELECT 1` answered as the mariadb CLI's session gets it (no CLIENT_DEPRECATE_EOF).
const RESULT_SELECT_1 = [
  frame(1, hex("01 01")),
  frame(2, hex("03646566 00 00 00 0131 00 0c 3f00 01000000 08 8100 00 0000")),
  frame(3, hex("fe 0000 0200")),
  frame(4, hex("01 31")),
  frame(5, hex("fe 0000 0200")),
];

function loggedInTap(patch?: (greeting: Uint8Array, response: Uint8Array) => void) {
  const login = loginFrames(CLASSIC, patch);
  const opaque: string[] = [];
  const tap = createSessionTap({ onOpaque: (reason) => opaque.push(reason) });
  tap.server(login.greeting);
  tap.client(login.response);
  tap.server(login.ok);
  assert.equal(tap.decoder.phase, "command");
  return { tap, opaque };
}

Deno.test("a detached track-only tap resumes in the state it left: same phase, context and count", () => {
  const { tap } = loggedInTap();
  tap.client(QUERY_SELECT_1);
  for (const f of RESULT_SELECT_1) tap.server(f);
  const state = tap.detach!();
  assert.ok(state instanceof Uint8Array && state.length > 0);
  const opaque: string[] = [];
  const resumed = resumeSessionTap(state, { onOpaque: (reason) => opaque.push(reason) });
  for (const t of [tap, resumed]) {
    t.client(QUERY_SELECT_1);
    for (const f of RESULT_SELECT_1) t.server(f);
  }
  assert.equal(resumed.commands, 2);
  assert.equal(resumed.commands, tap.commands);
  assert.equal(resumed.decoder.phase, "command");
  assert.deepEqual(resumed.decoder.context, tap.decoder.context);
  assert.equal(resumed.decoder.pending.length, 0);
  // The resumed tap reports a lost track through its own onOpaque.
  resumed.client(QUERY_SELECT_1);
  resumed.server(frame(1, hex("fc 01")));
  assert.equal(resumed.decoder.phase, "opaque");
  assert.equal(opaque.length, 1);
});

Deno.test("detach() refuses a tap whose packets someone reads, and one in the middle of a packet", () => {
  const reading = createSessionTap({ onPacket: () => {} });
  assert.equal(reading.detach!(), undefined);
  const { tap } = loggedInTap();
  tap.client(QUERY_SELECT_1.subarray(0, 6));
  assert.equal(tap.detach!(), undefined, "half a query is buffered");
  tap.client(QUERY_SELECT_1.subarray(6));
  assert.ok(tap.detach!() !== undefined, "between packets again");
});

Deno.test("a detached tap keeps the compressed protocol; reattach() gives the final count", () => {
  const { tap } = loggedInTap(withCompression);
  assert.equal(tap.decoder.compressed, true);
  const resumed = resumeSessionTap(tap.detach!()!);
  // COM_PING in a stored-raw compressed frame, and its OK.
  resumed.client(hex("050000 00 000000 | 01000000 0e"));
  resumed.server(hex("0b0000 01 000000 | 07000001 00000002000000"));
  assert.equal(resumed.commands, 1);
  // A compressed body that is not zlib: the tap throws (the relay then stops decoding).
  assert.throws(() => resumed.client(hex("050000 01 0a0000 | 0102030405")), ProtocolError);
  tap.reattach!({ commands: 7 });
  assert.equal(tap.commands, 7);
});
