/**
 * `proxy`: relay MySQL clients to a server, decoding every packet on the way.
 *
 * @module
 */

import { parse, positiveInteger, UsageError } from "./args.ts";
import { LineWriter, stderrLogger } from "./output.ts";
import { startProxy } from "../net/proxy.ts";
import { formatEndpoint, parseEndpoint } from "../net/endpoint.ts";
import { createSessionTap } from "../session/tap.ts";
import { formatTraceLine, traceJson } from "../session/trace.ts";
import type { Logger } from "../log.ts";
import { untilSignal } from "./signals.ts";

/** Help text of `proxy`. */
export const PROXY_HELP = `Usage: deno run -A mod.ts proxy [options]

Relays MySQL/MariaDB clients to a server, byte for byte, decoding every packet on the way.

Options:
  --listen ADDR           where clients connect: HOST:PORT or unix:/PATH (default 127.0.0.1:3307;
                          port 0 picks a free port)
  --server ADDR           the MySQL/MariaDB server: HOST:PORT or unix:/PATH (default 127.0.0.1:3306)
  --trace                 print one line per decoded packet on stdout
  --json                  logs (stderr), the ready line and --trace output as JSON lines
  --quiet                 log only warnings and errors
  --connect-timeout MS    how long to wait for the server's TCP connect (default 10000)
  --max-packet BYTES      largest packet reassembled for decoding (default 1073741824); larger
                          packets are still forwarded, but that connection is no longer decoded
  -h, --help              show this help

TLS and compression are not decoded yet: the proxy clears CLIENT_SSL and CLIENT_COMPRESS in the
server greeting, so clients connect in plaintext without compression.

SIGINT/SIGTERM stop accepting and wait for open connections to finish; a second signal closes
them at once. Exit status: 0 after a clean shutdown, 1 on a runtime error, 2 on a usage error.
`;

/** Runs `proxy` with its arguments; resolves to the exit status. */
export async function proxyCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    listen: { type: "string", default: "127.0.0.1:3307" },
    server: { type: "string", default: "127.0.0.1:3306" },
    trace: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    "connect-timeout": { type: "string" },
    "max-packet": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    console.log(PROXY_HELP);
    return 0;
  }
  const listen = endpointOption(values.listen, "listen");
  const server = endpointOption(values.server, "server");
  const connectTimeoutMs = positiveInteger(values["connect-timeout"], "connect-timeout");
  const maxPacketLength = positiveInteger(values["max-packet"], "max-packet");
  const json = values.json;
  const logger = stderrLogger(json ? "json" : "human", values.quiet ? "warn" : "info");
  const out = new LineWriter(Deno.stdout);
  const trace = values.trace;

  const proxy = await startProxy({
    listen,
    server,
    logger,
    connectTimeoutMs,
    tap: (info) =>
      createSessionTap({
        maxPacketLength,
        onPacket: trace
          ? (packet) =>
            out.write(json ? traceJson(info.id, packet) : formatTraceLine(info.id, packet))
          : undefined,
        onOpaque: (reason) =>
          logger.log("warn", "decoding-stopped", `Decoding stopped: ${reason}`, {
            connection: info.id,
          }),
      }),
  });
  announce(out, logger, json, formatEndpoint(proxy.endpoint), formatEndpoint(server));
  await untilSignal(proxy, logger);
  out.flush();
  return 0;
}

function announce(out: LineWriter, logger: Logger, json: boolean, listen: string, server: string) {
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
