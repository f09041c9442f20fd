/**
 * A MySQL/MariaDB proxy that decodes every packet of the client/server protocol, for testing
 * MySQL-backed software.
 *
 * As a library:
 *
 * ```ts ignore
 * import { startProxy } from "./mod.ts";
 * await using proxy = await startProxy({ listen: "127.0.0.1:0", server: "127.0.0.1:3306" });
 * // point a MySQL client at proxy.hostname:proxy.port
 * ```
 *
 * As a command line tool: `deno run -A mod.ts proxy --listen 127.0.0.1:3307 --server 127.0.0.1:3306`.
 *
 * @module
 */

export {
  type ProxyOptions,
  type ProxyServer,
  type RelayMode,
  startProxy,
} from "./src/net/proxy.ts";
export {
  FORWARD_COUNTER_BYTES,
  FORWARD_ITEM_FIELDS,
  type ForwardBatch,
  ForwardCounter,
  ForwardItem,
  type RelayForward,
} from "./src/net/epoll/forward.ts";
export { type SharedMemory } from "./src/net/epoll/libc.ts";
export { ByteRing, ringBytes, type RingReader, ringSource } from "./src/net/epoll/ring.ts";
export { type Endpoint, formatEndpoint, parseEndpoint } from "./src/net/endpoint.ts";
export { createLogger, type Logger, type LoggerOptions, type LogLevel } from "./src/log.ts";
export {
  type ConnectionInfo,
  type ConnectionTap,
  createSessionTap,
  detachedForward,
  type DetachOffer,
  forwardedState,
  MAX_DETACHED_BYTES,
  resumeSessionTap,
  type SessionTapOptions,
  type TapReport,
} from "./src/session/tap.ts";
export {
  type DecodedPacket,
  type DecoderSnapshot,
  type Phase,
  SessionDecoder,
} from "./src/session/decoder.ts";
export { formatTraceLine, summarizePacket, traceJson } from "./src/session/trace.ts";
export { PacketFramer } from "./src/protocol/framing.ts";
export { main, VERSION } from "./src/cli/main.ts";
export {
  record,
  type RecordingProxy,
  type RecordingStats,
  type RecordOptions,
} from "./src/record/recorder.ts";
export {
  loadRecording,
  readRecording,
  type ReadRecordingOptions,
  type Recording,
  RecordingError,
  type RecordingLine,
} from "./src/record/reader.ts";
export { createRedactor, parseRedactRule, type RedactRule } from "./src/record/redact.ts";
export {
  type Miss,
  replay,
  type ReplayOptions,
  type ReplayServer,
  type ReplayStats,
  ReplayStrictError,
  type UnusedExchange,
} from "./src/replay/server.ts";
export {
  type Cassette,
  cassette,
  CassetteError,
  type CassetteMode,
  type CassetteOptions,
} from "./src/cassette/cassette.ts";

export {
  type CommandOptions,
  connect,
  type ConnectOptions,
  type LocalInfileHandler,
  MysqlConnection,
  toParameter,
} from "./src/client/connection.ts";
export type {
  CommandResult,
  CommandTiming,
  PreparedStatementResult,
  ResultSet,
} from "./src/client/result.ts";
export { AuthError, MysqlError } from "./src/client/errors.ts";
export type { EofPacket, ErrPacket, OkPacket } from "./src/protocol/generic.ts";
export type { ClientCommand } from "./src/protocol/commands.ts";
export type { BinaryParameter } from "./src/protocol/statement.ts";
export type { BinaryValue } from "./src/protocol/binary.ts";
export type { ColumnDefinition } from "./src/session/messages.ts";
export { ConnectionClosedError } from "./src/client/channel.ts";
export {
  type ClientTlsOptions,
  parseTlsMode,
  startClientTls,
  TlsError,
  type TlsMode,
} from "./src/client/tls.ts";
// --- TLS termination (issue 7): docs/tls.md ---
export {
  CertificateError,
  type CertificateSource,
  loadServerCertificate,
  selfSignedCertificate,
  type ServerCertificate,
} from "./src/net/certificate.ts";
// --- end of TLS termination ---

export {
  type DriveEvent,
  type DrivenCommand,
  type DrivenConnection,
  type DriveOptions,
  driveRecording,
} from "./src/compare/drive.ts";

