/**
 * `proxy --compare FILE.jsonl`: the proxy, comparing every answer the server gives with the
 * matching recorded one, logging differences as they happen and reporting on exit.
 *
 * @module
 */

import { startProxy } from "../net/proxy.ts";
import { formatEndpoint } from "../net/endpoint.ts";
import { createSessionTap } from "../session/tap.ts";
import { loadMatchTarget } from "../compare/matched.ts";
import { compareTap } from "../compare/proxy_compare.ts";
import { ReportBuilder } from "../compare/report.ts";
import { noiseOf } from "../compare/verify.ts";
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
  const noise = noiseOf(await noiseRules(values.ignore, values.noise));
  const target = await loadMatchTarget(values.compare, {
    onWarning: (warning) => logger.log("warn", "recording-warning", warning),
  });
  const builder = new ReportBuilder({
    mode: "proxy-compare",
    recording: values.compare,
    against: formatEndpoint(settings.server),
    noise: noise.rules.map((r) => r.source),
    ordered: values.ordered,
  });
  const compare = compareTap({
    target,
    builder,
    compare: { noise, ordered: values.ordered },
    logger,
  });
  const proxy = await startProxy({
    listen: settings.listen,
    server: settings.server,
    logger,
    connectTimeoutMs: settings.connectTimeoutMs,
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
  const stopped = untilSignal(proxy, logger);
  announce(settings, formatEndpoint(proxy.endpoint));
  await stopped;
  await compare.settled();
  out.flush();
  const report = builder.finish();
  await emitReport(report, { json: values.json, quiet: values.quiet, report: values.report });
  return report.exitCode === 4 ? 4 : 0;
}
