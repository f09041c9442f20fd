/**
 * Addresses the proxy listens on and connects to: `host:port`, `[v6]:port` or `unix:/path`.
 *
 * @module
 */

/** A TCP or unix-socket address. */
export type Endpoint =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/**
 * Parses `127.0.0.1:3306`, `localhost:0`, `[::1]:3307`, `:3307` (loopback) or `unix:/tmp/s.sock`.
 *
 * @example
 * ```ts
 * import { parseEndpoint } from "./endpoint.ts";
 * console.assert(parseEndpoint("unix:/tmp/m.sock").transport === "unix");
 * ```
 */
export function parseEndpoint(text: string): Endpoint {
  if (text.startsWith("unix:")) {
    const path = text.slice(5);
    if (path === "") throw new TypeError(`Cannot parse address: "${text}" has no socket path`);
    return { transport: "unix", path };
  }
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!match) {
    throw new TypeError(
      `Cannot parse address: "${text}" is not HOST:PORT, [IPV6]:PORT or unix:/PATH`,
    );
  }
  const port = Number(match[3]);
  if (port > 65535) throw new TypeError(`Cannot parse address: port ${port} is above 65535`);
  return { transport: "tcp", hostname: match[1] ?? (match[2] || "127.0.0.1"), port };
}

/** Formats an endpoint the way {@link parseEndpoint} reads it. */
export function formatEndpoint(endpoint: Endpoint): string {
  if (endpoint.transport === "unix") return `unix:${endpoint.path}`;
  return endpoint.hostname.includes(":")
    ? `[${endpoint.hostname}]:${endpoint.port}`
    : `${endpoint.hostname}:${endpoint.port}`;
}

/** The endpoint a listener actually bound (with the port the OS picked for port 0). */
export function listenerEndpoint(listener: Deno.Listener): Endpoint {
  const addr = listener.addr;
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return { transport: "unix", path: addr.path };
  }
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return { transport: "tcp", hostname: addr.hostname, port: addr.port };
  }
  throw new TypeError(`Cannot describe listener: transport ${addr.transport}`);
}

/**
 * Listens on an endpoint. A unix socket file left behind by a dead process (nothing accepts on
 * it) is replaced; one that a live process serves is an AddrInUse error.
 */
export async function listen(endpoint: Endpoint): Promise<Deno.Listener> {
  if (endpoint.transport === "tcp") {
    return Deno.listen({ transport: "tcp", hostname: endpoint.hostname, port: endpoint.port });
  }
  try {
    return Deno.listen({ transport: "unix", path: endpoint.path });
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse) || !(await isStaleSocket(endpoint.path))) {
      throw error;
    }
    await Deno.remove(endpoint.path);
    return Deno.listen({ transport: "unix", path: endpoint.path });
  }
}

async function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!(await Deno.stat(path)).isSocket) return false;
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

/** Connects to an endpoint, with TCP_NODELAY on TCP (MySQL is request/response). */
export async function connect(endpoint: Endpoint, signal?: AbortSignal): Promise<Deno.Conn> {
  const pending = endpoint.transport === "tcp"
    ? Deno.connect({ transport: "tcp", hostname: endpoint.hostname, port: endpoint.port })
    : Deno.connect({ transport: "unix", path: endpoint.path });
  if (!signal) return tune(await pending);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return tune(await Promise.race([pending, aborted]));
  } catch (error) {
    pending.then((conn) => conn.close(), () => {});
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Sets TCP_NODELAY on TCP connections; unix sockets need nothing. */
export function tune(conn: Deno.Conn): Deno.Conn {
  if (conn.localAddr.transport === "tcp") (conn as Deno.TcpConn).setNoDelay(true);
  return conn;
}
