/**
 * Constants of the MySQL client/server protocol, named as in the MySQL protocol documentation
 * (https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html) and MariaDB's
 * knowledge base.
 *
 * @module
 */

/** Capability flags (the lower 32 bits; MariaDB's extended flags are in {@link MariaDbCapability}). */
export const Capability = {
  CLIENT_LONG_PASSWORD: 0x00000001,
  CLIENT_FOUND_ROWS: 0x00000002,
  CLIENT_LONG_FLAG: 0x00000004,
  CLIENT_CONNECT_WITH_DB: 0x00000008,
  CLIENT_NO_SCHEMA: 0x00000010,
  CLIENT_COMPRESS: 0x00000020,
  CLIENT_ODBC: 0x00000040,
  CLIENT_LOCAL_FILES: 0x00000080,
  CLIENT_IGNORE_SPACE: 0x00000100,
  CLIENT_PROTOCOL_41: 0x00000200,
  CLIENT_INTERACTIVE: 0x00000400,
  CLIENT_SSL: 0x00000800,
  CLIENT_IGNORE_SIGPIPE: 0x00001000,
  CLIENT_TRANSACTIONS: 0x00002000,
  CLIENT_RESERVED: 0x00004000,
  CLIENT_SECURE_CONNECTION: 0x00008000,
  CLIENT_MULTI_STATEMENTS: 0x00010000,
  CLIENT_MULTI_RESULTS: 0x00020000,
  CLIENT_PS_MULTI_RESULTS: 0x00040000,
  CLIENT_PLUGIN_AUTH: 0x00080000,
  CLIENT_CONNECT_ATTRS: 0x00100000,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x00200000,
  CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS: 0x00400000,
  CLIENT_SESSION_TRACK: 0x00800000,
  CLIENT_DEPRECATE_EOF: 0x01000000,
  CLIENT_OPTIONAL_RESULTSET_METADATA: 0x02000000,
  CLIENT_ZSTD_COMPRESSION_ALGORITHM: 0x04000000,
  CLIENT_QUERY_ATTRIBUTES: 0x08000000,
  MULTI_FACTOR_AUTHENTICATION: 0x10000000,
  CLIENT_CAPABILITY_EXTENSION: 0x20000000,
  CLIENT_SSL_VERIFY_SERVER_CERT: 0x40000000,
  CLIENT_REMEMBER_OPTIONS: 0x80000000,
} as const;

/**
 * MariaDB's extended capabilities: sent in the last 4 of the 10 reserved bytes of HandshakeV10 and
 * of HandshakeResponse41, and only when the CLIENT_LONG_PASSWORD bit (which MariaDB reads as
 * "CLIENT_MYSQL") is clear.
 */
export const MariaDbCapability = {
  MARIADB_CLIENT_PROGRESS: 0x00000001,
  MARIADB_CLIENT_COM_MULTI: 0x00000002,
  MARIADB_CLIENT_STMT_BULK_OPERATIONS: 0x00000004,
  MARIADB_CLIENT_EXTENDED_METADATA: 0x00000008,
  MARIADB_CLIENT_CACHE_METADATA: 0x00000010,
  MARIADB_CLIENT_BULK_UNIT_RESULTS: 0x00000020,
} as const;

/** Server status flags carried by OK and EOF packets. */
export const ServerStatus = {
  SERVER_STATUS_IN_TRANS: 0x0001,
  SERVER_STATUS_AUTOCOMMIT: 0x0002,
  SERVER_MORE_RESULTS_EXISTS: 0x0008,
  SERVER_QUERY_NO_GOOD_INDEX_USED: 0x0010,
  SERVER_QUERY_NO_INDEX_USED: 0x0020,
  SERVER_STATUS_CURSOR_EXISTS: 0x0040,
  SERVER_STATUS_LAST_ROW_SENT: 0x0080,
  SERVER_STATUS_DB_DROPPED: 0x0100,
  SERVER_STATUS_NO_BACKSLASH_ESCAPES: 0x0200,
  SERVER_STATUS_METADATA_CHANGED: 0x0400,
  SERVER_QUERY_WAS_SLOW: 0x0800,
  SERVER_PS_OUT_PARAMS: 0x1000,
  SERVER_STATUS_IN_TRANS_READONLY: 0x2000,
  SERVER_SESSION_STATE_CHANGED: 0x4000,
} as const;

