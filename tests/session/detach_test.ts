/**
 * A tap handed to another thread: `detach()` serializes a track-only tap between packets, and
 * `resumeSessionTap()` goes on from there exactly as the original would have.
 */
import assert from "node:assert/strict";
import { createSessionTap, resumeSessionTap } from "../../src/session/tap.ts";
import { frame, hex } from "../helpers/hex.ts";
import {
  CLASSIC,
  loginFrames,
  SELECT_1_QUERY,
  SELECT_1_RESULT,
  withCompression,
} from "../helpers/login.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";

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
  tap.client(SELECT_1_QUERY);
  for (const f of SELECT_1_RESULT) tap.server(f);
  const state = tap.detach!();
  assert.ok(state instanceof Uint8Array && state.length > 0);
  const opaque: string[] = [];
  const resumed = resumeSessionTap(state, { onOpaque: (reason) => opaque.push(reason) });
  for (const t of [tap, resumed]) {
    t.client(SELECT_1_QUERY);
    for (const f of SELECT_1_RESULT) t.server(f);
  }
  assert.equal(resumed.commands, 2);
  assert.equal(resumed.commands, tap.commands);
  assert.equal(resumed.decoder.phase, "command");
  assert.deepEqual(resumed.decoder.context, tap.decoder.context);
  assert.equal(resumed.decoder.pending.length, 0);
  // The resumed tap reports a lost track through its own onOpaque.
  resumed.client(SELECT_1_QUERY);
  resumed.server(frame(1, hex("fc 01")));
  assert.equal(resumed.decoder.phase, "opaque");
  assert.equal(opaque.length, 1);
});

Deno.test("detach() refuses a tap whose packets someone reads, and one in the middle of a packet", () => {
  const reading = createSessionTap({ onPacket: () => {} });
  assert.equal(reading.detach!(), undefined);
  const { tap } = loggedInTap();
  tap.client(SELECT_1_QUERY.subarray(0, 6));
  assert.equal(tap.detach!(), undefined, "half a query is buffered");
  tap.client(SELECT_1_QUERY.subarray(6));
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
