/**
 * `--script`, `--fault`, `--control`, `--control-token`: the options of `proxy` and `record` for
 * hooks and faults (docs/hooks.md, docs/faults.md).
 *
 * @module
 */

import { UsageError } from "./args.ts";
import { parseFault } from "../faults/spec.ts";
import type { FaultControl } from "../faults/set.ts";
import type { Logger } from "../log.ts";
import { type ControlServer, startControl } from "../control/server.ts";

/** The options, for `parse()`. */
export const HOOK_OPTIONS = {
  script: { type: "string" },
  fault: { type: "string", multiple: true, default: [] as string[] },
  control: { type: "string" },
  "control-token": { type: "string" },
} as const;

/** Their help lines. */
export const HOOK_OPTIONS_HELP =
  `  --script FILE           hooks (a TypeScript module, run with Deno's permissions): see, rewrite,
                          answer or refuse logins, commands and responses (docs/hooks.md).
                          Without --server, the script is the server
  --fault SPEC            inject a fault (repeatable): latency=200ms[,jitter=50ms][,direction=up|down],
                          bandwidth=64kb/s, slow-close=1s, timeout[=5s], reset-after=10kb,
                          slice=64b, refuse, error=1213[,match=/^UPDATE/][,every=10],
                          drop-after-query=/pattern/; each also takes p=0.1 and connections=0.5
                          (docs/faults.md)
  --control ADDR          serve the control API (list, add, remove faults over HTTP) on
                          HOST:PORT; give a loopback address unless --control-token is set
  --control-token TOKEN   require Authorization: Bearer TOKEN on the control API (prefer the
                          environment variable MYSQL_PROXY_CONTROL_TOKEN)`;

/** What the options say. */
export interface HookSettings {
  /** To spread into `startProxy()`/`record()`. */
  proxy: { script?: string; faults: string[] };
  /** No `--server` with a `--script`: the script is the server. */
  serverless: boolean;
  /** Starts the control API when `--control` was given (after the proxy started). */
  startControl(faults: FaultControl, logger: Logger): Promise<ControlServer | undefined>;
}

/**
 * Checks the options; bad values throw a UsageError. `serverGiven`: whether `--server` was given.
 *
 * @example
 * ```ts
 * import { hookSettings } from "./hook_options.ts";
 * const settings = hookSettings({ fault: ["latency=200ms"] }, true);
 * console.assert(settings.proxy.faults.length === 1 && !settings.serverless);
 * ```
 */
export function hookSettings(
  values: { script?: string; fault?: string[]; control?: string; "control-token"?: string },
  serverGiven: boolean,
): HookSettings {
  const faults = values.fault ?? [];
  for (const spec of faults) {
    try {
      parseFault(spec);
    } catch (error) {
      throw new UsageError(`Option --fault: ${(error as Error).message}`);
    }
  }
  const token = values["control-token"] ?? Deno.env.get("MYSQL_PROXY_CONTROL_TOKEN");
  const control = values.control;
  if (control !== undefined) {
    const host = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(control);
    if (!host) throw new UsageError(`Option --control: "${control}" is not HOST:PORT`);
    const name = host[1] ?? host[2] ?? "";
    const loopback = name === "" || name === "localhost" || name === "::1" ||
      name.startsWith("127.");
    if (!loopback && !token) {
      throw new UsageError(
        `Option --control: ${control} is not a loopback address; anyone who reaches it could ` +
          "inject faults. Give --control-token (or MYSQL_PROXY_CONTROL_TOKEN) too",
      );
    }
  }
  const proxy: HookSettings["proxy"] = { faults };
  if (values.script !== undefined) proxy.script = values.script;
  return {
    proxy,
    serverless: values.script !== undefined && !serverGiven,
    async startControl(set, logger) {
      if (control === undefined) return undefined;
      const server = await startControl(set, {
        listen: control,
        ...(token ? { token } : {}),
        logger,
      });
      logger.log("info", "control-listening", `Control API on http://${server.address}/faults`, {
        address: server.address,
      });
      return server;
    },
  };
}
