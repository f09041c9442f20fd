/**
 * The recording's central promise, as a reusable check: the server packets of every recorded
 * command, rendered back from the recording's JSON, are byte for byte what the server sent.
 *
 * A {@link responseTap} watches connections independently of the recorder (its own framer and
 * decoder) and keeps each command's raw server payloads; {@link checkRendering} loads the
 * recording's lines and compares. Used on the capture corpus (tests/record/exactness_test.ts)
 * and on live sessions recorded through `record()` (tests/e2e/record_*_test.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import { PacketFramer } from "../../src/protocol/framing.ts";
import { SessionDecoder } from "../../src/session/decoder.ts";
import type { ConnectionInfo, ConnectionTap } from "../../src/session/tap.ts";
import type { Exchange } from "../../src/session/exchange.ts";
import { jsonToColumn } from "../../src/record/columns.ts";
import type { ColumnJson, CommandEvent, RecordingEvent } from "../../src/record/events.ts";
import { CommandMerger, type RecordedCommand } from "../../src/record/merge.ts";
import { jsonToMessage } from "../../src/record/values.ts";
import { renderResponse } from "../../src/replay/render.ts";
import { negotiatedContext } from "../../src/protocol/handshake.ts";
import type { HandshakeResponse, HandshakeV10 } from "../../src/protocol/handshake.ts";
import type { CodecContext } from "../../src/protocol/context.ts";
import type { ColumnDefinition41 } from "../../src/protocol/resultset.ts";
import { createHash } from "node:crypto";
import { toHex } from "./hex.ts";

/**
 * A payload for comparison: hex (readable in a diff) up to 4 KiB, else its length and SHA-256.
 *
 * @example
 * ```ts
 * import { payloadKey } from "./exactness.ts";
 * console.assert(payloadKey(new Uint8Array([1, 255])) === "01ff");
 * ```
 */
export function payloadKey(payload: Uint8Array): string {
  if (payload.length <= 4096) return toHex(payload);
  return `${payload.length} bytes, sha256 ${createHash("sha256").update(payload).digest("hex")}`;
}

/** Per connection: the server payloads ({@link payloadKey}) of each command with a response. */
export type Responses = Map<number, string[][]>;

/**
 * A tap factory that keeps every command's raw server payloads in `responses`, decoding on its
 * own (so it shares nothing with the recorder it checks).
 *
 * @example
 * ```ts ignore
 * const responses: Responses = new Map();
 * await using recording = await record({ ..., tap: responseTap(responses) });
 * ```
 */
export function responseTap(responses: Responses): (info: ConnectionInfo) => ConnectionTap {
  return (info) => {
    const decoder = new SessionDecoder();
    const client = new PacketFramer();
    const server = new PacketFramer();
    const done: string[][] = [];
    responses.set(info.id, done);
    const payloads = new Map<Exchange, string[]>();
    return {
      client(chunk) {
        if (decoder.framed) client.push(chunk, (packet) => decoder.track("client", packet));
      },
      server(chunk) {
        if (!decoder.framed) return;
        server.push(chunk, (packet) => {
          const decoded = decoder.server(packet);
          if (!decoded.exchange) return;
          let list = payloads.get(decoded.exchange);
          if (!list) {
            list = [];
            payloads.set(decoded.exchange, list);
          }
          list.push(payloadKey(packet.payload));
          if (decoded.ends === "response") {
            done.push(list);
            payloads.delete(decoded.exchange);
          }
        });
      },
      get commands() {
        return decoder.commands;
      },
    };
  };
}

interface Loaded {
  commands: Map<number, RecordedCommand[]>;
  contexts: Map<number, CodecContext>;
  columnSets: Map<number, ColumnJson[]>;
}

