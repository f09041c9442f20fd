/**
 * COM_STMT_EXECUTE, and the binary parameter block it shares with COM_QUERY's query attributes
 * (MySQL 8's CLIENT_QUERY_ATTRIBUTES).
 *
 * A COM_STMT_EXECUTE cannot be decoded from its bytes alone: the length of its NULL bitmap is
 * the statement's parameter count (from the earlier COM_STMT_PREPARE_OK), an execute that does not
 * resend the parameter types (new_params_bound_flag = 0) is encoded with the types of an earlier
 * execute, and parameters sent by COM_STMT_SEND_LONG_DATA have no value in it. The caller, which
 * follows the session, passes that as a {@link StatementInfo}. Without it the parameters are kept
 * as undecoded bytes (`undecoded`), so the packet still round-trips.
 *
 * Parsed messages may share memory with the payload they came from.
 *
 * @module
 */

import {
  type BinaryValue,
  buildNullBitmap,
  isLengthEncodedType,
  isNullBit,
  nullBitmapLength,
  readBinaryValue,
  readMinimalLenenc,
  writeBinaryValue,
} from "./binary.ts";
import { Capability, ColumnType, Command, CursorType } from "./constants.ts";
import { lenencIntSize } from "./generic.ts";
import { type CodecContext, hasCapability } from "./context.ts";
import { PacketReader } from "./reader.ts";
import { utf8Encode, utf8Exact } from "./text.ts";
import { PacketWriter } from "./writer.ts";

/** The parameter flag byte's bit for an unsigned integer. */
export const PARAMETER_UNSIGNED_FLAG = 0x80;

/** A parameter's type as bound by COM_STMT_EXECUTE (or COM_QUERY's query attributes). */
export interface ParameterType {
  /** The type byte, a `ColumnType` value. */
  type: number;
  /** Bit 0x80 of the flag byte. */
  unsigned: boolean;
  /** The whole flag byte, kept only when it has bits other than 0x80 set. */
  flags?: number;
}

/** Fields every parameter has. */
export interface ParameterBase extends ParameterType {
  /**
   * Its name, present when the layout carries names (CLIENT_QUERY_ATTRIBUTES and types sent):
   * empty for a statement's positional parameters, the attribute's name for query attributes.
   */
  name?: string;
  /** The name's bytes, kept only when they are not valid UTF-8. */
  nameBytes?: Uint8Array;
}

/** A parameter whose value is in the packet (`null` for NULL). */
export interface ValueParameter extends ParameterBase {
  /** The value, typed as `type` decodes. */
  value: BinaryValue;
  /**
   * The length prefix of a string value, kept only when it is longer than needed: mysql2 writes
   * a 65535-byte value's length as `fd ff ff 00` instead of `fc ff ff`, and servers accept it.
   */
  lengthPrefix?: Uint8Array;
}

/** A parameter whose value was sent before by COM_STMT_SEND_LONG_DATA: no value in the packet. */
export interface LongDataParameter extends ParameterBase {
  /** The value came in COM_STMT_SEND_LONG_DATA packets, not in the execute. */
  longData: true;
}

/** One parameter of COM_STMT_EXECUTE or of COM_QUERY's query attributes. */
export type BinaryParameter = ValueParameter | LongDataParameter;

/** What the session knows about a prepared statement, needed to decode its executes. */
export interface StatementInfo {
  /** num_params from the statement's COM_STMT_PREPARE_OK. */
  parameterCount: number;
  /**
   * The parameter types of the last execute that sent them (new_params_bound_flag = 1), used by
   * executes that do not resend them. {@link boundParameterTypes} extracts them.
   */
  previousTypes?: readonly ParameterType[];
  /**
   * 0-based ids of the parameters that got COM_STMT_SEND_LONG_DATA since the statement was last
   * executed or reset: their values are not in the execute packet.
   */
  longDataParameters?: ReadonlySet<number>;
}

/** The parameter block after COM_STMT_EXECUTE's header and COM_QUERY's counts. */
export interface ParameterBlock {
  /** new_params_bound_flag: whether the types (and names) are in this packet. */
  newParamsBound: boolean;
  /** The parameters, in order; empty when `undecoded` is set. */
  params: BinaryParameter[];
  /**
   * The NULL bitmap as sent, kept when it differs from what `params` imply (padding bits set,
   * the NULL bit of a long-data parameter set, a NULL-type parameter whose bit is clear), and
   * when the values could not be decoded.
   */
  nullBitmap?: Uint8Array;
  /**
   * The parameter values as sent, when they could not be decoded: the types were not resent and
   * the caller did not know the previous ones.
   */
  undecoded?: Uint8Array;
}

