/**
 * The generic response packets: OK, ERR (with MariaDB's progress reports) and EOF.
 *
 * Which of them a packet is depends on where the connection is (see {@link parseGenericResponse}):
 * 0xFE is an EOF, an OK (result-set end with CLIENT_DEPRECATE_EOF) or an AuthSwitchRequest; the
 * session state machine decides. Parsed messages may share memory with the payload they came from.
 *
 * @module
 */

import { Capability, MariaDbCapability, ServerStatus, SessionTrackType } from "./constants.ts";
import {
  type CodecContext,
  DEFAULT_CONTEXT,
  hasCapability,
  hasMariaDbCapability,
} from "./context.ts";
import { type LengthEncodedInteger, PacketReader } from "./reader.ts";
import { utf8Decode, utf8Encode, utf8Exact } from "./text.ts";
import { type UnknownPacket, unknownPacket } from "./unknown.ts";
import { PacketWriter } from "./writer.ts";

/** One entry of the session state changes an OK packet carries with CLIENT_SESSION_TRACK. */
export type SessionStateChange =
  /** SESSION_TRACK_SYSTEM_VARIABLES: one tracked variable and its new value. */
  | { kind: "system-variable"; name: string; value: string }
  /** SESSION_TRACK_SCHEMA: the new default schema. */
  | { kind: "schema"; schema: string }
  /** SESSION_TRACK_STATE_CHANGE: the character "1" (or "0"): whether the session state changed. */
  | { kind: "state-change"; changed: boolean }
  /** SESSION_TRACK_GTIDS (MySQL): an encoding specification (0: a GTID set as text) and the GTIDs. */
  | { kind: "gtids"; encoding: number; gtids: string }
  /** SESSION_TRACK_TRANSACTION_CHARACTERISTICS: SQL that would recreate them, or "". */
  | { kind: "transaction-characteristics"; characteristics: string }
  /** SESSION_TRACK_TRANSACTION_STATE: 8 characters such as `T_______`. */
  | { kind: "transaction-state"; state: string }
  /** An unknown type, or a known one whose data did not decode to something that re-encodes exactly. */
  | { kind: "raw"; type: number; data: Uint8Array };

/**
 * OK_Packet. Also ends a result set (header 0xFE) when CLIENT_DEPRECATE_EOF was negotiated.
 *
 * Real servers (MariaDB and MySQL alike) send `info` as a length-encoded string, with or without
 * CLIENT_SESSION_TRACK, and leave it out entirely when it is empty and no session state changed.
 */