export {
  assertNoRegressions,
  RegressionError,
  verify,
  type VerifyOptions,
} from "./src/compare/verify.ts";
export { type DiffOptions, diffRecordings } from "./src/compare/diff.ts";
export type {
  CompareReport,
  DifferenceGroup,
  Example,
  NotCompared,
  Tally,
} from "./src/compare/report.ts";
export type { Category, Difference } from "./src/compare/compare.ts";
export type { ChangedRow, RowDiff } from "./src/compare/rows.ts";
export { formatReport } from "./src/compare/format.ts";
export {
  Noise,
  type NoiseField,
  type NoiseRule,
  NoiseRuleError,
  parseNoiseRule,
} from "./src/compare/noise.ts";
// --- hooks and faults (issue 8): docs/hooks.md, docs/faults.md ---
export { errorAnswer, okAnswer, resultSet, rewrite } from "./src/hooks/answers.ts";
export type {
  Answer,
  CellValue,
  ColumnSpec,
  CommandDecision,
  ErrorAnswer,
  HookConnection,
  Hooks,
  LoginEvent,
  OkAnswer,
  QueryEvent,
  QueryResult,
  QueryResultEvent,
  ResultSetAnswer,
  ResultSetView,
  RewriteDecision,
} from "./src/hooks/types.ts";
export { loadScript, ScriptError } from "./src/hooks/load.ts";
export { type FaultControl, type FaultInfo } from "./src/faults/set.ts";
export { type ControlOptions, type ControlServer, startControl } from "./src/control/server.ts";
export {
  type Direction as FaultDirection,
  type FaultSpec,
  FaultSpecError,
  parseFault,
} from "./src/faults/spec.ts";
// --- end of hooks and faults ---

// Types the API above refers to, public so its documentation is complete (deno doc --lint).
export type { Credentials, LoginOptions } from "./src/client/login.ts";
export { NOISE_FIELDS } from "./src/compare/noise.ts";
export type { LogFields } from "./src/log.ts";
export type {
  AuthMoreData,
  AuthNextFactor,
  AuthSwitchRequest,
  AuthSwitchResponse,
  OldAuthSwitchRequest,
} from "./src/protocol/auth.ts";
export type { BinaryRow } from "./src/protocol/binary.ts";
export type { ComChangeUser } from "./src/protocol/change_user.ts";
export type {
  ComFieldList,
  ComProcessKill,
  ComQuery,
  ComRefresh,
  ComSetOption,
  ComShutdown,
  ComStmtFetch,
  ComStmtPrepare,
  ComStmtSendLongData,
  OpaqueCommand,
  QueryAttributes,
  SchemaCommand,
  SimpleCommand,
  StatementIdCommand,
} from "./src/protocol/commands.ts";
export { OPAQUE_COMMANDS, SIMPLE_COMMANDS } from "./src/protocol/commands.ts";
export type { CodecContext } from "./src/protocol/context.ts";
export type { Packet } from "./src/protocol/framing.ts";
export type { ProgressReport, SessionStateChange } from "./src/protocol/generic.ts";
export type {
  ConnectAttributes,
  HandshakeResponse320,
  HandshakeResponse41,
  HandshakeResponseHeader,
  HandshakeV10,
  SslRequest,
} from "./src/protocol/handshake.ts";
export type { LengthEncodedInteger } from "./src/protocol/reader.ts";
export type {
  ColumnCount,
  ColumnDefinition320,
  ColumnDefinition41,
  ColumnNameField,
  ExtendedMetadata,
  LocalInfileData,
  LocalInfileRequest,
  Statistics,
  StmtPrepareOk,
  TextRow,
} from "./src/protocol/resultset.ts";
export type {
  ComStmtExecute,
  LongDataParameter,
  ParameterBase,
  ParameterType,
  StatementInfo,
  ValueParameter,
} from "./src/protocol/statement.ts";
export type { UnknownPacket } from "./src/protocol/unknown.ts";
export type { Redactor } from "./src/record/assemble.ts";
export type {
  AuthEvent,
  CloseEvent,
  ColumnJson,
  ColumnsEvent,
  CommandEvent,
  ConnectionEventBase,
  EndEvent,
  EndJson,
  ErrorJson,
  FieldListJson,
  GreetingEvent,
  HeaderEvent,
  OkJson,
  OpaqueEvent,
  OpenEvent,
  PreparedJson,
  RecordingEvent,
  RedactionInfo,
  ResponseElement,
  ResultSetJson,
  ResultsEvent,
  RowsEvent,
  ServerInfo,
  Slot,
} from "./src/record/events.ts";
export { FORMAT_NAME } from "./src/record/events.ts";
export type { RecordedCommand } from "./src/record/merge.ts";
export type { RecordedConnection } from "./src/record/reader.ts";
export type { RedactorOptions, RuleRedactor } from "./src/record/redact.ts";
export type { JsonBytes, JsonValue } from "./src/record/values.ts";
export type { WriterStats } from "./src/record/writer.ts";
export type { FallbackAnswer, FallbackRequest, ReplayFallback } from "./src/replay/fallback.ts";
export type { Direction } from "./src/session/decoder.ts";
export type {
  Exchange,
  PreparedStatement,
  ResponseShape,
  ResponseStage,
} from "./src/session/exchange.ts";
export type { ClientMessage, Command, ServerMessage } from "./src/session/messages.ts";

if (import.meta.main) {
  // Not a top-level await: a --script that imports this module (for its helpers) must find it
  // evaluated, not waiting on the CLI that is loading the script.
  import("./src/cli/main.ts").then(({ main }) => main(Deno.args)).then(Deno.exit);
}
