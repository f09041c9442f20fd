/**
 * `proxy`: relay MySQL clients to a server, decoding every packet on the way.
 *
 * @module
 */

import { parse, positiveInteger, UsageError } from "./args.ts";
import { LineWriter, stderrLogger } from "./output.ts";
import { type RelayMode, startProxy } from "../net/proxy.ts";
import { type Endpoint, formatEndpoint, parseEndpoint } from "../net/endpoint.ts";
import { type ConnectionInfo, createSessionTap } from "../session/tap.ts";
import { formatTraceLine, traceJson } from "../session/trace.ts";
import type { Logger } from "../log.ts";
import type { DecodedPacket } from "../session/decoder.ts";
import { untilSignal } from "./signals.ts";
import { COMPARE_OPTIONS, COMPARE_OPTIONS_HELP } from "./compare_options.ts";
import type { CertificateSource } from "../net/certificate.ts";
import { parseTlsMode, type TlsMode } from "../client/tls.ts";
import { proxyCompare } from "./proxy_compare.ts";
import {
  HOOK_OPTIONS,
  HOOK_OPTIONS_HELP,
  type HookSettings,
  hookSettings,
} from "./hook_options.ts";

/**
 * The options of `proxy`, which every subcommand built on the proxy (`record`) accepts too.
 *
 * @example
 * ```ts
 * import { PROXY_OPTIONS } from "./proxy.ts";
 * console.assert(PROXY_OPTIONS.listen.default === "127.0.0.1:3307");
 * ```
 */
export const PROXY_OPTIONS = {
  listen: { type: "string", default: "127.0.0.1:3307" },
  // No default here: without --server, a --script is the server (default applied in proxySettings).
  server: { type: "string" },
  trace: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  quiet: { type: "boolean", default: false },
  "connect-timeout": { type: "string" },
  "max-packet": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-auto": { type: "boolean", default: false },
  "server-tls": { type: "string", default: "off" },
  "server-ca": { type: "string" },
  relay: { type: "string" },
  ...HOOK_OPTIONS,
  help: { type: "boolean", short: "h", default: false },
} as const;

/** The help lines of {@link PROXY_OPTIONS}. */
export const PROXY_OPTIONS_HELP =
  `  --listen ADDR           where clients connect: HOST:PORT or unix:/PATH (default 127.0.0.1:3307;
                          port 0 picks a free port)
  --server ADDR           the MySQL/MariaDB server: HOST:PORT or unix:/PATH (default 127.0.0.1:3306)
  --trace                 print one line per decoded packet on stdout
  --json                  logs (stderr), the ready line and --trace output as JSON lines
  --quiet                 log only warnings and errors
  --connect-timeout MS    how long to wait for the server's TCP connect, and then for its greeting
                          and the client's login packet (default 10000)
  --max-packet BYTES      largest packet reassembled when packets are printed or recorded
                          (default 1073741824); a larger one is still forwarded, but that
                          connection is no longer decoded. Without --trace the proxy reads only
                          the first 64 KiB of each packet, so memory stays small regardless
  --tls-cert FILE         offer TLS to clients with this certificate (PEM; with --tls-key): the
                          proxy terminates their TLS, so their traffic is still decoded
  --tls-key FILE          the certificate's private key (PEM)
  --tls-auto              offer TLS with a self-signed certificate made at start (for local use:
                          clients must not verify it; its SHA-256 fingerprint is printed)
  --server-tls MODE       TLS to the server: off (default), preferred (when it offers TLS),
                          required, verify-ca, verify-identity (as a client's --ssl-mode)
  --server-ca FILE        CA certificates (PEM) that verify-ca and verify-identity trust
                          (default: the system's)
  --relay MODE            epoll (default on Linux): after the login, a worker thread relays
                          plain TCP connections with raw read/write calls and epoll, and the
                          decoder gets copies a few ms later; deno: relay in line with Deno's
                          sockets. TLS, unix sockets, --script and --fault always use deno
${HOOK_OPTIONS_HELP}
  -h, --help              show this help`;

