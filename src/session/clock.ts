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
 * Whether the bytes being decoded were forwarded already (a relay feeding taps after the fact set
 * their time): a tap need not defer its work to let the forwarding go first.
 *
 * @example
 * ```ts
 * import { forwardedAlready } from "./clock.ts";
 * if (!forwardedAlready()) queueMicrotask(() => {});
 * ```
 */
export function forwardedAlready(): boolean {
  return relayTime !== undefined;
}

/**
 * Runs `fn` with {@link relayNow} answering `time`, then restores what it answered before: for a
 * tap that decodes later than it was given the bytes.
 *
 * @example
 * ```ts
 * import { relayNow, withRelayTime } from "./clock.ts";
 * withRelayTime(12.5, () => console.assert(relayNow() === 12.5));
 * ```
 */
export function withRelayTime<T>(time: number, fn: () => T): T {
  const before = relayTime;
  relayTime = time;
  try {
    return fn();
  } finally {
    relayTime = before;
  }
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