/** COM_STMT_EXECUTE: runs a prepared statement with binary parameter values. */
export interface ComStmtExecute {
  /** Which packet this is. */
  kind: "COM_STMT_EXECUTE";
  /** The statement id; MariaDB's 0xffffffff means the statement prepared last. */
  statementId: number;
  /** Cursor type bits and PARAMETER_COUNT_AVAILABLE (see `CursorType`). */
  flags: number;
  /** Always 1 in practice. */
  iterationCount: number;
  /**
   * The parameter_count field, present when the packet carries it (CLIENT_QUERY_ATTRIBUTES with
   * PARAMETER_COUNT_AVAILABLE in `flags`): query attributes may follow the statement's parameters.
   */
  parameterCount?: number;
  /** new_params_bound_flag; absent when the packet has no parameter block (no parameters). */
  newParamsBound?: boolean;
  /** The parameters; empty when there are none or they could not be decoded (`undecoded`). */
  params: BinaryParameter[];
  /** See {@link ParameterBlock.nullBitmap}. */
  nullBitmap?: Uint8Array;
  /**
   * Bytes the codec could not decode for lack of statement state: everything after the header
   * when the statement's parameter count was unknown, or the values when their types were.
   */
  undecoded?: Uint8Array;
  /** Bytes after the parameter values, if any. */
  trailing?: Uint8Array;
}

function readParameterType(reader: PacketReader): ParameterType {
  const type = reader.u8();
  const flags = reader.u8();
  const parameter: ParameterType = { type, unsigned: (flags & PARAMETER_UNSIGNED_FLAG) !== 0 };
  if ((flags & ~PARAMETER_UNSIGNED_FLAG) !== 0) parameter.flags = flags;
  return parameter;
}

/**
 * Reads a parameter block of `count` parameters: NULL bitmap, new_params_bound_flag, the types
 * (each followed by a name when `withNames`), then the values of the parameters that are neither
 * NULL nor sent as long data. Shared by COM_STMT_EXECUTE and COM_QUERY's query attributes.
 *
 * @example
 * ```ts
 * import { readParameterBlock } from "./statement.ts";
 * import { PacketReader } from "./reader.ts";
 * // one parameter, not NULL, types sent: LONG (0x03), signed, value 7
 * const reader = new PacketReader(new Uint8Array([0x00, 0x01, 0x03, 0x00, 7, 0, 0, 0]));
 * const block = readParameterBlock(reader, 1, false);
 * console.assert(block.newParamsBound && "value" in block.params[0] && block.params[0].value === 7);
 * ```
 */
export function readParameterBlock(
  reader: PacketReader,
  count: number,
  withNames: boolean,
  previousTypes?: readonly ParameterType[],
  longDataParameters?: ReadonlySet<number>,
): ParameterBlock {
  const bitmap = reader.bytes(nullBitmapLength(count, 0));
  const bound = reader.u8();
  if (bound > 1) reader.fail(`new_params_bound_flag is ${bound}, expected 0 or 1`);
  const newParamsBound = bound === 1;
  const types: ParameterBase[] = [];
  if (newParamsBound) {
    for (let i = 0; i < count; i++) {
      const parameter: ParameterBase = readParameterType(reader);
      if (withNames) {
        const bytes = reader.bytes(readMinimalLenenc(reader, "parameter name length"));
        const name = utf8Exact(bytes);
        if (name === undefined) {
          parameter.name = "";
          parameter.nameBytes = bytes;
        } else {
          parameter.name = name;
        }
      }
      types.push(parameter);
    }
  } else if (previousTypes !== undefined && previousTypes.length === count) {
    for (const { type, unsigned, flags } of previousTypes) {
      types.push(flags === undefined ? { type, unsigned } : { type, unsigned, flags });
    }
  } else {
    // Without the types the values cannot be delimited: keep them as they are.
    return { newParamsBound, params: [], nullBitmap: bitmap, undecoded: reader.restBytes() };
  }
  const params: BinaryParameter[] = [];
  for (let i = 0; i < count; i++) {
    const base = types[i];
    if (longDataParameters?.has(i)) {
      params.push({ ...base, longData: true });
    } else if (isNullBit(bitmap, i, 0)) {
      params.push({ ...base, value: null });
    } else {
      params.push(readParameterValue(reader, base));
    }
  }
  const block: ParameterBlock = { newParamsBound, params };
  if (!impliesNullBitmap(bitmap, params)) block.nullBitmap = bitmap;
  return block;
}

/**
 * Whether `bitmap` is what {@link impliedNullBitmap} gives for `params`, without building it:
 * this runs for every execute a recorder decodes.
 */
function impliesNullBitmap(bitmap: Uint8Array, params: readonly BinaryParameter[]): boolean {
  for (let bit = 0; bit < bitmap.length * 8; bit++) {
    const set = (bitmap[bit >> 3] & (1 << (bit & 7))) !== 0;
    const parameter = params[bit];
    if (set !== (parameter !== undefined && "value" in parameter && parameter.value === null)) {
      return false;
    }
  }
  return true;
}

