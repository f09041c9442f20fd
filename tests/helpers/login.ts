/**
 * The login of a captured connection (greeting, HandshakeResponse, OK) as wire frames, for tests
 * that need a tap in the command phase.
 *
 * @module
 */
import { frame, readCapture } from "./hex.ts";

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

/** Sets CLIENT_COMPRESS on both sides of a login (a `patch` for {@link loginFrames}). */
export function withCompression(greeting: Uint8Array, response: Uint8Array): void {
  // The server's lower capability bytes follow the version, the thread id and 8 scramble bytes.
  const nul = greeting.indexOf(0, 1);
  greeting[nul + 1 + 4 + 8 + 1] |= 0x20;
  response[0] |= 0x20;
}