/** Command bytes: the first byte of every packet a client sends in the command phase. */
export const Command = {
  COM_SLEEP: 0x00,
  COM_QUIT: 0x01,
  COM_INIT_DB: 0x02,
  COM_QUERY: 0x03,
  COM_FIELD_LIST: 0x04,
  COM_CREATE_DB: 0x05,
  COM_DROP_DB: 0x06,
  COM_REFRESH: 0x07,
  COM_SHUTDOWN: 0x08,
  COM_STATISTICS: 0x09,
  COM_PROCESS_INFO: 0x0a,
  COM_CONNECT: 0x0b,
  COM_PROCESS_KILL: 0x0c,
  COM_DEBUG: 0x0d,
  COM_PING: 0x0e,
  COM_TIME: 0x0f,
  COM_DELAYED_INSERT: 0x10,
  COM_CHANGE_USER: 0x11,
  COM_BINLOG_DUMP: 0x12,
  COM_TABLE_DUMP: 0x13,
  COM_CONNECT_OUT: 0x14,
  COM_REGISTER_SLAVE: 0x15,
  COM_STMT_PREPARE: 0x16,
  COM_STMT_EXECUTE: 0x17,
  COM_STMT_SEND_LONG_DATA: 0x18,
  COM_STMT_CLOSE: 0x19,
  COM_STMT_RESET: 0x1a,
  COM_SET_OPTION: 0x1b,
  COM_STMT_FETCH: 0x1c,
  COM_DAEMON: 0x1d,
  COM_BINLOG_DUMP_GTID: 0x1e,
  COM_RESET_CONNECTION: 0x1f,
  COM_CLONE: 0x20,
  COM_SUBSCRIBE_GROUP_REPLICATION_STREAM: 0x21,
  /** MariaDB: several commands in one packet. */
  COM_MULTI: 0xfe,
  /** MariaDB: COM_STMT_BULK_EXECUTE. */
  COM_STMT_BULK_EXECUTE: 0xfa,
} as const;

/** A command byte value. */
export type CommandCode = typeof Command[keyof typeof Command];

const commandNames = new Map<number, string>(
  Object.entries(Command).map(([name, code]) => [code, name]),
);

/** The protocol's name for a command byte, e.g. `COM_QUERY`, or `COM_0x42` when unknown. */
export function commandName(code: number): string {
  return commandNames.get(code) ?? `COM_0x${code.toString(16).padStart(2, "0")}`;
}

/** Column types (`enum_field_types`), used by ColumnDefinition41 and the binary protocol. */
export const ColumnType = {
  MYSQL_TYPE_DECIMAL: 0x00,
  MYSQL_TYPE_TINY: 0x01,
  MYSQL_TYPE_SHORT: 0x02,
  MYSQL_TYPE_LONG: 0x03,
  MYSQL_TYPE_FLOAT: 0x04,
  MYSQL_TYPE_DOUBLE: 0x05,
  MYSQL_TYPE_NULL: 0x06,
  MYSQL_TYPE_TIMESTAMP: 0x07,
  MYSQL_TYPE_LONGLONG: 0x08,
  MYSQL_TYPE_INT24: 0x09,
  MYSQL_TYPE_DATE: 0x0a,
  MYSQL_TYPE_TIME: 0x0b,
  MYSQL_TYPE_DATETIME: 0x0c,
  MYSQL_TYPE_YEAR: 0x0d,
  MYSQL_TYPE_NEWDATE: 0x0e,
  MYSQL_TYPE_VARCHAR: 0x0f,
  MYSQL_TYPE_BIT: 0x10,
  MYSQL_TYPE_TIMESTAMP2: 0x11,
  MYSQL_TYPE_DATETIME2: 0x12,
  MYSQL_TYPE_TIME2: 0x13,
  MYSQL_TYPE_TYPED_ARRAY: 0x14,
  MYSQL_TYPE_VECTOR: 0xf2,
  MYSQL_TYPE_INVALID: 0xf3,
  MYSQL_TYPE_BOOL: 0xf4,
  MYSQL_TYPE_JSON: 0xf5,
  MYSQL_TYPE_NEWDECIMAL: 0xf6,
  MYSQL_TYPE_ENUM: 0xf7,
  MYSQL_TYPE_SET: 0xf8,
  MYSQL_TYPE_TINY_BLOB: 0xf9,
  MYSQL_TYPE_MEDIUM_BLOB: 0xfa,
  MYSQL_TYPE_LONG_BLOB: 0xfb,
  MYSQL_TYPE_BLOB: 0xfc,
  MYSQL_TYPE_VAR_STRING: 0xfd,
  MYSQL_TYPE_STRING: 0xfe,
  MYSQL_TYPE_GEOMETRY: 0xff,
} as const;

