/**
 * What hooks and faults do to one connection, decided when it opens: refuse it, serve it without
 * a server, wrap the client's socket (byte-level faults, the greeting hook), run the command
 * phase through the mediated loop. `src/net/connection.ts` asks for a plan only when a script or
 * a fault set is configured, and with no fault drawn and no script the plan is empty: the
 * connection is relayed by the plain pumps, as without this module.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { ByteStream, PumpEnd } from "../net/relay.ts";
import type { ConnectionInfo, ConnectionTap } from "../session/tap.ts";
import { Capability } from "../protocol/constants.ts";
import { PacketFramer } from "../protocol/framing.ts";
import { isSslRequest, parseHandshakeV10, serializeHandshakeV10 } from "../protocol/handshake.ts";
import { PacketWriter } from "../protocol/writer.ts";
import type { FaultSet } from "../faults/set.ts";
import { answerFrames, isAnswer } from "./answers.ts";
import { mediate } from "./mediate.ts";
import { type ConnectionState, connectionState, runHook } from "./run.ts";
import { isGreeting, serveScript } from "./serve.ts";
import type { Hooks } from "./types.ts";

/** Counters and tap of the connection, for the mediated loop. */
export interface RelayIo {
  tap: Required<ConnectionTap>;
  onClientBytes(count: number): void;
  onServerBytes(count: number): void;
}

/** What happens to one connection (every member optional: absent means as usual). */
export interface ConnectionPlan {
  /** Framed bytes to answer with instead of dialing the server (ERR 1040, a script's refusal). */
  refusal?: Uint8Array;
  /** No server: the script serves the client. */
  serve?(client: ByteStream, io: RelayIo): Promise<PumpEnd[]>;
  /** Wraps the client's socket before the handshake (byte faults, the greeting hook). */
  wrapClient?(conn: Deno.Conn): Deno.Conn;
  /** Capabilities to clear in the greeting besides the proxy's own. */
  unsupported?: number;
  /** The command phase through hooks, in place of the pumps. */
  relay?(client: ByteStream, server: ByteStream, io: RelayIo): Promise<PumpEnd[]>;
  /** The connection ended. */
  closed?(reason: string): void;
}

/** Creates the plan of each new connection. */
export type Planner = (info: ConnectionInfo) => Promise<ConnectionPlan>;

/** Options of {@link createPlanner}. */
export interface PlannerOptions {
  hooks?: Hooks;
  faults?: FaultSet;
  /** No server: the hooks answer everything. */
  serverless?: boolean;
  logger: Logger;
}

/**
 * The planner of a proxy with a script and/or faults.
 *
 * @example
 * ```ts ignore
 * const plan = await createPlanner({ hooks, faults, logger })(info);
 * ```
 */
export function createPlanner(options: PlannerOptions): Planner {
  const { logger, faults, serverless } = options;
  return async (info) => {
    const drawn = faults && faults.size > 0 ? faults.forConnection() : undefined;
    const hooks = combine(drawn?.hooks, options.hooks);
    const connection = connectionState(info, serverless ? undefined : info.server);
    const context = { hooks: hooks ?? {}, connection, logger };
    const plan: ConnectionPlan = {};
    if (drawn?.refuse) {
      plan.refusal = answerFrames(
        { kind: "error", code: 1040, sqlState: "08004", message: "Too many connections" },
        { capabilities: Capability.CLIENT_PROTOCOL_41, mariadbCapabilities: 0 },
        0,
      );
      return plan;
    }
    if (hooks) {
      plan.closed = (reason) => {
        const hook = hooks.disconnectClient;
        if (!hook) return;
        Promise.resolve().then(() => hook.call(hooks, connection, reason)).catch((error) =>
          logger.log("warn", "script-failed", `Script hook disconnectClient failed: ${error}`, {
            connection: info.id,
          })
        );
      };
      const opened = await runHook(context, "connectServer", connection);
      if (isAnswer(opened.value) && opened.value.kind === "error") {
        plan.refusal = answerFrames(
          opened.value,
          { capabilities: Capability.CLIENT_PROTOCOL_41, mariadbCapabilities: 0 },
          0,
        );
        return plan;
      }
    }
    const wrap = drawn?.wrap;
    if (serverless) {
      plan.serve = (client, io) =>
        serveScript(tapped(wrap ? wrap(client) : client, io), { ...context, connection });
      return plan;
    }
    if (!hooks) {
      if (wrap) plan.wrapClient = (conn) => wrap(conn) as unknown as Deno.Conn;
      return plan;
    }
    const capture = new HandshakeCapture(context);
    plan.unsupported = Capability.CLIENT_COMPRESS;
    plan.wrapClient = (conn) =>
      capture.wrap(wrap ? wrap(conn) : conn, conn) as unknown as Deno.Conn;
    plan.relay = (client, server, io) =>
      mediate(tapped(client, io), server, {
        hooks,
        connection,
        logger,
        greeting: capture.greeting,
        login: capture.login,
      });
    return plan;
  };
}