/** Help text of `proxy`. */
export const PROXY_HELP = `Usage: deno run -A mod.ts proxy [options]

Relays MySQL/MariaDB clients to a server, byte for byte, decoding every packet on the way.

Options:
${PROXY_OPTIONS_HELP}
${COMPARE_OPTIONS_HELP}

TLS: without --tls-cert/--tls-auto the proxy clears CLIENT_SSL in the server greeting, so clients
connect in plaintext, and a client that insists on TLS gets an ERR saying how to enable it. With
a certificate the proxy terminates the client's TLS, decodes (and records) the plaintext, and
talks to the server as --server-tls says (docs/tls.md).

Compression: a client that asks for it (CLIENT_COMPRESS, zlib: mariadb --compress, mysql2
compress: true) keeps it; the proxy forwards the compressed frames unchanged and decodes (and
records) the packets inside them. zstd (CLIENT_ZSTD_COMPRESSION_ALGORITHM, MySQL 8.0.18+) is
cleared in the greeting: clients that offer it fall back to zlib or none.

SIGINT/SIGTERM stop accepting and wait for open connections to finish; a second signal closes
them at once. Exit status: 0 after a clean shutdown, 1 on a runtime error, 2 on a usage error.
`;

/** What {@link PROXY_OPTIONS} say, checked, with the logger and trace output they ask for. */
export interface ProxySettings {
  listen: Endpoint;
  server: Endpoint;
  connectTimeoutMs: number | undefined;
  maxPacketLength: number | undefined;
  json: boolean;
  logger: Logger;
  /** Buffered stdout: the ready line, trace lines. */
  out: LineWriter;
  /** Prints a packet's trace line; undefined without `--trace`. */
  onPacket: ((connection: ConnectionInfo, packet: DecodedPacket) => void) | undefined;
  /** Logs that a connection stopped being decoded. */
  onOpaque: (connection: ConnectionInfo, reason: string) => void;
  /** The TLS options for `startProxy()`/`record()` (spread them in). */
  tls: { tls?: CertificateSource; serverTls: TlsMode; serverCaFile?: string };
  /** `--script`, `--fault`, `--control` (src/cli/hook_options.ts). */
  hooks: HookSettings;
  /** `--relay`; undefined: the proxy's default. */
  relay: RelayMode | undefined;
}

/**
 * Turns parsed {@link PROXY_OPTIONS} values into settings; bad values throw a UsageError.
 *
 * @example
 * ```ts ignore
 * const { values } = parse(args, { ...PROXY_OPTIONS, out: { type: "string" } });
 * const settings = proxySettings(values);
 * ```
 */
export function proxySettings(values: {
  listen: string;
  server?: string;
  trace: boolean;
  json: boolean;
  quiet: boolean;
  "connect-timeout"?: string;
  "max-packet"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-auto"?: boolean;
  "server-tls"?: string;
  "server-ca"?: string;
  relay?: string;
  script?: string;
  fault?: string[];
  control?: string;
  "control-token"?: string;
}): ProxySettings {
  const json = values.json;
  const logger = stderrLogger(json ? "json" : "human", values.quiet ? "warn" : "info");
  const out = new LineWriter(Deno.stdout);
  return {
    listen: endpointOption(values.listen, "listen"),
    server: endpointOption(values.server ?? "127.0.0.1:3306", "server"),
    connectTimeoutMs: positiveInteger(values["connect-timeout"], "connect-timeout"),
    maxPacketLength: positiveInteger(values["max-packet"], "max-packet"),
    json,
    logger,
    out,
    onPacket: values.trace
      ? (info, packet) =>
        out.write(json ? traceJson(info.id, packet) : formatTraceLine(info.id, packet))
      : undefined,
    onOpaque: (info, reason) =>
      logger.log("warn", "decoding-stopped", `Decoding stopped: ${reason}`, {
        connection: info.id,
      }),
    tls: tlsSettings(values),
    hooks: hookSettings(values, values.server !== undefined),
    relay: relayOption(values.relay),
  };
}

/** `--relay`, checked. */
function relayOption(value: string | undefined): RelayMode | undefined {
  if (value === undefined || value === "epoll" || value === "deno") return value;
  throw new UsageError(`Option --relay needs epoll or deno, got "${value}"`);
}

/** `--tls-cert`/`--tls-key`/`--tls-auto`/`--server-tls`/`--server-ca`, checked. */
function tlsSettings(values: {
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-auto"?: boolean;
  "server-tls"?: string;
  "server-ca"?: string;
}): ProxySettings["tls"] {
  let serverTls: TlsMode;
  try {
    serverTls = parseTlsMode(values["server-tls"] ?? "off");
  } catch (error) {
    throw new UsageError(`Option --server-tls: ${(error as Error).message}`);
  }
  const settings: ProxySettings["tls"] = { serverTls };
  const certificate = certificateOption(values);
  if (certificate) settings.tls = certificate;
  if (values["server-ca"] !== undefined) settings.serverCaFile = values["server-ca"];
  return settings;
}

