/**
 * A small MySQL 8-like server for the auth flows MariaDB cannot exercise: caching_sha2_password
 * (fast auth from its cache, full auth with the clear password over TLS or RSA-encrypted with the
 * public key it sends on request) and sha256_password. It checks passwords for real (so a test
 * fails when the client computes anything wrong) and records what it saw.
 *
 * @module
 */
import { nodeAcceptTls } from "../../src/net/node_tls.ts";
import { constants, createHash, generateKeyPairSync, privateDecrypt } from "node:crypto";
import { Capability } from "../../src/protocol/constants.ts";
import { framePacket } from "../../src/protocol/writer.ts";
import { parseHandshakeResponse, serializeHandshakeV10 } from "../../src/protocol/handshake.ts";
import { serializeAuthMoreData, serializeAuthSwitchRequest } from "../../src/protocol/auth.ts";
import { serializeErr, serializeOk } from "../../src/protocol/generic.ts";

/** A user of the fake server. */
export interface FakeUser {
  password: string;
  plugin: "caching_sha2_password" | "sha256_password";
}

/** Options of {@link startFakeAuthServer}. */
export interface FakeServerOptions {
  users: Record<string, FakeUser>;
  /** The plugin the greeting offers (a user of another plugin gets an auth switch). */
  greetingPlugin?: string;
  /** Users whose password hash is in the caching_sha2 cache (fast auth succeeds). */
  cached?: string[];
  /** Certificate and key (PEM) to offer TLS with. */
  tls?: { cert: string; key: string };
}

/** What the server saw on one login. */
export interface SeenLogin {
  user: string;
  /** `fast`, `full-tls`, `full-rsa`, `sha256-tls`, `sha256-rsa`, or `denied`. */
  path: string;
  /** Whether the client asked for the public key. */
  askedForKey: boolean;
  tls: boolean;
}

/** A running fake server. */
export interface FakeAuthServer extends AsyncDisposable {
  port: number;
  publicKey: string;
  logins: SeenLogin[];
  close(): Promise<void>;
}

const SERVER_CAPABILITIES = Capability.CLIENT_LONG_PASSWORD | Capability.CLIENT_LONG_FLAG |
  Capability.CLIENT_CONNECT_WITH_DB | Capability.CLIENT_PROTOCOL_41 |
  Capability.CLIENT_TRANSACTIONS | Capability.CLIENT_SECURE_CONNECTION |
  Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.CLIENT_DEPRECATE_EOF | Capability.CLIENT_MULTI_RESULTS;

/**
 * Reads packets from a byte source, one at a time, keeping what it read past the last packet:
 * a client sends its TLS ClientHello right behind the SSLRequest, often in the same read.
 */