const columnTypeNames = new Map<number, string>(
  Object.entries(ColumnType).map(([name, code]) => [code, name]),
);

/** The protocol's name for a column type, e.g. `MYSQL_TYPE_LONG`, or `MYSQL_TYPE_0x42` when unknown. */
export function columnTypeName(type: number): string {
  return columnTypeNames.get(type) ??
    `MYSQL_TYPE_0x${type.toString(16).padStart(2, "0")}`;
}

/** Column definition flags. */
export const ColumnFlag = {
  NOT_NULL_FLAG: 0x0001,
  PRI_KEY_FLAG: 0x0002,
  UNIQUE_KEY_FLAG: 0x0004,
  MULTIPLE_KEY_FLAG: 0x0008,
  BLOB_FLAG: 0x0010,
  UNSIGNED_FLAG: 0x0020,
  ZEROFILL_FLAG: 0x0040,
  BINARY_FLAG: 0x0080,
  ENUM_FLAG: 0x0100,
  AUTO_INCREMENT_FLAG: 0x0200,
  TIMESTAMP_FLAG: 0x0400,
  SET_FLAG: 0x0800,
  NO_DEFAULT_VALUE_FLAG: 0x1000,
  ON_UPDATE_NOW_FLAG: 0x2000,
  NUM_FLAG: 0x8000,
} as const;

/** The character set id MySQL uses for binary strings (`binary`). */
export const BINARY_CHARSET = 63;

/** Cursor flags of COM_STMT_EXECUTE. */
export const CursorType = {
  CURSOR_TYPE_NO_CURSOR: 0x00,
  CURSOR_TYPE_READ_ONLY: 0x01,
  CURSOR_TYPE_FOR_UPDATE: 0x02,
  CURSOR_TYPE_SCROLLABLE: 0x04,
  PARAMETER_COUNT_AVAILABLE: 0x08,
} as const;

/** Session state change types carried by OK packets with CLIENT_SESSION_TRACK. */
export const SessionTrackType = {
  SESSION_TRACK_SYSTEM_VARIABLES: 0x00,
  SESSION_TRACK_SCHEMA: 0x01,
  SESSION_TRACK_STATE_CHANGE: 0x02,
  SESSION_TRACK_GTIDS: 0x03,
  SESSION_TRACK_TRANSACTION_CHARACTERISTICS: 0x04,
  SESSION_TRACK_TRANSACTION_STATE: 0x05,
} as const;

/** COM_SET_OPTION values. */
export const SetOption = {
  MYSQL_OPTION_MULTI_STATEMENTS_ON: 0,
  MYSQL_OPTION_MULTI_STATEMENTS_OFF: 1,
} as const;

/** The largest payload one frame can carry; a payload this long continues in the next frame. */
export const MAX_PAYLOAD_LENGTH = 0xffffff;

/** Bytes in a frame header: 3 bytes of payload length and one sequence id. */
export const HEADER_LENGTH = 4;
