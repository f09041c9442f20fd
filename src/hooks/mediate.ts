/**
 * The mediated command phase: instead of two byte pumps, one loop that frames the client's
 * packets, asks the hooks about each, and sends on, rewrites or answers; it follows both
 * conversations with a session decoder each (what the client sent and saw, what the server got
 * and sent), so sequence ids, EOF/OK endings and the client's capabilities stay right. Used only
 * when a script or a decoded-level fault is configured; otherwise the plain pumps relay.
 *
 * @module
 */

import { type ByteStream, isClosedResource, pump, type PumpEnd, writeAll } from "../net/relay.ts";
import type { Logger } from "../log.ts";
import { type Packet, PacketFramer } from "../protocol/framing.ts";
import { type ClientCommand, serializeCommand } from "../protocol/commands.ts";
import { type DecodedPacket, SessionDecoder } from "../session/decoder.ts";
import { answerFor, answerFrames, isAnswer, isRewrite } from "./answers.ts";
import { queryResult } from "./results.ts";
import { PacketStream } from "./packet_stream.ts";
import { commandSql, DroppedByFault, frame, needsClient, ServerGone } from "./exchange.ts";
import { type ConnectionState, hookError, runHook } from "./run.ts";
import type { Answer, Hooks, QueryResult } from "./types.ts";

/** A decision only built-in faults make: send the command on, then cut the response short. */
export interface DropDecision {
  kind: "drop-mid-result";
}

/** Options of {@link mediate}. */
export interface MediateOptions {
  hooks: Hooks;
  connection: ConnectionState;
  logger: Logger;
  /** The greeting as the client got it (framed), to start both decoders. */
  greeting: Uint8Array;
  /** The client's HandshakeResponse (framed) when the handshake phase forwarded it already. */
  login?: Uint8Array;
}

const NO_RESPONSE = new Set<string>(["COM_QUIT", "COM_STMT_CLOSE", "COM_STMT_SEND_LONG_DATA"]);

/**
 * Runs the command phase of one connection through the hooks until either side ends; resolves
 * to how each direction ended (as the pumps would), never rejects.
 */
export async function mediate(
  client: ByteStream,
  upstream: ByteStream,
  options: MediateOptions,
): Promise<PumpEnd[]> {
  const loop = new MediatedConnection(client, upstream, options);
  return await loop.run();
}

class MediatedConnection {
  #client: PacketStream;
  #server: PacketStream;
  #options: MediateOptions;
  /** What the client sent and saw. */
  #clientView = new SessionDecoder();
  /** What the server got and sent. */
  #serverView = new SessionDecoder();
  /** Server packets relayed as they come, until a response that needs the client ends. */
  #relay: Promise<PumpEnd | undefined> | undefined;
  #relaying = false;
  #loginSeen = false;

  constructor(client: ByteStream, upstream: ByteStream, options: MediateOptions) {
    this.#client = new PacketStream(client);
    this.#server = new PacketStream(upstream);
    this.#options = options;
    new PacketFramer().push(options.greeting, (packet) => {
      this.#clientView.server(packet);
      this.#serverView.server(packet);
    });
  }

  async run(): Promise<PumpEnd[]> {
    let end: PumpEnd;
    try {
      end = await this.#forwardedLogin() ?? await this.#clientLoop();
    } catch (error) {
      end = isClosedResource(error) ? { kind: "stopped" } : { kind: "read-error", error };
    }
    const relayEnd = this.#relay ? await this.#relay : undefined;
    if (end.kind === "eof") {
      try {
        await this.#server.conn.closeWrite();
      } catch {
        // the server is gone already
      }
    }
    return relayEnd ? [end, relayEnd] : [end];
  }

  async #clientLoop(): Promise<PumpEnd> {
    for (;;) {
      const packet = await this.#client.next();
      if (!packet) return { kind: "eof" };
      if (this.#relaying) {
        // Auth data, LOCAL INFILE contents: part of an exchange the server leads.
        this.#feed(this.#clientView, "client", packet);
        this.#feed(this.#serverView, "client", packet);
        await this.#toServer(packet.payload, packet.sequenceId);
        continue;
      }
      if (this.#relay) {
        const ended = await this.#relay;
        this.#relay = undefined;
        if (ended) return ended;
      }
      const phase = this.#serverView.phase;
      if (phase === "opaque" || this.#clientView.phase === "opaque") {
        return await this.#handOver(packet);
      }
      if (phase === "closed") return { kind: "eof" };
      if (!this.#loginSeen && (phase === "login" || phase === "auth")) {
        this.#loginSeen = true;
        if (!await this.#login(packet)) return { kind: "stopped" };
        continue;
      }
      if (phase !== "command") return await this.#handOver(packet);
      const quit = await this.#command(packet);
      if (quit) return { kind: "eof" };
    }
  }

