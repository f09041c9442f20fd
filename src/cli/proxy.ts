/**
 * `proxy`: relay MySQL clients to a server, decoding every packet on the way.
 *
 * @module
 */

import { parse, positiveInteger, UsageError } from "./args.ts";
import { LineWriter, stderrLogger } from "./output.ts";
import { startProxy } from "../net/proxy.ts";
import { type Endpoint, formatEndpoint, parseEndpoint } from "../net/endpoint.ts";
import { type ConnectionInfo, createSessionTap } from "../session/tap.ts";
import { formatTraceLine, traceJson } from "../session/trace.ts";
import type { Logger } from "../log.ts";
import type { DecodedPacket } from "../session/decoder.ts";
import { untilSignal } from "./signals.ts";
import { COMPARE_OPTIONS, COMPARE_OPTIONS_HELP } from "./compare_options.ts";
import { proxyCompare } from "./proxy_compare.ts";

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
  server: { type: "string", default: "127.0.0.1:3306" },
  trace: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  quiet: { type: "boolean", default: false },
  "connect-timeout": { type: "string" },
  "max-packet": { type: "string" },
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
  --connect-timeout MS    how long to wait for the server's TCP connect (default 10000)
  --max-packet BYTES      largest packet reassembled when packets are printed or recorded
                          (default 1073741824); a larger one is still forwarded, but that
                          connection is no longer decoded. Without --trace the proxy reads only
                          the first 64 KiB of each packet, so memory stays small regardless
  -h, --help              show this help`;

/** Help text of `proxy`. */
export const PROXY_HELP = `Usage: deno run -A mod.ts proxy [options]

Relays MySQL/MariaDB clients to a server, byte for byte, decoding every packet on the way.

Options:
${PROXY_OPTIONS_HELP}
${COMPARE_OPTIONS_HELP}

TLS and compression are not decoded yet: the proxy clears CLIENT_SSL and CLIENT_COMPRESS in the
server greeting, so clients connect in plaintext without compression.

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
  server: string;
  trace: boolean;
  json: boolean;
  quiet: boolean;
  "connect-timeout"?: string;
  "max-packet"?: string;
}): ProxySettings {
  const json = values.json;
  const logger = stderrLogger(json ? "json" : "human", values.quiet ? "warn" : "info");
  const out = new LineWriter(Deno.stdout);
  return {
    listen: endpointOption(values.listen, "listen"),
    server: endpointOption(values.server, "server"),
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
  };
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
    return await proxyCompare(settings, { ...values, compare: values.compare });
  }
  const { logger, out, onPacket, onOpaque } = settings;
  const proxy = await startProxy({
    listen: settings.listen,
    server: settings.server,
    logger,
    connectTimeoutMs: settings.connectTimeoutMs,
    tap: (info) =>
      createSessionTap({
        maxPacketLength: settings.maxPacketLength,
        onPacket: onPacket && ((packet) => onPacket(info, packet)),
        onOpaque: (reason) => onOpaque(info, reason),
      }),
  });
  // Signal handlers first: a signal right after the ready line must still shut down cleanly.
  const stopped = untilSignal(proxy, logger);
  announce(settings, formatEndpoint(proxy.endpoint));
  await stopped;
  out.flush();
  return 0;
}

/**
 * Prints the ready line on stdout (after warning that TLS and compression are cleared), as text or
 * JSON: `Listening on 127.0.0.1:3307, forwarding to 127.0.0.1:3306`.
 *
 * @example
 * ```ts ignore
 * announce(settings, formatEndpoint(proxy.endpoint));
 * ```
 */
export function announce(settings: ProxySettings, listen: string): void {
  const { logger, out, json } = settings;
  const server = formatEndpoint(settings.server);
  logger.log(
    "warn",
    "tls-compression-disabled",
    "TLS and compression are not decoded yet: CLIENT_SSL and CLIENT_COMPRESS are cleared in the " +
      "server greeting, so clients connect in plaintext without compression",
  );
  out.write(
    json
      ? JSON.stringify({ event: "listening", listen, server })
      : `Listening on ${listen}, forwarding to ${server}`,
  );
  out.flush();
}

function endpointOption(value: string, name: string) {
  try {
    return parseEndpoint(value);
  } catch (error) {
    throw new UsageError(`Option --${name}: ${(error as Error).message}`);
  }
}