/** Faults' built-in hooks first (an injected error wins), then the script's. */
function combine(faults: Hooks | undefined, script: Hooks | undefined): Hooks | undefined {
  if (!faults) return script;
  if (!script) return faults;
  return {
    ...script,
    async readQuery(event, connection) {
      return (await faults.readQuery!(event, connection)) ??
        await script.readQuery?.(event, connection);
    },
  };
}

/** The client side of the command phase as the tap and the counters see it. */
function tapped(stream: ByteStream, io: RelayIo): ByteStream {
  return {
    async read(buffer) {
      const count = await stream.read(buffer);
      if (count !== null) {
        io.tap.client(buffer.subarray(0, count));
        io.onClientBytes(count);
      }
      return count;
    },
    async write(bytes) {
      const count = await stream.write(bytes);
      io.tap.server(bytes.subarray(0, count));
      io.onServerBytes(count);
      return count;
    },
    closeWrite: () => stream.closeWrite(),
    close: () => stream.close(),
  };
}

/**
 * Sees the handshake go by on the client's socket: the greeting written (rewritten by
 * `readHandshake` on the way) and the client's first packet read (its HandshakeResponse, unless
 * it is an SSLRequest), which start the mediated loop's decoders.
 */
class HandshakeCapture {
  #context: { hooks: Hooks; connection: ConnectionState; logger: Logger };
  greeting: Uint8Array = new Uint8Array(0);
  login: Uint8Array | undefined;
  #wrote = false;
  #read: Uint8Array | undefined = new Uint8Array(0);

  constructor(context: { hooks: Hooks; connection: ConnectionState; logger: Logger }) {
    this.#context = context;
  }

  wrap(stream: ByteStream, conn: Deno.Conn): ByteStream {
    // deno-lint-ignore no-this-alias
    const capture = this;
    return {
      get localAddr() {
        return conn.localAddr;
      },
      get remoteAddr() {
        return conn.remoteAddr;
      },
      async read(buffer: Uint8Array) {
        const count = await stream.read(buffer);
        if (count !== null && capture.#read) capture.#sawClient(buffer.subarray(0, count));
        return count;
      },
      async write(bytes: Uint8Array) {
        if (capture.#wrote) return await stream.write(bytes);
        capture.#wrote = true;
        const greeting = await capture.#rewrite(bytes);
        let written = 0;
        while (written < greeting.length) written += await stream.write(greeting.subarray(written));
        return bytes.length;
      },
      closeWrite: () => stream.closeWrite(),
      close: () => stream.close(),
    } as ByteStream;
  }

  async #rewrite(bytes: Uint8Array): Promise<Uint8Array> {
    this.greeting = bytes.slice();
    if (!this.#context.hooks.readHandshake || bytes[4] !== 10) return this.greeting;
    let payload: Uint8Array | undefined;
    let seq = 0;
    new PacketFramer().push(bytes, (packet) => {
      payload ??= packet.payload;
      seq = packet.sequenceId;
    });
    if (!payload) return this.greeting;
    let greeting;
    try {
      greeting = parseHandshakeV10(payload);
    } catch {
      return this.greeting;
    }
    const changed = await runHook(this.#context, "readHandshake", greeting);
    if (!isGreeting(changed.value)) return this.greeting;
    this.greeting = new PacketWriter(128).packet(serializeHandshakeV10(changed.value), seq)
      .finish();
    return this.greeting;
  }

  #sawClient(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.#read!.length + chunk.length);
    joined.set(this.#read!);
    joined.set(chunk, this.#read!.length);
    let done = false;
    new PacketFramer().push(joined, (packet) => {
      if (done) return;
      done = true;
      if (!isSslRequest(packet.payload)) this.login = joined.subarray(0, 4 + packet.payload.length);
    });
    this.#read = done || joined.length > 1 << 20 ? undefined : joined;
  }
}
