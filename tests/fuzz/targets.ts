/**
 * Fuzz targets: each takes a seeded {@link Random} and runs one iteration, throwing when the
 * code under test broke its contract.
 *
 * Contracts enforced:
 * - codec: every parse function returns, or throws a `ProtocolError` (never a bare RangeError,
 *   TypeError or anything else from a bad index); `PacketFramer` likewise, and it buffers no more
 *   than it has received.
 * - session: `SessionDecoder` never throws, in full and in track mode, whatever the packets; a
 *   packet that does not decode becomes `kind: "unknown"`.
 *
 * @module
 */

import { ProtocolError } from "../../src/protocol/errors.ts";
import { Capability } from "../../src/protocol/constants.ts";
import type { CodecContext } from "../../src/protocol/context.ts";
import {
  parseAuthMoreData,
  parseAuthNextFactor,
  parseAuthSwitchRequest,
  parseAuthSwitchResponse,
} from "../../src/protocol/auth.ts";
import { parseBinaryRow } from "../../src/protocol/binary.ts";
import { parseComChangeUser } from "../../src/protocol/change_user.ts";
import { parseCommand } from "../../src/protocol/commands.ts";
import {
  parseEof,
  parseErr,
  parseGenericResponse,
  parseOk,
  parseProgressReport,
} from "../../src/protocol/generic.ts";
import {
  parseHandshakeResponse,
  parseHandshakeResponse320,
  parseHandshakeResponse41,
  parseHandshakeV10,
  parseSslRequest,
  readGreetingCapabilities,
} from "../../src/protocol/handshake.ts";
import {
  parseColumnCount,
  parseColumnDefinition320,
  parseColumnDefinition41,
  parseLocalInfileData,
  parseLocalInfileRequest,
  parseStatistics,
  parseStmtPrepareOk,
  parseTextRow,
} from "../../src/protocol/resultset.ts";
import { parseStmtExecute } from "../../src/protocol/statement.ts";
import { type Packet, PacketFramer } from "../../src/protocol/framing.ts";
import { SessionDecoder } from "../../src/session/decoder.ts";
import { createSessionTap } from "../../src/session/tap.ts";
import { frame } from "../helpers/hex.ts";
import { type CorpusPacket, loadCorpus, mutate, type Random } from "./random.ts";

const CORPUS = loadCorpus();
const ALL_PACKETS: CorpusPacket[] = CORPUS.flatMap((s) => s.packets);

/** Column types the binary row parser knows, and some it does not. */
const TYPES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 15, 16, 0xf5, 0xf6, 0xfc, 0xfd, 0xfe, 99];

function randomContext(random: Random): CodecContext {
  const base = Capability.CLIENT_PROTOCOL_41;
  return {
    capabilities: random.chance(0.2) ? random.int(2 ** 32) >>> 0 : base | random.int(2 ** 31),
    mariadbCapabilities: random.int(32),
  };
}

/** A payload to feed a parser: a mutated real packet, random bytes, or (rarely) empty. */
function payloadFor(random: Random): Uint8Array {
  const roll = random.int(10);
  if (roll === 0) return new Uint8Array(0);
  if (roll < 3) return random.bytes(1 + random.int(64));
  const source = random.pick(ALL_PACKETS).payload;
  return random.chance(0.1) ? source.slice() : mutate(random, source);
}

/** Fails unless `fn` returns or throws a ProtocolError. */
function expectProtocolErrorOnly(name: string, payload: Uint8Array, fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtocolError) return;
    const hex = Array.from(payload.subarray(0, 64), (b) => b.toString(16).padStart(2, "0")).join(
      "",
    );
    throw new Error(
      `${name} threw ${(error as Error)?.name ?? typeof error} (not a ProtocolError) for ` +
        `payload ${hex}${payload.length > 64 ? "..." : ""}: ${(error as Error)?.message}`,
      { cause: error },
    );
  }
}

type Parser = (payload: Uint8Array, random: Random) => unknown;

/** Every parse function of the codec, with the extra arguments each takes. */
export const PARSERS: Record<string, Parser> = {
  parseHandshakeV10: (p) => parseHandshakeV10(p),
  readGreetingCapabilities: (p) => readGreetingCapabilities(p),
  parseSslRequest: (p) => parseSslRequest(p),
  parseHandshakeResponse: (p) => parseHandshakeResponse(p),
  parseHandshakeResponse41: (p) => parseHandshakeResponse41(p),
  parseHandshakeResponse320: (p) => parseHandshakeResponse320(p),
  parseAuthSwitchRequest: (p) => parseAuthSwitchRequest(p),
  parseAuthSwitchResponse: (p) => parseAuthSwitchResponse(p),
  parseAuthMoreData: (p) => parseAuthMoreData(p),
  parseAuthNextFactor: (p) => parseAuthNextFactor(p),
  parseComChangeUser: (p, r) => parseComChangeUser(p, randomContext(r)),
  parseOk: (p, r) => parseOk(p, randomContext(r)),
  parseErr: (p, r) => parseErr(p, randomContext(r)),
  parseEof: (p, r) => parseEof(p, randomContext(r)),
  parseProgressReport: (p) => parseProgressReport(p),
  parseGenericResponse: (p, r) => parseGenericResponse(p, randomContext(r)),
  parseColumnCount: (p, r) => parseColumnCount(p, randomContext(r)),
  parseColumnDefinition41: (p, r) => parseColumnDefinition41(p, randomContext(r)),
  parseColumnDefinition320: (p) => parseColumnDefinition320(p),
  parseTextRow: (p, r) => parseTextRow(p, r.int(8)),
  parseBinaryRow: (p, r) =>
    parseBinaryRow(
      p,
      Array.from({ length: r.int(8) }, () => ({ type: r.pick(TYPES), flags: r.int(256) })),
    ),
  parseStmtPrepareOk: (p, r) => parseStmtPrepareOk(p, randomContext(r)),
  parseLocalInfileRequest: (p) => parseLocalInfileRequest(p),
  parseLocalInfileData: (p) => parseLocalInfileData(p),
  parseStatistics: (p) => parseStatistics(p),
  parseCommand: (p, r) => {
    const statements = new Map([[1, { parameterCount: r.int(4) }]]);
    return parseCommand(p, randomContext(r), statements);
  },
  parseStmtExecute: (p, r) =>
    parseStmtExecute(
      p,
      randomContext(r),
      r.chance(0.5) ? { parameterCount: r.int(6) } : undefined,
    ),
};

