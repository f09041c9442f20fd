/**
 * The comparing side's reader of the ring the epoll relay's worker writes to (net/epoll/ring.ts),
 * in the comparing process or, where none can be started, the comparing worker thread. Nothing
 * wakes it: it looks at the ring every {@link LOOK_MS} while traffic comes, every
 * {@link QUIET_LOOK_MS} once it has stopped, and while the comparison steps aside for a busy
 * machine only when the pause ends; the batches then wait in memory it reuses (backlog.ts).
 *
 * @module
 */

import type { ByteRing } from "../net/epoll/ring.ts";
import { ringSource } from "../net/epoll/ring.ts";
import { Backlog, forwardFramesInto } from "./backlog.ts";
import type { Comparing } from "./comparing.ts";
import { readFrames } from "./frames.ts";

/**
 * How often an empty ring is looked at while traffic comes: as often as the relay's worker
 * writes to it (`FORWARD_FLUSH_MS`).
 */
export const LOOK_MS = 20;
/** How often once nothing has come for {@link QUIET_AFTER_MS}. */
export const QUIET_LOOK_MS = 200;
const QUIET_AFTER_MS = 1000;
/** How often once the traffic is over (the relay's side waits for the last batches). */
const DRAIN_LOOK_MS = 1;

/**
 * Hands the ring's batches to `comparing` as they come, for ever (until the thread or process
 * ends); rejects when the ring holds something that is not forward frames.
 *
 * @example
 * ```ts ignore
 * readRelayRing(new ByteRing(memory), comparing).catch(console.error);
 * ```
 */
export async function readRelayRing(ring: ByteRing, comparing: Comparing): Promise<void> {
  let lastBatch = performance.now();
  /** How long until the ring is looked at again, when it was found empty. */
  const nextLook = () => {
    if (comparing.draining) return DRAIN_LOOK_MS;
    const paused = comparing.pausedFor;
    // Just after the comparison's own timer: what came meanwhile is then taken in one go.
    if (paused > 0) return paused + 1;
    return performance.now() - lastBatch > QUIET_AFTER_MS ? QUIET_LOOK_MS : LOOK_MS;
  };
  const batches = readFrames(ringSource(ring, nextLook), forwardFramesInto(new Backlog()));
  for await (const { items, bytes, release } of batches) {
    lastBatch = performance.now();
    comparing.relayBatch(items, bytes, release);
  }
}