  /**
   * The login the handshake phase forwarded already (plaintext): readAuth sees it, and a denial
   * answers the client in place of the server.
   */
  async #forwardedLogin(): Promise<PumpEnd | undefined> {
    const login = this.#options.login;
    if (!login) return undefined;
    let packet: Packet | undefined;
    new PacketFramer().push(login, (p) => packet ??= { ...p, payload: p.payload.slice() });
    if (!packet) return undefined;
    this.#loginSeen = true;
    if (!await this.#login(packet, false)) return { kind: "stopped" };
    return undefined;
  }

  /** The client's HandshakeResponse: readAuth may deny it; else it goes on. */
  async #login(packet: Packet, forward = true): Promise<boolean> {
    const decoded = this.#clientView.client(packet);
    this.#serverView.client(packet);
    const message = decoded.message;
    const { connection } = this.#options;
    if (message.kind === "handshake-response-41" || message.kind === "handshake-response-320") {
      connection.user = message.username;
      connection.database = message.database || undefined;
      const attributes = Object.fromEntries(
        message.kind === "handshake-response-41" ? message.connectAttributes ?? [] : [],
      );
      const denial = await runHook(this.#options, "readAuth", {
        user: message.username,
        database: message.database || undefined,
        plugin: message.kind === "handshake-response-41" ? message.authPluginName : undefined,
        attributes,
      });
      if (isAnswer(denial.value) && denial.value.kind === "error") {
        await this.#toClient(
          answerFrames(denial.value, this.#clientView.context, packet.lastSequenceId + 1),
        );
        this.#options.logger.log(
          "info",
          "login-denied",
          `The script denied the login of '${message.username}': ${denial.value.message}`,
          { connection: connection.id },
        );
        return false;
      }
    }
    if (forward) await this.#toServer(packet.payload, packet.sequenceId);
    this.#startRelay(() => this.#serverView.phase !== "auth" && this.#serverView.phase !== "login");
    return true;
  }

  /** One command; resolves to true when the client quit. */
  async #command(packet: Packet): Promise<boolean> {
    const decoded = this.#clientView.client(packet);
    const command = decoded.message as ClientCommand;
    const { connection, logger } = this.#options;
    const reply = packet.lastSequenceId + 1;
    if (command.kind === "COM_QUIT") {
      this.#serverView.client(packet);
      await this.#toServer(packet.payload, packet.sequenceId).catch(() => {});
      return true;
    }
    const query = (sql: string) => this.#inject(sql);
    const decision = await runHook(this.#options, "readQuery", {
      command,
      sql: commandSql(command),
      query,
    });
    if (decision.failed) {
      await this.#answer(hookError("readQuery", decision.failed), reply);
      return false;
    }
    let value = decision.value as Answer | { kind: string; sql?: string } | undefined;
    if (isAnswer(value)) {
      if (NO_RESPONSE.has(command.kind)) return false;
      await this.#answer(answerFor(value, command), reply);
      return false;
    }
    let sent: ClientCommand = command;
    let payload = packet.payload;
    if (isRewrite(value)) {
      if (command.kind === "COM_QUERY" || command.kind === "COM_STMT_PREPARE") {
        sent = { kind: command.kind, sql: value.sql } as ClientCommand;
        if (command.kind === "COM_QUERY" && command.attributes) {
          (sent as typeof command).attributes = command.attributes;
        }
        payload = serializeCommand(sent, this.#serverView.context);
      } else {
        logger.log(
          "warn",
          "script-failed",
          `The script rewrote ${command.kind}, which has no SQL: sent unchanged`,
          { connection: connection.id },
        );
      }
      value = undefined;
    }
    const drop = value !== undefined && value.kind === "drop-mid-result";
    const sentPacket = { ...packet, payload };
    this.#serverView.client(sentPacket);
    const started = performance.now();
    await this.#toServer(payload, packet.sequenceId);
    if (NO_RESPONSE.has(command.kind)) return false;
    const observe = this.#options.hooks.readQueryResult !== undefined;
    const held: Uint8Array[] = [];
    const decodedPackets: DecodedPacket[] = [];
    let sentSome = false;
    for (;;) {
      const next = await this.#server.next();
      if (!next) throw new ServerGone();
      const copy = observe ? { ...next, payload: next.payload.slice() } : next;
      const response = this.#serverView.server(copy);
      const frames = frame(copy.payload, copy.sequenceId);
      this.#track(command, response);
      if (drop && (sentSome || response.ends === "response")) {
        // Half of what the client waits for, then nothing: "lost connection during query".
        throw new DroppedByFault();
      }
      if (observe) {
        held.push(frames);
        decodedPackets.push(response);
      } else {
        await this.#toClient(frames, true);
        sentSome = true;
      }
      if (needsClient(response)) {
        // LOCAL INFILE, an auth exchange: the client answers the server; relay until the end.
        for (const bytes of held.splice(0)) await this.#toClient(bytes, true);
        this.#startRelay(() => this.#serverView.pending.length === 0);
        return false;
      }
      if (response.ends === "response" || this.#serverView.phase !== "command") break;
    }
    if (!observe) return false;
    const result = queryResult(sent, decodedPackets, performance.now() - started);
    const replaced = await runHook(this.#options, "readQueryResult", {
      ...result,
      command: sent,
      sql: commandSql(sent),
      query,
    });
    if (replaced.failed) {
      await this.#answer(hookError("readQueryResult", replaced.failed), reply);
    } else if (isAnswer(replaced.value)) {
      await this.#answer(answerFor(replaced.value, command), reply);
    } else {
      for (const bytes of held) await this.#toClient(bytes, true);
    }
    return false;
  }

  /** An injected query: sent on the server session, its response kept from the client. */
  async #inject(sql: string): Promise<QueryResult> {
    if (this.#relaying) throw new Error("Cannot inject a query while the server is answering");
    const command: ClientCommand = { kind: "COM_QUERY", sql };
    const payload = serializeCommand(command, this.#serverView.context);
    this.#serverView.client({
      sequenceId: 0,
      lastSequenceId: 0,
      frames: 1,
      length: payload.length,
      payload,
    });
    const started = performance.now();
    await writeAll(this.#server.conn, frame(payload, 0));
    const packets: DecodedPacket[] = [];
    for (;;) {
      const next = await this.#server.next();
      if (!next) throw new ServerGone();
      const response = this.#serverView.server({ ...next, payload: next.payload.slice() });
      packets.push(response);
      if (response.message.kind === "local-infile-request") {
        // No file to give: an empty one.
        await writeAll(this.#server.conn, frame(new Uint8Array(0), next.sequenceId + 1));
      }
      if (response.ends === "response" || this.#serverView.phase !== "command") break;
    }
    return queryResult(command, packets, performance.now() - started);
  }

  async #answer(answer: Answer, seq: number): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = answerFrames(answer, this.#clientView.context, seq);
    } catch (error) {
      bytes = answerFrames(hookError("the answer", error), this.#clientView.context, seq);
    }
    new PacketFramer().push(bytes, (packet) => this.#clientView.server(packet));
    await this.#toClient(bytes);
  }

  /** Relays server packets to the client until `done()` says the server's turn is over. */
  #startRelay(done: () => boolean): void {
    this.#relaying = true;
    this.#relay = (async (): Promise<PumpEnd | undefined> => {
      try {
        for (;;) {
          const packet = await this.#server.next();
          if (!packet) return { kind: "eof" };
          const response = this.#serverView.server(packet);
          this.#clientView.server(packet);
          if (response.message.kind === "ok" && response.stage === undefined) {
            this.#track(undefined, response);
          }
          const finished = done();
          if (finished) this.#relaying = false;
          await writeAll(this.#client.conn, frame(packet.payload, packet.sequenceId));
          if (finished) return undefined;
        }
      } catch (error) {
        this.#relaying = false;
        return isClosedResource(error) ? { kind: "stopped" } : { kind: "read-error", error };
      }
    })();
  }

  /** The rest of the connection goes through plain byte relaying. */
  async #handOver(packet: Packet): Promise<PumpEnd> {
    this.#options.logger.log(
      "warn",
      "script-bypassed",
      "The proxy cannot follow this connection's protocol any more (TLS it does not terminate, " +
        "compression, a packet it cannot place): hooks and decoded faults stop for it, bytes " +
        "are relayed as they are",
      { connection: this.#options.connection.id },
    );
    const first = frame(packet.payload, packet.sequenceId);
    const clientRest = this.#client.remainder();
    const initial = new Uint8Array(first.length + clientRest.length);
    initial.set(first);
    initial.set(clientRest, first.length);
    const toClient = pump(this.#server.conn, this.#client.conn, {
      initial: this.#server.remainder(),
    });
    const toServer = await pump(this.#client.conn, this.#server.conn, { initial });
    await toClient;
    return toServer;
  }

  #track(command: ClientCommand | undefined, response: DecodedPacket): void {
    const connection = this.#options.connection;
    const message = response.message;
    if (message.kind !== "ok") return;
    if (command?.kind === "COM_INIT_DB") connection.database = command.schema;
    for (const change of message.sessionStateChanges ?? []) {
      if (change.kind === "schema") connection.database = change.schema;
    }
  }

  #feed(decoder: SessionDecoder, direction: "client" | "server", packet: Packet): void {
    if (direction === "client") decoder.client(packet);
    else decoder.server(packet);
  }

  async #toServer(payload: Uint8Array, seq: number): Promise<void> {
    await writeAll(this.#server.conn, frame(payload, seq));
  }

  /** Writes to the client; `follow` feeds the bytes to the client's view first. */
  async #toClient(bytes: Uint8Array, follow = false): Promise<void> {
    if (follow) {
      new PacketFramer().push(bytes, (packet) => this.#clientView.server(packet));
    }
    await writeAll(this.#client.conn, bytes);
  }
}
