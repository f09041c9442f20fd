/**
 * The benchmark's `relay` target: the least a Deno proxy can do, copying bytes both ways with a
 * `conn.read`/`conn.write` loop and no decoding. Its QPS is the ceiling a Deno proxy can reach on
 * this machine, and the gap between it and `proxy` is what decoding costs.
 *
 * Usage: `deno run -A bench/relay.ts LISTEN_PORT SERVER_PORT` (both on 127.0.0.1).
 *
 * @module
 */

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

async function serve(client: Deno.TcpConn, serverPort: number): Promise<void> {
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
  await Promise.all([pump(client, server), pump(server, client)]);
  client.close();
  server.close();
}

/** Listens on `listenPort` and relays every connection to `serverPort`. */
export async function main(args: string[]): Promise<void> {
  const [listenPort, serverPort] = args.map(Number);
  if (!Number.isInteger(listenPort) || !Number.isInteger(serverPort)) {
    throw new TypeError("Cannot start the relay: usage is relay.ts LISTEN_PORT SERVER_PORT");
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: listenPort });
  for await (const client of listener) {
    serve(client, serverPort).catch(() => {});
  }
}

if (import.meta.main) await main(Deno.args);
