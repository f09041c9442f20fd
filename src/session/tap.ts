/**
 * The seam between the relay and the decoder: a tap sees every byte of one connection, in order,
 * before the bytes are forwarded.
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";
import { type Packet, PacketFramer } from "../protocol/framing.ts";
import { CompressedFramer } from "../protocol/compression.ts";
import { type DecodedPacket, type DecoderSnapshot, SessionDecoder } from "./decoder.ts";

/** What the proxy knows about a connection when it opens. */
export interface ConnectionInfo {
  /** Sequential id within this proxy, from 1. */
  id: number;
  /** The client's address (`127.0.0.1:51234` or `unix`). */
  client: string;
  /** The server this connection is relayed to. */
  server: string;
  /** When the client connected. */
  openedAt: Date;
}

/** Watches one connection's byte streams. */
export interface ConnectionTap {
  /** Bytes from the client, before they are forwarded. Views are valid only during the call. */
  client(chunk: Uint8Array): void;
  /** Bytes from the server, before they are forwarded. Views are valid only during the call. */
  server(chunk: Uint8Array): void;
  /** Commands decoded so far. */
  readonly commands: number;
  /** The connection ended: why, and the bytes each side sent. */
  close?(reason: string, bytes: { client: number; server: number }): void;
  /**
   * For a relay on another thread: the tap's state, serialized, when what the tap does needs
   * nothing of this thread (it only follows the protocol, for the command count and the reason
   * decoding stops), so that thread can go on with it ({@link resumeSessionTap}) and keep the
   * bytes to itself; undefined when the tap must see them here; empty when it needs nothing
   * more at all. A relay calls it only when it takes whatever comes back (up to
   * {@link MAX_DETACHED_BYTES}): after a state, only {@link reattach} and {@link close} are
   * called. `relay.forwards`: the relay can also forward the bytes (see {@link forwardedState}).
   */
  detach?(relay?: DetachOffer): Uint8Array | undefined;
  /** What the thread that went on with a detached tap reports: see {@link TapReport}. */
  reattach?(report: TapReport): void;
}

/** What a relay that detaches taps offers them (see {@link ConnectionTap.detach}). */
export interface DetachOffer {
  /** A state from {@link forwardedState} has the connection's bytes forwarded. */
  forwards: boolean;
}

/** What a detached tap's thread reports back, as it happens (a reason) and at the end (a count). */
export interface TapReport {
  /** Commands decoded so far, when the count is final. */
  commands?: number;
  /** Decoding stopped for the rest of the connection (the tap's `onOpaque`). */
  opaque?: string;
  /** The tap threw on a direction's bytes: decoding stopped, forwarding goes on (logged). */
  failed?: { direction: "client" | "server"; message: string };
  /**
   * The connection's bytes are no longer forwarded (see {@link forwardedState}): their receiver
   * was too far behind.
   */
  forwardStopped?: boolean;
}

/**
 * Largest state {@link ConnectionTap.detach} returns: a tap whose state is larger stays where it
 * is. A relay that calls `detach()` only when it has room for this many bytes takes every state.
 */
export const MAX_DETACHED_BYTES = 64 * 1024;

/** Bytes of each packet kept when only the protocol state is followed (see `track()`). */
const TRACK_PREFIX_BYTES = 64 * 1024;

/** Options of {@link createSessionTap}. */
export interface SessionTapOptions {
  /** Receives every decoded packet, in wire order. Byte fields are valid only during the call. */
  onPacket?: (packet: DecodedPacket) => void;
  /** Decoding stopped for the rest of the connection (TLS, a lost track). */
  onOpaque?: (reason: string) => void;
  /** Largest packet reassembled for decoding; larger ones stop decoding. Default 1 GiB. */
  maxPacketLength?: number;
  /**
   * With the compressed protocol: the most bytes one compressed frame may inflate to (default
   * and maximum 16 MiB - 1); a frame announcing more, or inflating past its announcement, stops
   * decoding (a thrown `ProtocolError`; forwarding never depends on it).
   */
  maxFrameLength?: number;
}

/**
 * A tap that frames both directions and runs them through a {@link SessionDecoder}. When both
 * sides negotiated the compressed protocol, each direction switches after the login's OK to
 * inflating compressed frames before framing the packets they carry (the relay still forwards
 * the compressed bytes as they came).
 *
 * @example
 * ```ts
 * import { createSessionTap } from "./tap.ts";
 * const kinds: string[] = [];
 * const tap = createSessionTap({ onPacket: (p) => kinds.push(p.message.kind) });
 * tap.server(new Uint8Array([1, 0, 0, 0, 0xff])); // a 1-byte packet: not a greeting
 * console.assert(kinds.length === 1);
 * ```
 */
export function createSessionTap(options: SessionTapOptions = {}): ConnectionTap & {
  readonly decoder: SessionDecoder;
} {
  return sessionTap(new SessionDecoder({ onOpaque: options.onOpaque }), options, false);
}

/**
 * A tap that goes on from the state another thread's session tap was detached with (see
 * {@link ConnectionTap.detach}). It only follows the protocol: `onPacket` is not offered.
 *
 * @example
 * ```ts
 * import { createSessionTap, resumeSessionTap } from "./tap.ts";
 * const state = createSessionTap().detach!()!; // a tap that nobody reads packets from
 * const resumed = resumeSessionTap(state, { onOpaque: (reason) => console.log(reason) });
 * console.assert(resumed.decoder.phase === "greeting");
 * ```
 */
