/**
 * The control API (`--control 127.0.0.1:PORT`): faults listed, added and removed over HTTP with
 * JSON, toxiproxy style, while the proxy runs.
 *
 *     GET    /faults          -> 200 [{ id, spec, kind, connections, fired }]
 *     POST   /faults          {"spec": "latency=200ms"} -> 201 { id, spec, ... }; 400 when it does not parse
 *     DELETE /faults/ID       -> 204; 404 when there is no such fault
 *     DELETE /faults          -> 204 (all of them)
 *
 * Loopback by default; with a token, every request must carry `Authorization: Bearer TOKEN`.
 *
 * @module
 */

import type { FaultControl } from "../faults/set.ts";
import type { Logger } from "../log.ts";
import { FaultSpecError } from "../faults/spec.ts";

/** Options of {@link startControl}. */
export interface ControlOptions {
  /** `HOST:PORT` (default host 127.0.0.1; port 0 picks one). */
  listen: string;
  /** When set, requests need `Authorization: Bearer <token>`. */
  token?: string;
  /** Receives a line for each fault added or removed. */
  logger?: Logger;
}

/** A running control API. */
export interface ControlServer extends AsyncDisposable {
  /** Its address, `127.0.0.1:PORT`. */
  readonly address: string;
  /** Its port. */
  readonly port: number;
  /** Stops it. */
  close(): Promise<void>;
}

/**
 * Serves the control API for `faults`.
 *
 * @example
 * ```ts ignore
 * await using control = await startControl(proxy.faults, { listen: "127.0.0.1:0" });
 * await fetch(`http://${control.address}/faults`, { method: "POST", body: '{"spec":"latency=200ms"}' });
 * ```
 */
export async function startControl(
  faults: FaultControl,
  options: ControlOptions,
): Promise<ControlServer> {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(options.listen);
  if (!match) {
    throw new TypeError(`Cannot listen for the control API on "${options.listen}": give HOST:PORT`);
  }
  const hostname = match[1] ?? (match[2] || "127.0.0.1");
  const port = Number(match[3]);
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname,
    port,
    onListen: (addr) => resolve(addr as Deno.NetAddr),
  }, (request) => handle(request, faults, options));
  const addr = await listening;
  const address = addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
  let closing: Promise<void> | undefined;
  const close = () => closing ??= server.shutdown();
  return { address, port: addr.port, close, [Symbol.asyncDispose]: close };
}

async function handle(
  request: Request,
  faults: FaultControl,
  options: ControlOptions,
): Promise<Response> {
  if (options.token !== undefined) {
    const given = request.headers.get("authorization") ?? "";
    if (given !== `Bearer ${options.token}`) {
      return json({ error: "A valid Authorization: Bearer token is required" }, 401);
    }
  }
  const path = new URL(request.url).pathname.replace(/\/+$/, "");
  if (path === "/faults" && request.method === "GET") return json(faults.list());
  if (path === "/faults" && request.method === "POST") {
    let spec: unknown;
    try {
      spec = (await request.json() as { spec?: unknown }).spec;
    } catch {
      return json({ error: 'The body must be JSON: {"spec": "latency=200ms"}' }, 400);
    }
    if (typeof spec !== "string") {
      return json({ error: 'The body needs "spec": a fault spec such as "latency=200ms"' }, 400);
    }
    try {
      const added = faults.add(spec);
      options.logger?.log("info", "fault-added", `Fault ${added.id} added: ${added.spec}`, {
        fault: added.id,
      });
      return json(added, 201);
    } catch (error) {
      if (error instanceof FaultSpecError) return json({ error: error.message }, 400);
      throw error;
    }
  }
  if (path === "/faults" && request.method === "DELETE") {
    faults.clear();
    options.logger?.log("info", "fault-removed", "Every fault removed");
    return new Response(null, { status: 204 });
  }
  const one = /^\/faults\/([^/]+)$/.exec(path);
  if (one && request.method === "DELETE") {
    if (!faults.remove(decodeURIComponent(one[1]))) {
      return json({ error: `No fault ${one[1]}` }, 404);
    }
    options.logger?.log("info", "fault-removed", `Fault ${one[1]} removed`, { fault: one[1] });
    return new Response(null, { status: 204 });
  }
  if (path === "/faults" || one) {
    return json({ error: `${request.method} is not allowed here` }, 405);
  }
  return json({ error: `No such resource: ${path} (try /faults)` }, 404);
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}