class Packets {
  #pending = new Uint8Array(0);
  #read: (buffer: Uint8Array) => Promise<number | null>;
  constructor(read: (buffer: Uint8Array) => Promise<number | null>, initial = new Uint8Array(0)) {
    this.#read = read;
    this.#pending = initial;
  }
  async next(): Promise<{ seq: number; payload: Uint8Array } | null> {
    const buffer = new Uint8Array(65536);
    for (;;) {
      const p = this.#pending;
      if (p.length >= 4) {
        const length = p[0] | (p[1] << 8) | (p[2] << 16);
        if (p.length >= 4 + length) {
          this.#pending = p.slice(4 + length);
          return { seq: p[3], payload: p.slice(4, 4 + length) };
        }
      }
      const n = await this.#read(buffer);
      if (n === null) return null;
      const joined = new Uint8Array(p.length + n);
      joined.set(p);
      joined.set(buffer.subarray(0, n), p.length);
      this.#pending = joined;
    }
  }
  /** Bytes read past the last packet. */
  rest(): Uint8Array {
    const rest = this.#pending;
    this.#pending = new Uint8Array(0);
    return rest;
  }
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const ok = () =>
  serializeOk({
    kind: "ok",
    header: 0,
    affectedRows: 0,
    lastInsertId: 0,
    statusFlags: 2,
    warnings: 0,
  });
const denied = (user: string) =>
  serializeErr({
    kind: "err",
    code: 1045,
    sqlState: "28000",
    message: `Access denied for user '${user}'@'localhost' (using password: YES)`,
  });

/**
 * Starts the fake server on 127.0.0.1 (a free port).
 *
 * @example
 * ```ts ignore
 * await using server = await startFakeAuthServer({ users: { u: { password: "p", plugin: "caching_sha2_password" } } });
 * ```
 */
export function startFakeAuthServer(options: FakeServerOptions): FakeAuthServer {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const cache = new Set(options.cached ?? []);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const logins: SeenLogin[] = [];
  const tasks = new Set<Promise<void>>();
  const serve = async (conn: Deno.Conn) => {
    let read = (b: Uint8Array) => conn.read(b);
    let write = async (bytes: Uint8Array) => {
      for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
    };
    let close = () => conn.close();
    let packets = new Packets(read);
    const nonce = crypto.getRandomValues(new Uint8Array(20)).map((b) => 0x21 + b % 90);
    let capabilities = SERVER_CAPABILITIES;
    if (options.tls) capabilities |= Capability.CLIENT_SSL;
    await write(framePacket(
      serializeHandshakeV10({
        kind: "handshake-v10",
        protocolVersion: 10,
        serverVersion: "8.0.99-fake",
        connectionId: 7,
        authPluginData: nonce,
        capabilities,
        characterSet: 255,
        statusFlags: 2,
        authPluginDataLength: 21,
        mariadbCapabilities: 0,
        authPluginName: options.greetingPlugin ?? "caching_sha2_password",
      }),
      0,
    ));
    let first = await packets.next();
    if (!first) return close();
    let secure = false;
    let request = parseHandshakeResponse(first.payload);
    if (request.kind === "ssl-request") {
      const session = await nodeAcceptTls(conn, {
        cert: options.tls!.cert,
        key: options.tls!.key,
        initial: packets.rest(),
      });
      read = (b: Uint8Array) => session.read(b).catch(() => null);
      write = async (bytes: Uint8Array) => {
        for (let o = 0; o < bytes.length;) o += await session.write(bytes.subarray(o));
      };
      close = () => {
        try {
          session.close();
        } catch {
          // closed
        }
      };
      packets = new Packets(read);
      secure = true;
      first = await packets.next();
      if (!first) return close();
      request = parseHandshakeResponse(first.payload);
    }
    if (request.kind !== "handshake-response-41") return close();
    const user = request.username;
    const account = options.users[user];
    let seq = first.seq + 1;
    const send = async (payload: Uint8Array) => {
      await write(framePacket(payload, seq));
      seq++;
    };
    const receive = async () => {
      const p = await packets.next();
      if (p) seq = p.seq + 1;
      return p?.payload ?? null;
    };
    const seen: SeenLogin = { user, path: "denied", askedForKey: false, tls: secure };
    logins.push(seen);
    if (!account) return await send(denied(user)), close();
    let data = request.authResponse;
    if (request.authPluginName !== account.plugin) {
      await send(serializeAuthSwitchRequest({
        kind: "auth-switch-request",
        pluginName: account.plugin,
        pluginData: new Uint8Array([...nonce, 0]),
      }));
      const answer = await receive();
      if (!answer) return close();
      data = answer;
    }
    const expectedClear = new Uint8Array([...new TextEncoder().encode(account.password), 0]);
    const decrypt = (encrypted: Uint8Array) => {
      try {
        const plain = new Uint8Array(privateDecrypt(
          { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING },
          encrypted,
        ));
        return plain.map((b, i) => b ^ nonce[i % nonce.length]);
      } catch {
        return new Uint8Array(0);
      }
    };
    let good = false;
    if (account.plugin === "caching_sha2_password") {
      const stage1 = sha256(new TextEncoder().encode(account.password));
      const expected = stage1.map((b, i) => b ^ sha256(sha256(stage1), nonce)[i]);
      if (!equal(data, expected)) {
        return await send(denied(user)), close();
      }
      if (cache.has(user)) {
        await send(serializeAuthMoreData({ kind: "auth-more-data", data: new Uint8Array([3]) }));
        seen.path = "fast";
        good = true;
      } else {
        await send(serializeAuthMoreData({ kind: "auth-more-data", data: new Uint8Array([4]) }));
        let answer = await receive();
        if (answer && answer.length === 1 && answer[0] === 2) {
          seen.askedForKey = true;
          await send(serializeAuthMoreData({
            kind: "auth-more-data",
            data: new TextEncoder().encode(publicKey),
          }));
          answer = await receive();
        }
        if (!answer) return close();
        if (secure) {
          good = equal(answer, expectedClear);
          seen.path = "full-tls";
        } else {
          good = equal(decrypt(answer), expectedClear);
          seen.path = "full-rsa";
        }
        if (good) cache.add(user);
      }
    } else {
      let answer: Uint8Array | null = data;
      if (!secure && answer.length === 1 && answer[0] === 1) {
        seen.askedForKey = true;
        await send(serializeAuthMoreData({
          kind: "auth-more-data",
          data: new TextEncoder().encode(publicKey),
        }));
        answer = await receive();
      }
      if (!answer) return close();
      good = secure ? equal(answer, expectedClear) : equal(decrypt(answer), expectedClear);
      seen.path = secure ? "sha256-tls" : "sha256-rsa";
    }
    if (!good) {
      seen.path = "denied";
      return await send(denied(user)), close();
    }
    await send(ok());
    // Commands: COM_QUIT closes, anything else gets an OK.
    for (;;) {
      const command = await packets.next();
      if (!command || command.payload[0] === 0x01) return close();
      seq = command.seq + 1;
      await send(ok());
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      const task = serve(conn).catch(() => {}).finally(() => tasks.delete(task));
      tasks.add(task);
    }
  })();
  const close = async () => {
    try {
      listener.close();
    } catch {
      // closed
    }
    await accepting;
    await Promise.all(tasks);
  };
  return {
    port: (listener.addr as Deno.NetAddr).port,
    publicKey,
    logins,
    close,
    [Symbol.asyncDispose]: close,
  };
}