export function resumeSessionTap(
  state: Uint8Array,
  options: Omit<SessionTapOptions, "onPacket" | "maxPacketLength"> = {},
): ConnectionTap & { readonly decoder: SessionDecoder } {
  const { decoder, compressed } = deserialize(state) as DetachedState;
  const restored = SessionDecoder.restore(decoder, { onOpaque: options.onOpaque });
  return sessionTap(restored, options, compressed);
}

/** What {@link ConnectionTap.detach} serializes. */
interface DetachedState {
  decoder: DecoderSnapshot;
  /** Compressed frames have started in both directions. */
  compressed: boolean;
  /** See {@link forwardedState}. */
  forward?: number;
}

/**
 * A detached tap's state that also asks the relay to forward the connection's bytes, tagged with
 * `id`, to the thread it was given for that (see src/net/epoll/forward.ts): for a tap whose real
 * work runs on a third thread (`proxy --compare`), so the bytes need not pass through this one.
 *
 * @example
 * ```ts
 * import { createSessionTap, detachedForward, forwardedState } from "./tap.ts";
 * const state = forwardedState(createSessionTap().detach()!, 7);
 * console.assert(detachedForward(state) === 7);
 * ```
 */
export function forwardedState(state: Uint8Array, id: number): Uint8Array {
  const detached = deserialize(state) as DetachedState;
  detached.forward = id;
  return serialize(detached);
}

/**
 * The id a detached state asks its connection's bytes to be forwarded as (see
 * {@link forwardedState}); undefined when it does not, or for a state that does not read.
 *
 * @example
 * ```ts
 * import { createSessionTap, detachedForward } from "./tap.ts";
 * console.assert(detachedForward(createSessionTap().detach()!) === undefined);
 * ```
 */
export function detachedForward(state: Uint8Array): number | undefined {
  if (state.length === 0) return undefined;
  try {
    return (deserialize(state) as DetachedState).forward;
  } catch {
    return undefined;
  }
}

function sessionTap(
  decoder: SessionDecoder,
  options: SessionTapOptions,
  compressedFromStart: boolean,
): ConnectionTap & { readonly decoder: SessionDecoder } {
  // With nobody reading the messages, the state machine needs only each packet's first bytes:
  // large packets are not reassembled, so memory stays bounded whatever their size.
  const framerOptions = options.onPacket
    ? { maxPacketLength: options.maxPacketLength }
    : { truncateAbove: TRACK_PREFIX_BYTES, reusePacket: true };
  const clientFramer = new PacketFramer(framerOptions);
  const serverFramer = new PacketFramer(framerOptions);
  const onPacket = options.onPacket;
  // With nobody reading the messages, the decoder only follows the state (see track()).
  const fromClient = onPacket
    ? (packet: Packet) => onPacket(decoder.client(packet))
    : (packet: Packet) => decoder.track("client", packet);
  const fromServer = onPacket
    ? (packet: Packet) => onPacket(decoder.server(packet))
    : (packet: Packet) => decoder.track("server", packet);
  // Until compression starts, the server's packets are watched for the login's OK that starts
  // it: the rest of that chunk is already compressed frames.
  const fromServerPlain = (packet: Packet) => {
    fromServer(packet);
    if (decoder.compressed) serverFramer.stop();
  };
  const frameOptions = { maxFrameLength: options.maxFrameLength };
  let clientFrames = compressedFromStart ? new CompressedFramer(frameOptions) : undefined;
  let serverFrames = compressedFromStart ? new CompressedFramer(frameOptions) : undefined;
  const clientBytes = (bytes: Uint8Array) => {
    clientFramer.push(bytes, fromClient);
  };
  const serverBytes = (bytes: Uint8Array) => {
    serverFramer.push(bytes, fromServer);
  };
  /** The final count, once a detached tap's thread reported it. */
  let reported: number | undefined;
  return {
    decoder,
    client(chunk) {
      if (!decoder.framed) return;
      if (clientFrames) clientFrames.push(chunk, clientBytes);
      else clientFramer.push(chunk, fromClient);
    },
    server(chunk) {
      if (!decoder.framed) return;
      if (serverFrames) {
        serverFrames.push(chunk, serverBytes);
        return;
      }
      const used = serverFramer.push(chunk, fromServerPlain);
      if (!decoder.compressed) return;
      // The client compresses only once it has read the OK, which the relay forwards after this
      // call: none of its compressed bytes came before.
      clientFrames = new CompressedFramer(frameOptions);
      serverFrames = new CompressedFramer(frameOptions);
      if (used < chunk.length) serverFrames.push(chunk.subarray(used), serverBytes);
    },
    get commands() {
      return reported ?? decoder.commands;
    },
    detach() {
      // Only a tap nobody reads packets from, between packets in both directions.
      const idle = clientFramer.idle && serverFramer.idle &&
        (clientFrames?.buffered ?? 0) === 0 && (serverFrames?.buffered ?? 0) === 0;
      if (onPacket || !idle) return undefined;
      const state: DetachedState = {
        decoder: decoder.snapshot(),
        compressed: clientFrames !== undefined,
      };
      const bytes = serialize(state);
      return bytes.length <= MAX_DETACHED_BYTES ? bytes : undefined;
    },
    reattach(report) {
      if (report.commands !== undefined) reported = report.commands;
      if (report.opaque !== undefined) options.onOpaque?.(report.opaque);
    },
  };
}