/** Reads recording lines (the header may be among them) the way a replayer would. */
function load(lines: Iterable<string>): Loaded {
  const merger = new CommandMerger();
  const commands = new Map<number, RecordedCommand[]>();
  const contexts = new Map<number, CodecContext>();
  const greetings = new Map<number, HandshakeV10>();
  const columnSets = new Map<number, ColumnJson[]>();
  const add = (command: RecordedCommand | undefined) => {
    if (!command) return;
    const list = commands.get(command.event.conn) ?? [];
    commands.set(command.event.conn, list);
    list.push(command);
  };
  for (const line of lines) {
    if (line.trim() === "") continue;
    const event = JSON.parse(line) as RecordingEvent | { type: "header" };
    // Writers leave `type` out of command lines.
    if (event.type === undefined && "cmd" in event) (event as { type: string }).type = "command";
    switch (event.type) {
      case "columns":
        columnSets.set(event.id, event.columns);
        break;
      case "greeting":
        greetings.set(event.conn, jsonToMessage(event.packet) as HandshakeV10);
        break;
      case "auth":
        if (event.from === "client" && String(event.packet.kind).startsWith("handshake-response")) {
          const greeting = greetings.get(event.conn);
          const response = jsonToMessage(event.packet) as HandshakeResponse;
          if (greeting) contexts.set(event.conn, negotiatedContext(greeting, response));
        }
        break;
      case "command":
        add(merger.command(event as CommandEvent));
        break;
      case "rows":
        merger.rows(event);
        break;
      case "results":
        merger.results(event);
        break;
      case "end":
        add(merger.end(event));
        break;
    }
  }
  assert.equal(merger.open, 0, "every split command was completed");
  return { commands, contexts, columnSets };
}

/**
 * Renders every recorded command with a response and compares it with `responses`, connection by
 * connection, command by command. Throws an assertion error naming the first command that
 * differs. Returns how many commands and packets matched.
 *
 * @example
 * ```ts ignore
 * const { commands } = checkRendering(lines, responses);
 * assert.ok(commands > 0);
 * ```
 */
export function checkRendering(
  lines: Iterable<string>,
  responses: Responses,
): { commands: number; packets: number } {
  const loaded = load(lines);
  let commands = 0;
  let packets = 0;
  for (const [conn, expected] of responses) {
    const context = loaded.contexts.get(conn);
    if (!context) continue; // never logged in (an SSL request, a refused login)
    const recorded = (loaded.commands.get(conn) ?? []).filter((c) => c.us !== undefined);
    assert.equal(
      recorded.length,
      expected.length,
      `connection ${conn}: commands with a response: recorded ${
        recorded.map((c) => c.event.cmd).join(" ")
      }, server answered ${expected.length}`,
    );
    const extended = (context.mariadbCapabilities & 0x08) !== 0;
    const columnSet = (id: number): ColumnDefinition41[] => {
      const set = loaded.columnSets.get(id);
      assert.ok(set, `column set ${id} is defined before use`);
      return set.map((c, k) => jsonToColumn(c, extended, `column ${k} of set ${id}`));
    };
    // A statement's columns, by its SQL, as a replayer keeps them: from its prepare, then from
    // each execute that sent them (MariaDB's metadata cache skips them otherwise).
    const statementColumns = new Map<string, ColumnDefinition41[]>();
    for (const [i, command] of recorded.entries()) {
      const sql = typeof command.event.sql === "string" ? command.event.sql : "";
      const rendered: string[] = renderResponse(command, {
        context,
        columnSet,
        statementColumns: statementColumns.get(sql),
      }).map(payloadKey);
      for (const element of command.elements) {
        if ("prepared" in element && element.prepared.columns !== undefined) {
          statementColumns.set(sql, columnSet(element.prepared.columns));
        } else if ("rows" in element && element.columns !== undefined) {
          statementColumns.set(sql, columnSet(element.columns));
        }
      }
      assert.deepEqual(
        rendered,
        expected[i],
        `connection ${conn} command ${i + 1} (${command.event.cmd} ${sql.slice(0, 60)})`,
      );
      commands++;
      packets += rendered.length;
    }
  }
  return { commands, packets };
}
