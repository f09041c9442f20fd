/**
 * A real TCP reset (RST) towards a client.
 *
 * `Deno.Conn` has no SO_LINGER, and its `close()` sends a FIN first (checked with tshark: FIN,
 * then RST), so the client reads a clean end of stream, not ECONNRESET. What works on Linux:
 * `connect()` with `AF_UNSPEC` on the connected socket ("disconnect", tcp_disconnect in the
 * kernel) sends an RST at once, without a FIN, and leaves the descriptor open for Deno to close
 * later. The descriptor is found through /proc (the socket's inode for its address pair), and the
 * call made through FFI: it needs `--allow-ffi` and `--allow-read=/proc` (both in `-A`). Without
 * them, or elsewhere than Linux, the connection is closed normally and the caller is told.
 *
 * @module
 */

let libc:
  | Deno.DynamicLibrary<{ connect: { parameters: ["i32", "buffer", "u32"]; result: "i32" } }>
  | null
  | undefined;

function openLibc() {
  if (libc !== undefined) return libc;
  try {
    libc = Deno.dlopen("libc.so.6", {
      connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    });
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * Sends an RST on `conn` (a TCP connection of this process). Resolves to true when it did; false
 * when it could not (then the caller closes the connection as usual).
 *
 * @example
 * ```ts ignore
 * if (!resetConnection(conn)) conn.close();
 * ```
 */
export function resetConnection(conn: { localAddr: Deno.Addr; remoteAddr: Deno.Addr }): boolean {
  if (Deno.build.os !== "linux") return false;
  const local = conn.localAddr;
  const remote = conn.remoteAddr;
  if (local.transport !== "tcp" || remote.transport !== "tcp") return false;
  const lib = openLibc();
  if (!lib) return false;
  try {
    const fd = socketDescriptor(local.port, remote.port);
    if (fd === undefined) return false;
    // struct sockaddr with sa_family = AF_UNSPEC (0): disconnect.
    return lib.symbols.connect(fd, new Uint8Array(16), 16) === 0;
  } catch {
    return false;
  }
}

function socketDescriptor(localPort: number, remotePort: number): number | undefined {
  const hex = (port: number) => `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let inode: string | undefined;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const fields = line.trim().split(/\s+/);
      // state 01: ESTABLISHED
      if (
        fields.length > 9 && fields[3] === "01" && fields[1].endsWith(hex(localPort)) &&
        fields[2].endsWith(hex(remotePort))
      ) {
        inode = fields[9];
      }
    }
  }
  if (inode === undefined) return undefined;
  const target = `socket:[${inode}]`;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === target) return Number(entry.name);
    } catch {
      // closed meanwhile
    }
  }
  return undefined;
}
