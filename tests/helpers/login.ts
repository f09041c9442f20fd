/**
 * The login of a captured connection (greeting, HandshakeResponse, OK) as wire frames, for tests
 * that need a tap in the command phase.
 *
 * @module
 */
import { frame, hex, readCapture } from "./hex.ts";

/** The directory of captured sessions. */
export const CAPTURES = new URL("../fixtures/captures/", import.meta.url);

/** A login without CLIENT_DEPRECATE_EOF (the mariadb CLI). */
export const CLASSIC = "demo-cli-select.txt";

/** The wire frames of a login, as the server and the client sent them. */
export interface LoginFrames {
  greeting: Uint8Array;
  response: Uint8Array;
  ok: Uint8Array;
}

/**
 * The login frames of connection 1 of a capture in `tests/fixtures/captures/`. `patch` may edit
 * the greeting's and the response's payloads first (e.g. to set a capability bit on both sides).
 */
export function loginFrames(
  capture: string,
  patch?: (greeting: Uint8Array, response: Uint8Array) => void,
): LoginFrames {
  const frames = readCapture(new URL(capture, CAPTURES)).filter((f) => f.connection === 1);
  patch?.(frames[0].payload, frames[1].payload);
  const [greeting, response, ok] = frames.slice(0, 3).map((f) => frame(f.sequenceId, f.payload));
  return { greeting, response, ok };
}

/** COM_QUERY `SELECT 1`, as a client sends it. */
export const SELECT_1_QUERY: Uint8Array = frame(0, hex("03 53454c4543542031"));

/** The answer to `SELECT 1` in a {@link CLASSIC} session (no CLIENT_DEPRECATE_EOF). */
export const SELECT_1_RESULT: readonly Uint8Array[] = [
  frame(1, hex("01 01")),
  frame(2, hex("03646566 00 00 00 0131 00 0c 3f00 01000000 08 8100 00 0000")),
  frame(3, hex("fe 0000 0200")),
  frame(4, hex("01 31")),
  frame(5, hex("fe 0000 0200")),
];

/** Sets CLIENT_COMPRESS on both sides of a login (a `patch` for {@link loginFrames}). */
export function withCompression(greeting: Uint8Array, response: Uint8Array): void {
  // The server's lower capability bytes follow the version, the thread id and 8 scramble bytes.
  const nul = greeting.indexOf(0, 1);
  greeting[nul + 1 + 4 + 8 + 1] |= 0x20;
  response[0] |= 0x20;
}
