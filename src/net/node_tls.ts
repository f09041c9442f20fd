/**
 * TLS through `node:tls` on an existing `Deno.Conn`, for what `Deno.startTls` cannot do: skip
 * certificate verification (MySQL's `preferred` and `required` modes encrypt without verifying),
 * run over unix sockets, and be the server of a STARTTLS upgrade (`Deno.startTls` is client-side
 * only; MySQL upgrades after the SSLRequest). The result is again a `Deno.Conn`, so code written
 * for Deno connections (the relay, the client, the fake server) uses it unchanged.
 *
 * @module
 */

import tls from "node:tls";
import { Duplex } from "node:stream";

/** Options of {@link nodeStartTls}. */
export interface NodeTlsOptions {
  /** Verify the certificate chain (against `ca`, else the system roots). */
  verify: boolean;
  /** Also check that the certificate names `hostname` (only with `verify`). */
  checkIdentity: boolean;
  /** The name to check and to send as SNI (SNI is skipped for IP addresses). */
  hostname: string;
  /** Trusted CA certificates (PEM). */
  ca?: string[];
}

/**
 * A `node:stream` Duplex over a Deno connection: what `node:tls` wraps. `initial` holds bytes
 * already read from `conn` that belong to the TLS stream (a client sends its ClientHello right
 * behind the SSLRequest, often in the same read).
 */
function duplexOf(conn: Deno.Conn, initial?: Uint8Array): Duplex {
  let reading = false;
  let buffer: Uint8Array | undefined;
  let pending = initial && initial.length > 0 ? initial.slice() : undefined;
  return new Duplex({
    read() {
      if (pending) {
        // On a later turn: Deno's TLSSocket starts in a tick of its own, and bytes pushed
        // before that which fail the handshake (garbage behind an SSLRequest) make it throw an
        // uncaught TypeError from inside node:tls, which would end the process.
        const chunk = pending;
        pending = undefined;
        setTimeout(() => this.push(chunk), 0);
        return;
      }
      if (reading) return;
      reading = true;
      // One read buffer, and a copy of what arrived: TLS records of a MySQL session are mostly
      // small, and a fresh 64 KiB buffer per read cost more than the copy.
      buffer ??= new Uint8Array(64 * 1024);
      const into = buffer;
      conn.read(into).then((count) => {
        reading = false;
        this.push(count === null ? null : into.slice(0, count));
      }, (error) => this.destroy(error));
    },
    write(chunk: Uint8Array, _encoding, callback) {
      (async () => {
        let written = 0;
        while (written < chunk.length) written += await conn.write(chunk.subarray(written));
      })().then(() => callback(), callback);
    },
    final(callback) {
      conn.closeWrite().then(() => callback(), () => callback());
    },
    destroy(error, callback) {
      try {
        conn.close();
      } catch {
        // already closed
      }
      callback(error);
    },
  });
}

const isIp = (host: string) => /^[\d.]+$/.test(host) || host.includes(":");

/**
 * Runs a client TLS handshake with `node:tls` over `conn` and returns the encrypted connection.
 * Rejects when the handshake fails (a certificate that does not verify, a server that does not
 * speak TLS).
 *
 * @example
 * ```ts ignore
 * const secure = await nodeStartTls(conn, { verify: false, checkIdentity: false, hostname: "db" });
 * ```
 */
export async function nodeStartTls(conn: Deno.Conn, options: NodeTlsOptions): Promise<Deno.Conn> {
  const socket = tls.connect({
    socket: duplexOf(conn),
    rejectUnauthorized: options.verify,
    ca: options.ca,
    servername: isIp(options.hostname) ? undefined : options.hostname,
    checkServerIdentity: options.verify && options.checkIdentity
      ? (_host, cert) => tls.checkServerIdentity(options.hostname, cert)
      : () => undefined,
  });
  await handshake(socket, "secureConnect");
  return new NodeTlsConn(socket, conn);
}

/**
 * Settles when `socket` emits `event` (the handshake is done) or an error, or rejects after
 * `timeoutMs` (destroying the socket).
 */