/**
 * A parameter's value. Unlike result rows, parameter strings may carry a length prefix longer
 * than needed (clients write them, servers accept them): it is read, and kept for re-encoding.
 */
function readParameterValue(reader: PacketReader, base: ParameterBase): ValueParameter {
  if (!isLengthEncodedType(base.type)) {
    return { ...base, value: readBinaryValue(reader, base.type, base.unsigned) };
  }
  const start = reader.offset;
  const length = reader.lenencLength();
  const prefix = reader.payload.subarray(start, reader.offset);
  const bytes = reader.bytes(length);
  const value = base.type === ColumnType.MYSQL_TYPE_DECIMAL ||
      base.type === ColumnType.MYSQL_TYPE_NEWDECIMAL
    ? utf8Exact(bytes) ?? bytes
    : bytes;
  const parameter: ValueParameter = { ...base, value };
  if (prefix.length !== lenencIntSize(length)) parameter.lengthPrefix = prefix;
  return parameter;
}

function impliedNullBitmap(params: readonly BinaryParameter[]): Uint8Array {
  return buildNullBitmap(params.map((p) => "value" in p && p.value === null), 0);
}

/**
 * Writes a parameter block: the inverse of {@link readParameterBlock}.
 *
 * @example
 * ```ts
 * import { writeParameterBlock } from "./statement.ts";
 * import { PacketWriter } from "./writer.ts";
 * const writer = new PacketWriter();
 * writeParameterBlock(writer, {
 *   newParamsBound: true,
 *   params: [{ type: 0x03, unsigned: false, value: 7 }],
 * }, false);
 * console.assert(writer.finish().join() === "0,1,3,0,7,0,0,0");
 * ```
 */
export function writeParameterBlock(
  writer: PacketWriter,
  block: ParameterBlock,
  withNames: boolean,
): void {
  const bitmap = block.nullBitmap ?? impliedNullBitmap(block.params);
  writer.bytes(bitmap).u8(block.newParamsBound ? 1 : 0);
  if (block.undecoded !== undefined) {
    writer.bytes(block.undecoded);
    return;
  }
  if (bitmap.length !== nullBitmapLength(block.params.length, 0)) {
    throw new RangeError(
      `Cannot write parameters: NULL bitmap of ${bitmap.length} bytes for ${block.params.length}`,
    );
  }
  if (block.newParamsBound) {
    for (const parameter of block.params) {
      writer.u8(parameter.type);
      writer.u8(parameter.flags ?? (parameter.unsigned ? PARAMETER_UNSIGNED_FLAG : 0));
      if (withNames) {
        writer.lenencBytes(parameter.nameBytes ?? utf8Encode(parameter.name ?? ""));
      }
    }
  }
  block.params.forEach((parameter, i) => {
    if (!("value" in parameter) || isNullBit(bitmap, i, 0)) return;
    if (parameter.lengthPrefix !== undefined) {
      const value = parameter.value;
      const bytes = typeof value === "string" ? utf8Encode(value) : value;
      if (!(bytes instanceof Uint8Array)) {
        throw new RangeError(`Cannot write parameter ${i}: a length prefix needs a string value`);
      }
      writer.bytes(parameter.lengthPrefix).bytes(bytes);
      return;
    }
    writeBinaryValue(writer, parameter.type, parameter.unsigned, parameter.value);
  });
}

/** Whether executes carry a parameter_count field under `context` with these `flags`. */
function hasParameterCount(context: CodecContext, flags: number): boolean {
  return hasCapability(context, Capability.CLIENT_QUERY_ATTRIBUTES) &&
    (flags & CursorType.PARAMETER_COUNT_AVAILABLE) !== 0;
}

/**
 * Parses COM_STMT_EXECUTE. `statement` is what the session knows about the statement the packet
 * names (for 0xffffffff, the one prepared last); without it, or when the types are not resent
 * and `statement.previousTypes` is missing, the parameters are kept in `undecoded`.
 *
 * With CLIENT_QUERY_ATTRIBUTES the packet carries its own parameter count when `flags` has
 * PARAMETER_COUNT_AVAILABLE, and each sent type is followed by a name.
 *
 * @example
 * ```ts
 * import { parseStmtExecute } from "./statement.ts";
 * import { DEFAULT_CONTEXT } from "./context.ts";
 * // sysbench (libmariadb) re-executing statement 18 without resending the types
 * const payload = new Uint8Array([
 *   0x17, 0x12, 0, 0, 0, 0x00, 1, 0, 0, 0, 0x00, 0x00, 0x31, 0, 0, 0, 0, 0, 0, 0,
 * ]);
 * const execute = parseStmtExecute(payload, DEFAULT_CONTEXT, {
 *   parameterCount: 1,
 *   previousTypes: [{ type: 0x08, unsigned: false }],
 * });
 * console.assert(execute.newParamsBound === false);
 * console.assert("value" in execute.params[0] && execute.params[0].value === 49);
 * ```
 */
