/**
 * When the relay saw the bytes a tap is decoding. A tap fed in line sees them as they are read,
 * so `performance.now()` is right; the epoll relay feeds taps in batches a little later, and sets
 * the time each chunk was read here for the duration of the call, so recorded timings stay the
 * wire's.
 *
 * @module
 */

let relayTime: number | undefined;

/**
 * The time (`performance.now()` scale, milliseconds) the bytes being decoded crossed the relay.
 *
 * @example
 * ```ts
 * import { relayNow } from "./clock.ts";
 * const started = relayNow();
 * ```
 */
export function relayNow(): number {
  return relayTime ?? performance.now();
}

/**
 * Sets the time {@link relayNow} answers (undefined: the current time again). For relays that
 * hand chunks to taps after reading them.
 *
 * @example
 * ```ts
 * import { relayNow, setRelayTime } from "./clock.ts";
 * setRelayTime(12.5);
 * console.assert(relayNow() === 12.5);
 * setRelayTime(undefined);
 * ```
 */
export function setRelayTime(time: number | undefined): void {
  relayTime = time;
}
