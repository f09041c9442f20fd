/**
 * Captures the raw frames of real client/server sessions as a hex transcript, for codec tests.
 *
 * ```
 * deno run -A tests/tools/capture.ts --server 127.0.0.1:3306 --out tests/fixtures/captures/x.txt \
 *   -- mariadb -h 127.0.0.1 -P {port} -u user -ppw -e "SELECT 1"
 * ```
 *
 * It listens on a free port, runs the command with `{port}` replaced, relays every connection the
 * command makes to the server unchanged, and writes one line per frame:
 * `> seq hex` (client to server) or `< seq hex` (server to client), prefixed by `@conn`.
 * Frames are cut from the byte stream by their own 4-byte headers, independently of the codec.
 * The server's greeting has CLIENT_SSL cleared so clients stay in plaintext.
 *
 * @module
 */

import { parseArgs } from "node:util";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Splits a stream into raw frames with a minimal header reader of its own. */
class FrameCutter {
  #pending = new Uint8Array(0);
  push(chunk: Uint8Array): { seq: number; payload: Uint8Array }[] {
    const data = new Uint8Array(this.#pending.length + chunk.length);
    data.set(this.#pending);
    data.set(chunk, this.#pending.length);
    const frames = [];
    let offset = 0;
    while (data.length - offset >= 4) {
      const length = data[offset] + data[offset + 1] * 256 + data[offset + 2] * 65536;
      if (data.length - offset - 4 < length) break;
      frames.push({ seq: data[offset + 3], payload: data.slice(offset + 4, offset + 4 + length) });
      offset += 4 + length;
    }
    this.#pending = data.slice(offset);
    return frames;
  }
}

/** Clears CLIENT_SSL (0x0800) in a HandshakeV10 payload, in place. */
function clearSsl(payload: Uint8Array): void {
  if (payload[0] !== 10) return;
  const nul = payload.indexOf(0, 1);
  const capsAt = nul + 1 + 4 + 8 + 1;
  payload[capsAt + 1] &= ~0x08;
}

async function relay(
  client: Deno.Conn,
  server: { hostname: string; port: number },
  id: number,
  lines: string[],
): Promise<void> {
  const upstream = await Deno.connect(server);
  const up = new FrameCutter();
  const down = new FrameCutter();
  let greeting = true;
  const pump = async (
    from: Deno.Conn,
    to: Deno.Conn,
    cutter: FrameCutter,
    arrow: string,
  ) => {
    const buffer = new Uint8Array(256 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        // Frames are re-emitted whole so the greeting can be patched; bytes stay identical.
        for (const frame of cutter.push(buffer.subarray(0, n))) {
          if (arrow === "<" && greeting) {
            clearSsl(frame.payload);
            greeting = false;
          }
          const line = frame.payload.length > 65536
            ? `@${id} ${arrow} ${frame.seq} len=${frame.payload.length} (not kept)`
            : `@${id} ${arrow} ${frame.seq} ${hex(frame.payload)}`;
          lines.push(line);
          const out = new Uint8Array(4 + frame.payload.length);
          out[0] = frame.payload.length & 0xff;
          out[1] = (frame.payload.length >> 8) & 0xff;
          out[2] = (frame.payload.length >> 16) & 0xff;
          out[3] = frame.seq;
          out.set(frame.payload, 4);
          for (let written = 0; written < out.length;) {
            written += await to.write(out.subarray(written));
          }
        }
      }
    } catch {
      // Either side closing ends the relay.
    } finally {
      try {
        to.closeWrite();
      } catch {
        // already closed
      }
    }
  };
  await Promise.all([pump(client, upstream, up, ">"), pump(upstream, client, down, "<")]);
  client.close();
  upstream.close();
}

async function main(args: string[]): Promise<number> {
  const split = args.indexOf("--");
  const { values } = parseArgs({
    args: split < 0 ? args : args.slice(0, split),
    options: { server: { type: "string" }, out: { type: "string" } },
  });
  const command = split < 0 ? [] : args.slice(split + 1);
  if (!values.server || !values.out || command.length === 0) {
    console.error("usage: capture.ts --server HOST:PORT --out FILE -- command with {port} ...");
    return 2;
  }
  const [hostname, port] = values.server.split(":");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listenPort = (listener.addr as Deno.NetAddr).port;
  const lines: string[] = [`# capture of: ${command.join(" ")}`];
  const relays: Promise<void>[] = [];
  (async () => {
    let id = 0;
    for await (const conn of listener) {
      relays.push(relay(conn, { hostname, port: Number(port) }, ++id, lines));
    }
  })().catch(() => {});
  const child = new Deno.Command(command[0], {
    args: command.slice(1).map((a) => a.replaceAll("{port}", String(listenPort))),
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const status = await child.status;
  listener.close();
  await Promise.all(relays);
  await Deno.writeTextFile(values.out, lines.join("\n") + "\n");
  console.error(`wrote ${lines.length - 1} frames to ${values.out} (command exit ${status.code})`);
  return status.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