/** One payload through every parser. */
export function fuzzCodec(random: Random): void {
  const payload = payloadFor(random);
  for (const [name, parse] of Object.entries(PARSERS)) {
    expectProtocolErrorOnly(name, payload, () => parse(payload, random));
  }
}

/**
 * A stream of frames (real and mutated, with lying length headers) cut at random points into a
 * framer with a random cap: only ProtocolErrors, and never more buffered than received.
 */
export function fuzzFramer(random: Random): void {
  const parts: Uint8Array[] = [];
  for (let i = 0, n = 1 + random.int(8); i < n; i++) {
    const packet = random.pick(ALL_PACKETS);
    let bytes = frame(packet.sequenceId, packet.payload);
    if (random.chance(0.3)) bytes = mutate(random, bytes);
    parts.push(bytes);
  }
  const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    stream.set(part, at);
    at += part.length;
  }
  const truncate = random.chance(0.3);
  const framer = new PacketFramer(
    truncate
      ? { truncateAbove: 1 + random.int(128) }
      : { maxPacketLength: random.chance(0.5) ? 1 + random.int(4096) : undefined },
  );
  let received = 0;
  let offset = 0;
  while (offset < stream.length) {
    const size = 1 + random.int(Math.min(64, stream.length - offset));
    const chunk = stream.subarray(offset, offset + size);
    offset += size;
    received += chunk.length;
    try {
      framer.push(chunk, (packet: Packet) => {
        if (packet.payload.length > packet.length) throw new Error("payload longer than length");
      });
    } catch (error) {
      if (error instanceof ProtocolError) return;
      throw error;
    }
    if (framer.buffered > received) {
      throw new Error(`framer holds ${framer.buffered} bytes after receiving ${received}`);
    }
  }
}

/** A real session with some packets mutated, dropped, duplicated or invented. */
function mutatedSession(random: Random): CorpusPacket[] {
  const session = random.pick(CORPUS).packets;
  const out: CorpusPacket[] = [];
  for (const packet of session) {
    const roll = random.int(20);
    if (roll === 0) continue;
    if (roll === 1) {
      out.push({ ...packet, payload: random.bytes(random.int(40)) });
    } else if (roll < 5) {
      out.push({ ...packet, payload: mutate(random, packet.payload) });
    } else {
      out.push(packet);
    }
    if (roll === 5) out.push(packet);
    if (roll === 6) {
      out.push({
        direction: random.chance(0.5) ? "client" : "server",
        sequenceId: random.int(256),
        payload: random.pick(ALL_PACKETS).payload,
      });
    }
  }
  return out;
}

function asPacket(packet: CorpusPacket): Packet {
  return {
    sequenceId: packet.sequenceId,
    lastSequenceId: packet.sequenceId,
    frames: 1,
    length: packet.payload.length,
    payload: packet.payload,
  };
}

/** A mutated session through the state machine, full decoding or track mode: never throws. */
export function fuzzSession(random: Random): void {
  const packets = mutatedSession(random);
  const full = random.chance(0.5);
  const decoder = new SessionDecoder();
  for (const packet of packets) {
    try {
      if (!decoder.framed) break;
      if (full) {
        const decoded = packet.direction === "client"
          ? decoder.client(asPacket(packet))
          : decoder.server(asPacket(packet));
        if (!decoded || typeof decoded.message?.kind !== "string") {
          throw new Error("decoded packet without a message kind");
        }
      } else {
        decoder.track(packet.direction, asPacket(packet));
      }
    } catch (error) {
      throw new Error(
        `SessionDecoder.${full ? packet.direction : "track"}() threw on a ${packet.direction} ` +
          `packet (seq ${packet.sequenceId}, ${packet.payload.length} bytes): ${
            (error as Error).message
          }`,
        { cause: error },
      );
    }
  }
}

/**
 * The same through `createSessionTap` as the proxy drives it: framed bytes in random chunks,
 * directions interleaved. The tap may throw only ProtocolErrors (a packet over the cap), which
 * the proxy's guardTap turns into a log line.
 */
export function fuzzTap(random: Random): void {
  const packets = mutatedSession(random);
  const tap = createSessionTap(
    random.chance(0.5) ? { onPacket: () => {}, maxPacketLength: 1 + random.int(1024) } : {},
  );
  for (const packet of packets) {
    let bytes = frame(packet.sequenceId, packet.payload);
    if (random.chance(0.05)) bytes = mutate(random, bytes);
    try {
      for (let at = 0; at < bytes.length;) {
        const size = 1 + random.int(bytes.length - at);
        tap[packet.direction](bytes.subarray(at, at + size));
        at += size;
      }
    } catch (error) {
      if (error instanceof ProtocolError) return;
      throw error;
    }
  }
}

/** The in-process targets, by name. */
export const TARGETS: Record<string, (random: Random) => void> = {
  codec: fuzzCodec,
  framer: fuzzFramer,
  session: fuzzSession,
  tap: fuzzTap,
};