async function handshake(socket: tls.TLSSocket, event: string, timeoutMs?: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const closed = () =>
        fail(new Error("the peer closed the connection during the TLS handshake"));
      const fail = (error: Error) => {
        socket.off(event, ok).off("end", closed).off("close", closed);
        reject(error);
      };
      const ok = () => {
        socket.off("error", fail).off("end", closed).off("close", closed);
        resolve();
      };
      socket.once(event, ok);
      socket.once("error", fail);
      // A peer that leaves mid-handshake ends the stream without an error.
      socket.once("end", closed);
      socket.once("close", closed);
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => fail(new Error(`the peer did not complete the TLS handshake in ${timeoutMs} ms`)),
          timeoutMs,
        );
      }
    });
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@link nodeAcceptTls}. */
export interface NodeTlsServerOptions {
  /** The certificate chain (PEM), leaf first. */
  cert: string;
  /** Its private key (PEM). */
  key: string;
  /** Bytes already read from the connection that belong to the TLS handshake. */
  initial?: Uint8Array;
  /** Milliseconds the client has to complete the handshake (default 10000). */
  timeoutMs?: number;
}

/**
 * Runs the server side of a TLS handshake with `node:tls` over `conn` (a STARTTLS upgrade: the
 * MySQL client asked for TLS with an SSLRequest) and returns the encrypted connection. Rejects
 * when the handshake fails or the client does not complete it in time.
 *
 * @example
 * ```ts ignore
 * const secure = await nodeAcceptTls(conn, { cert, key, initial: bytesAfterSslRequest });
 * ```
 */
export async function nodeAcceptTls(
  conn: Deno.Conn,
  options: NodeTlsServerOptions,
): Promise<Deno.Conn> {
  const socket = new tls.TLSSocket(duplexOf(conn, options.initial), {
    isServer: true,
    cert: options.cert,
    key: options.key,
  });
  await handshake(socket, "secure", options.timeoutMs ?? 10_000);
  return new NodeTlsConn(socket, conn);
}

/** The TLS version and cipher of a connection made here (`TLSv1.3 TLS_AES_256_GCM_SHA384`). */
export function describeTls(conn: Deno.Conn): string | undefined {
  if (!(conn instanceof NodeTlsConn)) return undefined;
  return conn.description;
}

/** A `Deno.Conn` over a connected `tls.TLSSocket`. */
class NodeTlsConn implements Deno.Conn {
  #socket: tls.TLSSocket;
  #raw: Deno.Conn;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #readable?: ReadableStream<Uint8Array<ArrayBuffer>>;
  #writable?: WritableStream<Uint8Array>;

  constructor(socket: tls.TLSSocket, raw: Deno.Conn) {
    this.#socket = socket;
    this.#raw = raw;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      // Backpressure: stop reading until the reader has taken what is queued.
      if (this.#chunks.length > 16) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  /** Protocol and cipher, e.g. `TLSv1.3 TLS_AES_256_GCM_SHA384`. */
  get description(): string {
    return `${this.#socket.getProtocol() ?? "TLS"} ${this.#socket.getCipher()?.name ?? ""}`.trim();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  get localAddr(): Deno.Addr {
    return this.#raw.localAddr;
  }

  get remoteAddr(): Deno.Addr {
    return this.#raw.remoteAddr;
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#closed) throw new Deno.errors.BadResource("Cannot read: the connection is closed");
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#chunks[0];
    const count = Math.min(chunk.length, p.length);
    p.set(chunk.subarray(0, count));
    if (count === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(count);
    if (this.#chunks.length <= 4 && this.#socket.isPaused()) this.#socket.resume();
    return count;
  }

  async write(p: Uint8Array): Promise<number> {
    if (this.#closed) throw new Deno.errors.BadResource("Cannot write: the connection is closed");
    if (this.#error) throw this.#error;
    // node keeps a reference to what it is given until it is flushed: give it its own copy.
    const flushed = this.#socket.write(p.slice());
    if (!flushed) {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => {
          this.#socket.off("drain", onDrain);
          reject(error);
        };
        const onDrain = () => {
          this.#socket.off("error", onError);
          resolve();
        };
        this.#socket.once("drain", onDrain);
        this.#socket.once("error", onError);
      });
    }
    return p.length;
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("Cannot close: already closed");
    this.#closed = true;
    this.#socket.destroy();
    this.#notify();
  }

  ref(): void {
    this.#raw.ref();
  }

  unref(): void {
    this.#raw.unref();
  }

  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= new ReadableStream({
      pull: async (controller) => {
        const buffer = new Uint8Array(64 * 1024);
        const count = await this.read(buffer);
        if (count === null) controller.close();
        else controller.enqueue(buffer.slice(0, count));
      },
    });
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream({
      write: async (chunk) => {
        await this.write(chunk);
      },
      close: () => this.closeWrite(),
    });
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}
