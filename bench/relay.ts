/**
 * The benchmark's `relay` and `relay-epoll` targets: the least a Deno proxy can do, copying bytes
 * both ways with no decoding: with a `conn.read`/`conn.write` loop (`deno`, the default), or with
 * the proxy's epoll worker (`epoll`, src/net/epoll/) and a tap that does nothing (its bytes still
 * copied to the main thread), or that worker with no tap at all (`epoll-bare`). Their QPS is the
 * ceiling a proxy built that way can reach on this machine, and the gap between it and `proxy` is
 * what decoding costs.
 *
 * Usage: `deno run -A bench/relay.ts LISTEN_PORT SERVER_PORT [deno|epoll|epoll-bare]` (both on 127.0.0.1).
 *
 * @module
 */

import { EpollRelay } from "../src/net/epoll/relay.ts";
import { silentLogger } from "../src/log.ts";

/** 64 KiB: a read may return a whole sysbench result set in one go. */
const BUFFER_SIZE = 65_536;

async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(BUFFER_SIZE);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      for (let written = 0; written < n;) {
        written += await to.write(buffer.subarray(written, n));
      }
    }
  } catch {
    // The other side reset the connection; closing both ends below is all there is to do.
  }
  try {
    await to.closeWrite();
  } catch {
    // Already closed.
  }
}

async function serve(
  client: Deno.TcpConn,
  serverPort: number,
  epoll: EpollRelay | undefined,
  bare: boolean,
): Promise<void> {
  let server: Deno.TcpConn;
  try {
    server = await Deno.connect({ hostname: "127.0.0.1", port: serverPort });
  } catch {
    client.close();
    return;
  }
  // Each query is one small write each way; Nagle would hold the second one back.
  client.setNoDelay(true);
  server.setNoDelay(true);
  const adopted = epoll?.adopt(client, server, {
    // `epoll-bare`: a tap that needs nothing, so no byte leaves the worker.
    tap: { client() {}, server() {}, ...(bare ? { detach: () => new Uint8Array(0) } : {}) },
    onClientBytes() {},
    onServerBytes() {},
  });
  if (adopted) await adopted.ends;
  else await Promise.all([pump(client, server), pump(server, client)]);
  client.close();
  server.close();
}

/** Listens on `listenPort` and relays every connection to `serverPort`. */
export async function main(args: string[]): Promise<void> {
  const [listenPort, serverPort] = args.slice(0, 2).map(Number);
  const mode = args[2] ?? "deno";
  if (
    !Number.isInteger(listenPort) || !Number.isInteger(serverPort) ||
    !/^(deno|epoll|epoll-bare)$/.test(mode)
  ) {
    throw new TypeError(
      "Cannot start the relay: usage is relay.ts LISTEN_PORT SERVER_PORT [deno|epoll|epoll-bare]",
    );
  }
  const epoll = mode.startsWith("epoll") ? new EpollRelay({ logger: silentLogger }) : undefined;
  epoll?.start();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: listenPort });
  for await (const client of listener) {
    serve(client, serverPort, epoll, mode === "epoll-bare").catch(() => {});
  }
}

if (import.meta.main) await main(Deno.args);
