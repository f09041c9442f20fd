/**
 * `--script` with no server: the script is the server. The greeting and the login are replay's
 * (any user, any password, any auth plugin), and every command goes to `readQuery`, whose
 * answer is the response.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { PumpEnd } from "../net/relay.ts";
import type { ByteStream } from "../net/relay.ts";
import { parseCommand } from "../protocol/commands.ts";
import { parseHandshakeResponse, serializeHandshakeV10 } from "../protocol/handshake.ts";
import { PacketFramer } from "../protocol/framing.ts";
import { PacketIO, type Transport } from "../replay/io.ts";
import { buildGreeting, generatePublicKey, serveLogin } from "../replay/handshake.ts";
import { answerFor, answerFrames, errorAnswer, isAnswer, okAnswer } from "./answers.ts";
import { commandSql } from "./exchange.ts";
import { type ConnectionState, hookError, runHook } from "./run.ts";
import type { Answer, ErrorAnswer, Hooks } from "./types.ts";
import type { HandshakeV10 } from "../protocol/handshake.ts";

/** Options of {@link serveScript}. */
export interface ServeOptions {
  hooks: Hooks;
  connection: ConnectionState;
  logger: Logger;
}

let publicKey: string | undefined;

/**
 * Serves one client with the script as its server; resolves when the client leaves or is
 * refused, never rejects for the client's or the script's errors.
 */
export async function serveScript(client: ByteStream, options: ServeOptions): Promise<PumpEnd[]> {
  const { connection } = options;
  let greeting = buildGreeting(undefined, connection.id);
  const changed = await runHook(options, "readHandshake", greeting);
  if (isGreeting(changed.value)) greeting = changed.value;
  const io = new LoginGate(client as Transport, options);
  const login = await serveLogin(io, {
    greeting,
    host: connection.client.replace(/:\d+$/, ""),
    switchFor: () => undefined,
    publicKey: () => publicKey ??= generatePublicKey(),
  });
  if (!login || io.denied) return [{ kind: "eof" }];
  connection.user = login.user;
  connection.database = login.database;
  const context = login.context;
  const query = () => Promise.reject(new Error("Cannot inject a query: the script is the server"));
  for (;;) {
    const packet = await io.next();
    if (!packet) return [{ kind: "eof" }];
    const reply = packet.lastSequenceId + 1;
    const command = parseCommand(packet.payload.slice(), context);
    if (command.kind === "COM_QUIT") return [{ kind: "eof" }];
    const decision = await runHook(options, "readQuery", {
      command,
      sql: commandSql(command),
      query,
    });
    let answer: Answer;
    if (decision.failed) answer = hookError("readQuery", decision.failed);
    else if (isAnswer(decision.value)) answer = decision.value;
    else if (command.kind === "COM_PING") answer = okAnswer();
    else if (command.kind === "COM_STMT_CLOSE" || command.kind === "COM_STMT_SEND_LONG_DATA") {
      continue;
    } else {
      answer = errorAnswer(
        1105,
        `The proxy has no server and the script did not answer ${command.kind}`,
      );
    }
    if (answer.kind === "ok" && command.kind === "COM_INIT_DB") {
      connection.database = command.schema;
    }
    let bytes: Uint8Array;
    try {
      bytes = answerFrames(answerFor(answer, command), context, reply);
    } catch (error) {
      bytes = answerFrames(hookError("the answer", error), context, reply);
    }
    await io.write(bytes);
  }
}

/**
 * The login's packets, with `readAuth` between the client's HandshakeResponse and the server's
 * final OK: a denial replaces that OK with the script's ERR.
 */
class LoginGate extends PacketIO {
  #options: ServeOptions;
  #response: Uint8Array | undefined;
  #checked = false;
  denied = false;

  constructor(transport: Transport, options: ServeOptions) {
    super(transport);
    this.#options = options;
  }

  override async next() {
    const packet = await super.next();
    if (packet && !this.#checked && this.#response === undefined) {
      this.#response = packet.payload.slice();
    }
    return packet;
  }

  override async write(bytes: Uint8Array): Promise<void> {
    if (!this.#checked && this.#response !== undefined && isFinalOk(bytes)) {
      this.#checked = true;
      const denial = await this.#readAuth(this.#response);
      if (denial) {
        this.denied = true;
        return await super.write(
          answerFrames(denial, { capabilities: 0, mariadbCapabilities: 0 }, bytes[3]),
        );
      }
    }
    await super.write(bytes);
  }

  async #readAuth(payload: Uint8Array): Promise<ErrorAnswer | undefined> {
    let response;
    try {
      response = parseHandshakeResponse(payload);
    } catch {
      return undefined;
    }
    if (response.kind === "ssl-request") return undefined;
    const outcome = await runHook(this.#options, "readAuth", {
      user: response.username,
      database: response.database || undefined,
      plugin: response.kind === "handshake-response-41" ? response.authPluginName : undefined,
      attributes: Object.fromEntries(
        response.kind === "handshake-response-41" ? response.connectAttributes ?? [] : [],
      ),
    });
    const value = outcome.value;
    return isAnswer(value) && value.kind === "error" ? value : undefined;
  }
}

function isFinalOk(bytes: Uint8Array): boolean {
  let ok = false;
  new PacketFramer().push(bytes, (packet) => ok = packet.payload[0] === 0x00);
  return ok;
}

/** Whether a hook returned a greeting the codec can send. */
export function isGreeting(value: unknown): value is HandshakeV10 {
  if (typeof value !== "object" || value === null) return false;
  if ((value as { kind?: unknown }).kind !== "handshake-v10") return false;
  try {
    serializeHandshakeV10(value as HandshakeV10);
    return true;
  } catch {
    return false;
  }
}