export interface OkPacket {
  /** Which packet this is. */
  kind: "ok";
  /** 0x00, or 0xFE for an OK that replaces the EOF at the end of a result set. */
  header: 0x00 | 0xfe;
  /** Rows the statement changed (or matched, with CLIENT_FOUND_ROWS). */
  affectedRows: LengthEncodedInteger;
  /** The AUTO_INCREMENT value the statement generated, 0 when none. */
  lastInsertId: LengthEncodedInteger;
  /** Server status flags ({@link ServerStatus}): with CLIENT_PROTOCOL_41 or CLIENT_TRANSACTIONS. */
  statusFlags?: number;
  /** Warning count: with CLIENT_PROTOCOL_41. */
  warnings?: number;
  /** Human-readable information (`Rows matched: 1  Changed: 1  Warnings: 0`); absent when not sent. */
  info?: string;
  /** The bytes of `info` when they are not valid UTF-8 (`info` is then a lossy rendering). */
  infoBytes?: Uint8Array;
  /**
   * Set when `info` was sent as string<EOF> rather than a length-encoded string (the layout the
   * MySQL documentation gives without CLIENT_SESSION_TRACK; no real server was seen doing it).
   */
  infoEof?: true;
  /** Session state changes: with CLIENT_SESSION_TRACK when SERVER_SESSION_STATE_CHANGED is set. */
  sessionStateChanges?: SessionStateChange[];
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** ERR_Packet. */
export interface ErrPacket {
  /** Which packet this is. */
  kind: "err";
  /** Error code, e.g. 1054 (ER_BAD_FIELD_ERROR). */
  code: number;
  /**
   * The 5-character SQLSTATE after the '#' marker. Absent when the server left the marker out: an
   * ERR sent before the handshake ("Too many connections"), or to a client without
   * CLIENT_PROTOCOL_41.
   */
  sqlState?: string;
  /** The error message. */
  message: string;
  /** The bytes of `message` when they are not valid UTF-8 (`message` is then a lossy rendering). */
  messageBytes?: Uint8Array;
}

/**
 * MariaDB's progress report: an ERR packet with code 0xFFFF, sent only when
 * MARIADB_CLIENT_PROGRESS was negotiated, at any time while a command runs (even between LOAD DATA
 * LOCAL INFILE packets). It is not terminal: the real response follows.
 */
export interface ProgressReport {
  /** Which packet this is. */
  kind: "progress";
  /** The byte MariaDB writes before the stage: the number of strings that follow (always 1). */
  stringCount: number;
  /** Current stage, from 1. */
  stage: number;
  /** Number of stages. */
  maxStage: number;
  /** Progress within the stage in thousandths of a percent (0 to 100000). */
  progress: number;
  /** What the server is doing (`copy to tmp table`, `End bulk insert`). */
  state: string;
  /** The bytes of `state` when they are not valid UTF-8. */
  stateBytes?: Uint8Array;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/**
 * EOF_Packet: 0xFE, then warnings and status flags with CLIENT_PROTOCOL_41 (just 0xFE before 4.1).
 * With CLIENT_DEPRECATE_EOF a result set ends with an {@link OkPacket} whose header is 0xFE instead.
 */
export interface EofPacket {
  /** Which packet this is. */
  kind: "eof";
  /** Warning count: with CLIENT_PROTOCOL_41. */
  warnings?: number;
  /** Server status flags: with CLIENT_PROTOCOL_41. */
  statusFlags?: number;
  /** Bytes after the last field, kept for an exact round trip. */
  trailing?: Uint8Array;
}

/** What a server may answer where a generic response is expected. */
export type GenericResponse = OkPacket | ErrPacket | ProgressReport | EofPacket;

/** The error code that marks a MariaDB progress report. */
export const PROGRESS_REPORT_CODE = 0xffff;

/**
 * Bytes a length-encoded integer takes in its shortest form.
 *
 * @example
 * ```ts
 * import { lenencIntSize } from "./generic.ts";
 * console.assert(lenencIntSize(250) === 1 && lenencIntSize(251) === 3 && lenencIntSize(0x10000) === 4);
 * ```
 */
export function lenencIntSize(value: LengthEncodedInteger): number {
  if (value < 0xfb) return 1;
  if (value <= 0xffff) return 3;
  if (value <= 0xffffff) return 4;
  return 9;
}

/**
 * Reads a length-encoded integer and rejects a non-minimal encoding, which re-encoding would not
 * reproduce. Real servers always write the shortest form.
 *
 * @example
 * ```ts
 * import { readMinimalLenencInt } from "./generic.ts";
 * import { PacketReader } from "./reader.ts";
 * console.assert(readMinimalLenencInt(new PacketReader(new Uint8Array([0xfc, 0xfb, 0]))) === 251);
 * ```
 */
export function readMinimalLenencInt(reader: PacketReader): LengthEncodedInteger {
  const start = reader.offset;
  const value = reader.lenencInt();
  if (reader.offset - start !== lenencIntSize(value)) {
    reader.fail(`non-minimal length-encoded integer ${value} at offset ${start}`);
  }
  return value;
}

/**
 * Reads a length-encoded string's bytes, rejecting a non-minimal length prefix.
 *
 * @example
 * ```ts
 * import { readMinimalLenencBytes } from "./generic.ts";
 * import { PacketReader } from "./reader.ts";
 * console.assert(readMinimalLenencBytes(new PacketReader(new Uint8Array([1, 0x61]))).length === 1);
 * ```
 */
export function readMinimalLenencBytes(reader: PacketReader): Uint8Array {
  const length = readMinimalLenencInt(reader);
  if (typeof length === "bigint") reader.fail(`length ${length} is too large`);
  return reader.bytes(length);
}

/**
 * Whether a payload is a classic EOF packet: header 0xFE and shorter than 9 bytes (a text row can
 * start with 0xFE only as an 8-byte length prefix, so it is at least 9 bytes long).
 *
 * Note: at a result-set end with CLIENT_DEPRECATE_EOF, the 0xFE packet is an OK packet, and it is
 * short too (7 bytes from MariaDB): decide by the negotiated flags, not by this rule alone.
 *
 * @example
 * ```ts
 * import { isEofPacket } from "./generic.ts";
 * console.assert(isEofPacket(new Uint8Array([0xfe, 0, 0, 2, 0])));
 * ```
 */
export function isEofPacket(payload: Uint8Array): boolean {
  return payload.length > 0 && payload.length < 9 && payload[0] === 0xfe;
}

/**
 * Whether a payload is a MariaDB progress report (an ERR packet with code 0xFFFF). With a
 * `context`, also requires MARIADB_CLIENT_PROGRESS to have been negotiated.
 *
 * @example
 * ```ts
 * import { isProgressReport } from "./generic.ts";
 * console.assert(isProgressReport(new Uint8Array([0xff, 0xff, 0xff, 1, 1, 1, 0, 0, 0, 0])));
 * ```
 */
export function isProgressReport(payload: Uint8Array, context?: CodecContext): boolean {
  if (payload.length < 3 || payload[0] !== 0xff || payload[1] !== 0xff || payload[2] !== 0xff) {
    return false;
  }
  return context === undefined ||
    hasMariaDbCapability(context, MariaDbCapability.MARIADB_CLIENT_PROGRESS);
}

/** Decodes text that must round-trip: `{ text }`, plus the bytes when they are not UTF-8. */
function exactText(bytes: Uint8Array): { text: string; bytes?: Uint8Array } {
  const text = utf8Exact(bytes);
  return text === undefined ? { text: utf8Decode(bytes), bytes } : { text };
}

function setTrailing<T extends { trailing?: Uint8Array }>(message: T, reader: PacketReader): T {
  if (!reader.atEnd) message.trailing = reader.restBytes();
  return message;
}

/**
 * Parses an OK packet (header 0x00, or 0xFE at a result-set end with CLIENT_DEPRECATE_EOF).
 *
 * @example
 * ```ts
 * import { parseOk } from "./generic.ts";
 * const ok = parseOk(new Uint8Array([0x00, 0x01, 0x05, 0x02, 0x00, 0x00, 0x00]));
 * console.assert(ok.affectedRows === 1 && ok.lastInsertId === 5 && ok.statusFlags === 2);
 * ```
 */
export function parseOk(payload: Uint8Array, context: CodecContext = DEFAULT_CONTEXT): OkPacket {
  const reader = new PacketReader(payload, "OK packet");
  const header = reader.u8();
  if (header !== 0x00 && header !== 0xfe) {
    reader.fail(`expected header 0x00 or 0xfe, got 0x${header.toString(16).padStart(2, "0")}`);
  }
  const ok: OkPacket = {
    kind: "ok",
    header: header === 0xfe ? 0xfe : 0x00,
    affectedRows: readMinimalLenencInt(reader),
    lastInsertId: readMinimalLenencInt(reader),
  };
  if (hasCapability(context, Capability.CLIENT_PROTOCOL_41)) {
    ok.statusFlags = reader.u16();
    ok.warnings = reader.u16();
  } else if (hasCapability(context, Capability.CLIENT_TRANSACTIONS)) {
    ok.statusFlags = reader.u16();
  }
  if (reader.atEnd) return ok;
  if (hasCapability(context, Capability.CLIENT_SESSION_TRACK)) {
    setInfo(ok, readMinimalLenencBytes(reader));
    if (
      ok.statusFlags !== undefined &&
      (ok.statusFlags & ServerStatus.SERVER_SESSION_STATE_CHANGED) !== 0 && !reader.atEnd
    ) {
      ok.sessionStateChanges = readSessionStateChanges(reader);
    }
    return setTrailing(ok, reader);
  }
  // Without CLIENT_SESSION_TRACK the documentation says string<EOF>, but servers write a
  // length-encoded string (and old libmysql reads one): accept either, and remember which.
  const info = tryLenencSpanningRest(reader);
  if (info !== undefined) {
    setInfo(ok, info);
  } else {
    setInfo(ok, reader.restBytes());
    ok.infoEof = true;
  }
  return ok;
}

/** A length-encoded string that ends exactly at the end of the payload, or undefined (offset kept). */
function tryLenencSpanningRest(reader: PacketReader): Uint8Array | undefined {
  const rest = reader.payload.subarray(reader.offset);
  const probe = new PacketReader(rest, "OK packet info");
  try {
    const bytes = readMinimalLenencBytes(probe);
    if (!probe.atEnd) return undefined;
    reader.skip(rest.length);
    return bytes;
  } catch {
    return undefined;
  }
}

function setInfo(ok: OkPacket, bytes: Uint8Array): void {
  const { text, bytes: raw } = exactText(bytes);
  ok.info = text;
  if (raw) ok.infoBytes = raw;
}

function readSessionStateChanges(reader: PacketReader): SessionStateChange[] {
  const block = new PacketReader(readMinimalLenencBytes(reader), "session state changes");
  const changes: SessionStateChange[] = [];
  while (!block.atEnd) {
    const type = block.u8();
    const data = readMinimalLenencBytes(block);
    changes.push(decodeSessionStateChange(type, data));
  }
  return changes;
}

function decodeSessionStateChange(type: number, data: Uint8Array): SessionStateChange {
  const raw: SessionStateChange = { kind: "raw", type, data };
  let change: SessionStateChange;
  try {
    const reader = new PacketReader(data, "session state change");
    const text = () => {
      const value = utf8Exact(readMinimalLenencBytes(reader));
      if (value === undefined) throw new TypeError("not UTF-8");
      return value;
    };
    switch (type) {
      case SessionTrackType.SESSION_TRACK_SYSTEM_VARIABLES:
        change = { kind: "system-variable", name: text(), value: text() };
        break;
      case SessionTrackType.SESSION_TRACK_SCHEMA:
        change = { kind: "schema", schema: text() };
        break;
      case SessionTrackType.SESSION_TRACK_STATE_CHANGE: {
        // The data is the character itself, not a length-encoded string (MariaDB and MySQL).
        const flag = reader.u8();
        if (flag !== 0x31 && flag !== 0x30) return raw;
        change = { kind: "state-change", changed: flag === 0x31 };
        break;
      }
      case SessionTrackType.SESSION_TRACK_GTIDS:
        change = { kind: "gtids", encoding: reader.u8(), gtids: text() };
        break;
      case SessionTrackType.SESSION_TRACK_TRANSACTION_CHARACTERISTICS:
        change = { kind: "transaction-characteristics", characteristics: text() };
        break;
      case SessionTrackType.SESSION_TRACK_TRANSACTION_STATE:
        change = { kind: "transaction-state", state: text() };
        break;
      default:
        return raw;
    }
    if (!reader.atEnd) return raw;
  } catch {
    return raw;
  }
  return change;
}

function writeSessionStateChange(writer: PacketWriter, change: SessionStateChange): void {
  if (change.kind === "raw") {
    writer.u8(change.type).lenencBytes(change.data);
    return;
  }
  const data = new PacketWriter(32);
  let type: number;
  switch (change.kind) {
    case "system-variable":
      type = SessionTrackType.SESSION_TRACK_SYSTEM_VARIABLES;
      data.lenencString(change.name).lenencString(change.value);
      break;
    case "schema":
      type = SessionTrackType.SESSION_TRACK_SCHEMA;
      data.lenencString(change.schema);
      break;
    case "state-change":
      type = SessionTrackType.SESSION_TRACK_STATE_CHANGE;
      data.u8(change.changed ? 0x31 : 0x30);
      break;
    case "gtids":
      type = SessionTrackType.SESSION_TRACK_GTIDS;
      data.u8(change.encoding).lenencString(change.gtids);
      break;
    case "transaction-characteristics":
      type = SessionTrackType.SESSION_TRACK_TRANSACTION_CHARACTERISTICS;
      data.lenencString(change.characteristics);
      break;
    case "transaction-state":
      type = SessionTrackType.SESSION_TRACK_TRANSACTION_STATE;
      data.lenencString(change.state);
      break;
  }
  writer.u8(type).lenencBytes(data.finish());
}

/**
 * Serializes an OK packet; `context` decides the layout as in {@link parseOk}.
 *
 * @example
 * ```ts
 * import { serializeOk } from "./generic.ts";
 * const bytes = serializeOk({ kind: "ok", header: 0, affectedRows: 1, lastInsertId: 5, statusFlags: 2, warnings: 0 });
 * console.assert(bytes.join() === "0,1,5,2,0,0,0");
 * ```
 */
export function serializeOk(ok: OkPacket, context: CodecContext = DEFAULT_CONTEXT): Uint8Array {
  const writer = new PacketWriter(64)
    .u8(ok.header)
    .lenencInt(ok.affectedRows)
    .lenencInt(ok.lastInsertId);
  if (hasCapability(context, Capability.CLIENT_PROTOCOL_41)) {
    writer.u16(ok.statusFlags ?? 0).u16(ok.warnings ?? 0);
  } else if (hasCapability(context, Capability.CLIENT_TRANSACTIONS)) {
    writer.u16(ok.statusFlags ?? 0);
  }
  const info = ok.infoBytes ?? (ok.info === undefined ? undefined : utf8Encode(ok.info));
  if (hasCapability(context, Capability.CLIENT_SESSION_TRACK)) {
    if (info !== undefined || ok.sessionStateChanges !== undefined) {
      writer.lenencBytes(info ?? new Uint8Array(0));
    }
    if (ok.sessionStateChanges !== undefined) {
      const block = new PacketWriter(64);
      for (const change of ok.sessionStateChanges) writeSessionStateChange(block, change);
      writer.lenencBytes(block.finish());
    }
  } else if (info !== undefined) {
    if (ok.infoEof) writer.bytes(info);
    else writer.lenencBytes(info);
  }
  if (ok.trailing) writer.bytes(ok.trailing);
  return writer.finish();
}

/**
 * Parses an ERR packet. A '#' right after the code (with CLIENT_PROTOCOL_41) starts the SQLSTATE;
 * servers leave it out in some cases, which `sqlState` being absent records. Code 0xFFFF is parsed
 * like any other code here: use {@link isProgressReport} first where progress reports can come.
 *
 * @example
 * ```ts
 * import { parseErr } from "./generic.ts";
 * const err = parseErr(new Uint8Array([0xff, 0x1e, 0x04, 0x23, 0x34, 0x32, 0x53, 0x32, 0x32, 0x78]));
 * console.assert(err.code === 1054 && err.sqlState === "42S22" && err.message === "x");
 * ```
 */
export function parseErr(payload: Uint8Array, context: CodecContext = DEFAULT_CONTEXT): ErrPacket {
  const reader = new PacketReader(payload, "ERR packet");
  const header = reader.u8();
  if (header !== 0xff) reader.fail(`expected header 0xff, got 0x${header.toString(16)}`);
  const code = reader.u16();
  let sqlState: string | undefined;
  if (
    hasCapability(context, Capability.CLIENT_PROTOCOL_41) && reader.remaining >= 6 &&
    reader.peek() === 0x23
  ) {
    const marked = utf8Exact(payload.subarray(reader.offset + 1, reader.offset + 6));
    if (marked !== undefined && marked.length === 5) {
      reader.skip(6);
      sqlState = marked;
    }
  }
  const { text, bytes } = exactText(reader.restBytes());
  const err: ErrPacket = { kind: "err", code, message: text };
  if (sqlState !== undefined) err.sqlState = sqlState;
  if (bytes) err.messageBytes = bytes;
  return err;
}

/**
 * Serializes an ERR packet; the '#' marker and SQLSTATE are written when `sqlState` is present.
 *
 * @example
 * ```ts
 * import { serializeErr } from "./generic.ts";
 * const bytes = serializeErr({ kind: "err", code: 1040, message: "Too many connections" });
 * console.assert(bytes[0] === 0xff && bytes[1] === 0x10 && bytes[3] === 0x54);
 * ```
 */
export function serializeErr(err: ErrPacket): Uint8Array {
  const writer = new PacketWriter(16 + err.message.length * 3).u8(0xff).u16(err.code);
  if (err.sqlState !== undefined) writer.u8(0x23).string(err.sqlState);
  return writer.bytes(err.messageBytes ?? utf8Encode(err.message)).finish();
}

/**
 * Parses a MariaDB progress report (ERR packet with code 0xFFFF).
 *
 * @example
 * ```ts
 * import { parseProgressReport } from "./generic.ts";
 * const report = parseProgressReport(new Uint8Array([0xff, 0xff, 0xff, 1, 2, 2, 0xa0, 0x86, 0x01, 1, 0x78]));
 * console.assert(report.stage === 2 && report.progress === 100000 && report.state === "x");
 * ```
 */
export function parseProgressReport(payload: Uint8Array): ProgressReport {
  const reader = new PacketReader(payload, "progress report");
  if (reader.u8() !== 0xff || reader.u16() !== PROGRESS_REPORT_CODE) {
    reader.fail(`expected 0xff 0xffff`);
  }
  const stringCount = reader.u8();
  const stage = reader.u8();
  const maxStage = reader.u8();
  const progress = reader.u24();
  const { text, bytes } = exactText(readMinimalLenencBytes(reader));
  const report: ProgressReport = {
    kind: "progress",
    stringCount,
    stage,
    maxStage,
    progress,
    state: text,
  };
  if (bytes) report.stateBytes = bytes;
  return setTrailing(report, reader);
}

/**
 * Serializes a MariaDB progress report.
 *
 * @example
 * ```ts
 * import { serializeProgressReport } from "./generic.ts";
 * const bytes = serializeProgressReport({ kind: "progress", stringCount: 1, stage: 1, maxStage: 2, progress: 500, state: "" });
 * console.assert(bytes.join() === "255,255,255,1,1,2,244,1,0,0");
 * ```
 */
export function serializeProgressReport(report: ProgressReport): Uint8Array {
  const writer = new PacketWriter(32)
    .u8(0xff)
    .u16(PROGRESS_REPORT_CODE)
    .u8(report.stringCount)
    .u8(report.stage)
    .u8(report.maxStage)
    .u24(report.progress)
    .lenencBytes(report.stateBytes ?? utf8Encode(report.state));
  if (report.trailing) writer.bytes(report.trailing);
  return writer.finish();
}

/**
 * Parses an EOF packet: 0xFE, then warnings and status flags with CLIENT_PROTOCOL_41.
 *
 * @example
 * ```ts
 * import { parseEof } from "./generic.ts";
 * const eof = parseEof(new Uint8Array([0xfe, 0x01, 0x00, 0x0a, 0x00]));
 * console.assert(eof.warnings === 1 && eof.statusFlags === 0x0a);
 * ```
 */
export function parseEof(payload: Uint8Array, context: CodecContext = DEFAULT_CONTEXT): EofPacket {
  const reader = new PacketReader(payload, "EOF packet");
  const header = reader.u8();
  if (header !== 0xfe) reader.fail(`expected header 0xfe, got 0x${header.toString(16)}`);
  const eof: EofPacket = { kind: "eof" };
  if (hasCapability(context, Capability.CLIENT_PROTOCOL_41)) {
    eof.warnings = reader.u16();
    eof.statusFlags = reader.u16();
  }
  return setTrailing(eof, reader);
}

/**
 * Serializes an EOF packet.
 *
 * @example
 * ```ts
 * import { serializeEof } from "./generic.ts";
 * console.assert(serializeEof({ kind: "eof", warnings: 0, statusFlags: 2 }).join() === "254,0,0,2,0");
 * ```
 */
export function serializeEof(eof: EofPacket, context: CodecContext = DEFAULT_CONTEXT): Uint8Array {
  const writer = new PacketWriter(16).u8(0xfe);
  if (hasCapability(context, Capability.CLIENT_PROTOCOL_41)) {
    writer.u16(eof.warnings ?? 0).u16(eof.statusFlags ?? 0);
  }
  if (eof.trailing) writer.bytes(eof.trailing);
  return writer.finish();
}

/**
 * Parses a packet where the protocol state expects a generic response (after a command that does
 * not return a result set, or at the end of a result set): 0x00 is OK; 0xFF is ERR, or a progress
 * report when MARIADB_CLIENT_PROGRESS was negotiated; 0xFE is an OK with CLIENT_DEPRECATE_EOF and
 * an EOF without it. Anything else comes back as an `unknown` packet. Not for the connection
 * phase, where 0xFE is an AuthSwitchRequest.
 *
 * @example
 * ```ts
 * import { parseGenericResponse } from "./generic.ts";
 * const end = parseGenericResponse(new Uint8Array([0xfe, 0, 0, 2, 0, 0, 0]), {
 *   capabilities: 0x01800200, // PROTOCOL_41 | SESSION_TRACK | DEPRECATE_EOF
 *   mariadbCapabilities: 0,
 * });
 * console.assert(end.kind === "ok");
 * ```
 */
export function parseGenericResponse(
  payload: Uint8Array,
  context: CodecContext = DEFAULT_CONTEXT,
): GenericResponse | UnknownPacket {
  switch (payload[0]) {
    case 0x00:
      return parseOk(payload, context);
    case 0xff:
      return isProgressReport(payload, context)
        ? parseProgressReport(payload)
        : parseErr(payload, context);
    case 0xfe:
      if (hasCapability(context, Capability.CLIENT_DEPRECATE_EOF)) {
        // A row could start with 0xFE only as an 8-byte length prefix: 16 MiB or more.
        if (payload.length < 0xffffff) return parseOk(payload, context);
      } else if (isEofPacket(payload)) {
        return parseEof(payload, context);
      }
      return unknownPacket(payload, "0xfe packet that is neither an EOF nor an OK");
    default:
      return unknownPacket(
        payload,
        payload.length === 0
          ? "empty packet where a response was expected"
          : `header 0x${
            payload[0].toString(16).padStart(2, "0")
          } where OK, ERR or EOF was expected`,
      );
  }
}

/**
 * Serializes any {@link GenericResponse}.
 *
 * @example
 * ```ts
 * import { serializeGenericResponse } from "./generic.ts";
 * console.assert(serializeGenericResponse({ kind: "eof", warnings: 0, statusFlags: 2 }).length === 5);
 * ```
 */
export function serializeGenericResponse(
  message: GenericResponse,
  context: CodecContext = DEFAULT_CONTEXT,
): Uint8Array {
  switch (message.kind) {
    case "ok":
      return serializeOk(message, context);
    case "err":
      return serializeErr(message);
    case "progress":
      return serializeProgressReport(message);
    case "eof":
      return serializeEof(message, context);
  }
}

const hex4 = (value: number) => `0x${value.toString(16).padStart(4, "0")}`;

function summarizeChange(change: SessionStateChange): string {
  switch (change.kind) {
    case "system-variable":
      return `${change.name}=${change.value}`;
    case "schema":
      return `schema=${change.schema}`;
    case "state-change":
      return `state_changed=${change.changed ? 1 : 0}`;
    case "gtids":
      return `gtids=${change.gtids}`;
    case "transaction-characteristics":
      return `trx_characteristics=${JSON.stringify(change.characteristics)}`;
    case "transaction-state":
      return `trx_state=${change.state}`;
    case "raw":
      return `type${change.type}=${change.data.length}B`;
  }
}

/**
 * One line describing a generic response, for traces:
 * `OK affected=1 insert_id=5 status=0x0002 warnings=0`, `ERR 1054 (42S22) Unknown column ...`.
 *
 * @example
 * ```ts
 * import { summarizeResponse } from "./generic.ts";
 * const line = summarizeResponse({ kind: "err", code: 1054, sqlState: "42S22", message: "Unknown column" });
 * console.assert(line === "ERR 1054 (42S22) Unknown column");
 * ```
 */
export function summarizeResponse(message: GenericResponse | UnknownPacket): string {
  switch (message.kind) {
    case "ok": {
      const parts = [
        message.header === 0xfe ? "OK(0xfe)" : "OK",
        `affected=${message.affectedRows}`,
        `insert_id=${message.lastInsertId}`,
      ];
      if (message.statusFlags !== undefined) parts.push(`status=${hex4(message.statusFlags)}`);
      if (message.warnings !== undefined) parts.push(`warnings=${message.warnings}`);
      if (message.info) parts.push(`info=${JSON.stringify(message.info)}`);
      if (message.sessionStateChanges) {
        parts.push(`state=[${message.sessionStateChanges.map(summarizeChange).join(", ")}]`);
      }
      return parts.join(" ");
    }
    case "err":
      return `ERR ${message.code}${
        message.sqlState === undefined ? "" : ` (${message.sqlState})`
      } ${message.message}`;
    case "progress":
      return `PROGRESS stage ${message.stage}/${message.maxStage} ${
        (message.progress / 1000).toFixed(3)
      }% ${message.state}`;
    case "eof":
      return message.statusFlags === undefined
        ? "EOF"
        : `EOF status=${hex4(message.statusFlags)} warnings=${message.warnings}`;
    case "unknown":
      return `UNKNOWN ${message.bytes.length}B${message.reason ? ` (${message.reason})` : ""}`;
  }
}