/** Runs `proxy` with its arguments; resolves to the exit status. */
export async function proxyCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { ...PROXY_OPTIONS, ...COMPARE_OPTIONS });
  if (values.help) {
    console.log(PROXY_HELP);
    return 0;
  }
  const settings = proxySettings(values);
  if (values.compare !== undefined) {
    if (values.script !== undefined || values.fault.length > 0 || values.control !== undefined) {
      throw new UsageError("Options --script, --fault and --control do not go with --compare");
    }
    return await proxyCompare(settings, { ...values, compare: values.compare });
  }
  const { logger, out, onPacket, onOpaque } = settings;
  const proxy = await startProxy({
    listen: settings.listen,
    server: settings.hooks.serverless ? null : settings.server,
    ...settings.hooks.proxy,
    logger,
    connectTimeoutMs: settings.connectTimeoutMs,
    ...settings.tls,
    relay: settings.relay,
    tap: (info) =>
      createSessionTap({
        maxPacketLength: settings.maxPacketLength,
        onPacket: onPacket && ((packet) => onPacket(info, packet)),
        onOpaque: (reason) => onOpaque(info, reason),
      }),
  });
  // Signal handlers first: a signal right after the ready line must still shut down cleanly.
  const stopped = untilSignal(proxy, logger);
  const control = await settings.hooks.startControl(proxy.faults, logger);
  announce(settings, formatEndpoint(proxy.endpoint), proxy.tlsFingerprint);
  await stopped;
  await control?.close();
  out.flush();
  return 0;
}

/**
 * Prints the ready line on stdout (after saying how TLS is handled), as text or JSON: `Listening on 127.0.0.1:3307, forwarding to 127.0.0.1:3306`.
 * `tlsFingerprint` is the certificate's, when the proxy offers TLS.
 *
 * @example
 * ```ts ignore
 * announce(settings, formatEndpoint(proxy.endpoint));
 * ```
 */
export function announce(settings: ProxySettings, listen: string, tlsFingerprint?: string): void {
  const { out, json } = settings;
  const server = settings.hooks.serverless
    ? `the script ${settings.hooks.proxy.script} (no --server)`
    : formatEndpoint(settings.server);
  announceTls(settings, tlsFingerprint);
  out.write(
    json
      ? JSON.stringify({ event: "listening", listen, server })
      : `Listening on ${listen}, forwarding to ${server}`,
  );
  out.flush();
}

/**
 * The certificate `--tls-cert`/`--tls-key` or `--tls-auto` ask for (`proxy`, `record`, `replay`);
 * undefined without them. Throws a UsageError when they do not go together.
 *
 * @example
 * ```ts
 * import { certificateOption } from "./proxy.ts";
 * console.assert(certificateOption({ "tls-auto": true }) === "auto");
 * ```
 */
export function certificateOption(
  values: { "tls-cert"?: string; "tls-key"?: string; "tls-auto"?: boolean },
): CertificateSource | undefined {
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError("Options --tls-cert and --tls-key go together: give both");
  }
  if (values["tls-auto"] && cert !== undefined) {
    throw new UsageError("Give either --tls-auto or --tls-cert/--tls-key, not both");
  }
  if (cert !== undefined && key !== undefined) return { certFile: cert, keyFile: key };
  return values["tls-auto"] ? "auto" : undefined;
}

/** Logs how the proxy handles TLS (`fingerprint`: of the certificate it offers, if any). */
export function announceTls(settings: ProxySettings, fingerprint: string | undefined): void {
  const { logger } = settings;
  const { tls, serverTls } = settings.tls;
  const upstream = `TLS to the server: ${serverTls}`;
  if (fingerprint === undefined) {
    logger.log(
      "warn",
      "tls-not-offered",
      "TLS is not offered to clients (no --tls-cert/--tls-auto): CLIENT_SSL is cleared in the " +
        "server greeting, so clients connect in plaintext, and a client that requires TLS gets " +
        `an ERR. ${upstream}`,
      { serverTls },
    );
    return;
  }
  const generated = tls === "auto" ? " (self-signed, made by --tls-auto)" : "";
  logger.log(
    "info",
    "tls-offered",
    `TLS offered to clients and terminated here; certificate SHA-256 ${fingerprint}${generated}. ` +
      upstream,
    { fingerprint, serverTls },
  );
}

function endpointOption(value: string, name: string) {
  try {
    return parseEndpoint(value);
  } catch (error) {
    throw new UsageError(`Option --${name}: ${(error as Error).message}`);
  }
}
