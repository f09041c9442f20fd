/**
 * `proxy --compare FILE.jsonl`: the proxy, comparing every answer the server gives with the
 * matching recorded one, logging differences as they happen and reporting on exit.
 *
 * @module
 */

import { startProxy } from "../net/proxy.ts";
import { formatEndpoint } from "../net/endpoint.ts";
import { createSessionTap } from "../session/tap.ts";
import { startOffThreadCompare } from "../compare/offthread.ts";
import { announce, type ProxySettings } from "./proxy.ts";
import { untilSignal } from "./signals.ts";
import { emitReport, noiseRules } from "./verify.ts";

/**
 * Runs the proxy with comparison on; resolves to the exit status (0, or 4 when answers differed).
 *
 * @example
 * ```ts ignore
 * return await proxyCompare(settings, { compare: "session.jsonl", ordered: false });
 * ```
 */
export async function proxyCompare(
  settings: ProxySettings,
  values: {
    compare: string;
    ignore?: string[];
    noise?: string;
    ordered: boolean;
    report?: string;
    json: boolean;
    quiet: boolean;
  },
): Promise<number> {
  const { logger, out, onPacket } = settings;
  // Decoding, matching and comparing run in a child process: the relay only hands it copies.
  const compare = await startOffThreadCompare({
    recording: values.compare,
    against: formatEndpoint(settings.server),
    noise: await noiseRules(values.ignore, values.noise),
    ordered: values.ordered,
    logger,
  });
  const proxy = await startProxy({
    listen: settings.listen,
    server: settings.server,
    logger,
    connectTimeoutMs: settings.connectTimeoutMs,
    ...settings.tls,
    relay: settings.relay,
    // The epoll relay's worker sends the bytes on to the comparing side itself.
    relayForward: compare.forward,
    tap: (info) => {
      const comparing = compare.tap(info);
      if (!onPacket) return comparing;
      // --trace too: a second decoder prints the packets.
      const tracing = createSessionTap({ onPacket: (packet) => onPacket(info, packet) });
      return {
        client(chunk) {
          tracing.client(chunk);
          comparing.client(chunk);
        },
        server(chunk) {
          tracing.server(chunk);
          comparing.server(chunk);
        },
        get commands() {
          return comparing.commands;
        },
        close(reason, bytes) {
          comparing.close?.(reason, bytes);
        },
      };
    },
  });
  let report;
  try {
    const stopped = untilSignal(proxy, logger);
    announce(settings, formatEndpoint(proxy.endpoint), proxy.tlsFingerprint);
    await stopped;
    out.flush();
    report = await compare.finish();
  } catch (error) {
    compare.terminate();
    throw error;
  }
  await emitReport(report, { json: values.json, quiet: values.quiet, report: values.report });
  return report.exitCode === 4 ? 4 : 0;
}