export function parseStmtExecute(
  payload: Uint8Array,
  context: CodecContext,
  statement?: StatementInfo,
): ComStmtExecute {
  const reader = new PacketReader(payload, "COM_STMT_EXECUTE");
  const command = reader.u8();
  if (command !== Command.COM_STMT_EXECUTE) {
    reader.fail(`expected command 0x17, got 0x${command.toString(16)}`);
  }
  const statementId = reader.u32();
  const flags = reader.u8();
  const iterationCount = reader.u32();
  const message: ComStmtExecute = {
    kind: "COM_STMT_EXECUTE",
    statementId,
    flags,
    iterationCount,
    params: [],
  };
  let count: number | undefined = statement?.parameterCount;
  if (hasParameterCount(context, flags)) {
    count = readMinimalLenenc(reader, "parameter_count");
    message.parameterCount = count;
  }
  if (count === undefined) {
    if (!reader.atEnd) message.undecoded = reader.restBytes();
    return message;
  }
  if (count > 0) {
    const withNames = hasCapability(context, Capability.CLIENT_QUERY_ATTRIBUTES);
    const block = readParameterBlock(
      reader,
      count,
      withNames,
      statement?.previousTypes,
      statement?.longDataParameters,
    );
    message.newParamsBound = block.newParamsBound;
    message.params = block.params;
    if (block.nullBitmap !== undefined) message.nullBitmap = block.nullBitmap;
    if (block.undecoded !== undefined) message.undecoded = block.undecoded;
  }
  if (!reader.atEnd) message.trailing = reader.restBytes();
  return message;
}

/**
 * Serializes COM_STMT_EXECUTE: the inverse of {@link parseStmtExecute}. `context` decides
 * whether sent types carry names (CLIENT_QUERY_ATTRIBUTES).
 *
 * @example
 * ```ts
 * import { serializeStmtExecute } from "./statement.ts";
 * import { DEFAULT_CONTEXT } from "./context.ts";
 * const payload = serializeStmtExecute({
 *   kind: "COM_STMT_EXECUTE",
 *   statementId: 2,
 *   flags: 0,
 *   iterationCount: 1,
 *   params: [],
 * }, DEFAULT_CONTEXT);
 * console.assert(payload.join() === "23,2,0,0,0,0,1,0,0,0");
 * ```
 */
export function serializeStmtExecute(message: ComStmtExecute, context: CodecContext): Uint8Array {
  const writer = new PacketWriter(64);
  writer.u8(Command.COM_STMT_EXECUTE).u32(message.statementId).u8(message.flags);
  writer.u32(message.iterationCount);
  if (message.parameterCount !== undefined) writer.lenencInt(message.parameterCount);
  if (message.newParamsBound !== undefined) {
    const block: ParameterBlock = {
      newParamsBound: message.newParamsBound,
      params: message.params,
    };
    if (message.nullBitmap !== undefined) block.nullBitmap = message.nullBitmap;
    if (message.undecoded !== undefined) block.undecoded = message.undecoded;
    writeParameterBlock(
      writer,
      block,
      hasCapability(context, Capability.CLIENT_QUERY_ATTRIBUTES),
    );
  } else if (message.undecoded !== undefined) {
    writer.bytes(message.undecoded);
  }
  if (message.trailing) writer.bytes(message.trailing);
  return writer.finish();
}

/**
 * The parameter types an execute bound (new_params_bound_flag = 1), for the session to keep as
 * the statement's {@link StatementInfo.previousTypes}; `undefined` when it did not send types.
 *
 * @example
 * ```ts
 * import { boundParameterTypes, type ComStmtExecute } from "./statement.ts";
 * const execute: ComStmtExecute = {
 *   kind: "COM_STMT_EXECUTE",
 *   statementId: 1,
 *   flags: 0,
 *   iterationCount: 1,
 *   newParamsBound: true,
 *   params: [{ type: 0x08, unsigned: true, value: 1 }],
 * };
 * console.assert(boundParameterTypes(execute)?.[0].unsigned === true);
 * ```
 */
export function boundParameterTypes(message: ComStmtExecute): ParameterType[] | undefined {
  if (message.newParamsBound !== true || message.undecoded !== undefined) return undefined;
  return message.params.map(({ type, unsigned, flags }) =>
    flags === undefined ? { type, unsigned } : { type, unsigned, flags }
  );
}
