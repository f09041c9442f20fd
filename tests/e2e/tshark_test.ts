/**
 * Wireshark's MySQL dissector as an independent decoder: capture a real session on loopback while
 * it goes through the proxy, dissect the capture with `tshark`, and compare what tshark decoded
 * with what our tap decoded, field by field, packet by packet.
 *
 * Only fields both decoders claim to decode are compared; fields we decode and tshark does not
 * show are listed in the test output. tshark 4.0's own limits, worked around here: it shows a
 * string only up to its first NUL (a POINT value displays as ""), so row values are compared as
 * bytes; it leaves out an OK packet's last insert id when that is 0; it splits binary dates and
 * times into parts, which are not compared.
 *
 * Capture: `dumpcap` (tshark's capture engine) writing to a pipe, with sentinel connections to
 * know when the capture has everything.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { createSessionTap, type DecodedPacket, startProxy } from "../../mod.ts";
import { Command } from "../../src/protocol/constants.ts";
import { concat } from "../helpers/hex.ts";
import { liveTest, type MariaDB, unavailableTest } from "../helpers/mariadb.ts";
import { findBinary } from "../helpers/mariadb_server.ts";

const DATABASE = "e2e_tshark";
const NAME = "tshark's MySQL dissector decodes a mysql2 and a mariadb CLI session through the " +
  "proxy as the tap does";

/** One decoded MySQL packet: its fields in order, as tshark's field names and display strings. */
type Fields = [name: string, value: string][];

/** A running capture on loopback. */
interface Capture {
  /**
   * Resolves true once a captured packet contains `bytes` (for example a TCP port pair), false
   * if none has after `timeoutMs`.
   */
  seen(bytes: Uint8Array, timeoutMs: number): Promise<boolean>;
  /** Stops capturing and returns the capture (pcapng). */
  stop(): Promise<Uint8Array>;
}

/**
 * Starts `dumpcap -i lo -f FILTER -w -`. dumpcap flushes each packet when it writes to a pipe,
 * so what this process has read is what has been captured. (tshark itself, asked to stop while
 * no packet arrives, sometimes waits for one forever; dumpcap stops at once.)
 */
async function startCapture(dumpcap: string, filter: string): Promise<Capture> {
  const child = new Deno.Command(dumpcap, {
    args: ["-i", "lo", "-f", filter, "-w", "-", "-q"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const chunks: Uint8Array[] = [];
  const listeners: (() => void)[] = [];
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  const drained = Promise.all([
    (async () => {
      for await (const chunk of child.stdout) {
        chunks.push(chunk);
        notify();
      }
    })(),
    (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        stderr += text;
        notify();
      }
    })(),
  ]);
  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    notify();
    return status;
  });
  /** Resolves true once `done()`, false after `timeoutMs`; rejects if dumpcap exits first. */
  const until = (done: () => boolean, what: string, timeoutMs: number) =>
    new Promise<boolean>((resolve, reject) => {
      const finish = (outcome: boolean | Error) => {
        clearTimeout(timer);
        listeners.splice(listeners.indexOf(check), 1);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const check = () => {
        if (done()) finish(true);
        else if (exited) finish(new Error(`dumpcap exited before ${what}: ${stderr.trim()}`));
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      listeners.push(check);
      check();
    });
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    // dumpcap has been seen to ignore SIGTERM while no packet arrives: never wait forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (!exited) {
          try {
            child.kill("SIGKILL");
          } catch {
            // exited meanwhile
          }
        }
        resolve();
      }, 2_000);
    });
    await Promise.race([status, killed]);
    await Promise.all([status, drained]);
    clearTimeout(timer);
    return concat(chunks);
  };
  try {
    if (!await until(() => stderr.includes("Capturing on"), "capturing", 30_000)) {
      throw new Error("dumpcap did not start capturing within 30 s");
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    seen: (bytes, timeoutMs) =>
      until(() => indexOf(concat(chunks), bytes) >= 0, "the packet", timeoutMs),
    stop,
  };
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  for (let i = haystack.indexOf(needle[0]); i >= 0; i = haystack.indexOf(needle[0], i + 1)) {
    if (needle.every((byte, j) => haystack[i + j] === byte)) return i;
  }
  return -1;
}

/** Two 16-bit ports in network order, as they follow each other in a TCP header. */
function portPair(source: number, destination: number): Uint8Array {
  return new Uint8Array([source >> 8, source & 0xff, destination >> 8, destination & 0xff]);
}

/**
 * Whether this machine can capture on loopback and dissect, decided once when the module loads:
 * tshark or dumpcap missing, or no capture permission, makes the test an `ignore` with the reason
 * (a failure with CI=true: `.ci/run` installs tshark).
 */
const CAPTURE: { tshark?: string; dumpcap?: string; reason: string } = await (async () => {
  const tshark = findBinary("tshark");
  const dumpcap = findBinary("dumpcap");
  if (!tshark || !dumpcap) return { reason: `${tshark ? "dumpcap" : "tshark"} not found on PATH` };
  try {
    await (await startCapture(dumpcap, "tcp port 9")).stop();
    return { tshark, dumpcap, reason: "" };
  } catch (error) {
    return { reason: `cannot capture on lo: ${(error as Error).message.split("\n")[0]}` };
  }
})();

// ---------------------------------------------------------------------------------------------
// tshark's side: PDML, where each MySQL PDU is its own <proto name="mysql"> element.

/** A MySQL PDU as tshark dissected it. */
interface TsharkPdu {
  /** The client's TCP port: which connection. */
  clientPort: number;
  direction: "client" | "server";
  fields: Fields;
}

const XML_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (entity, name: string) => {
    if (name.startsWith("#x")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(Number(name.slice(1)));
    return XML_ENTITIES[name] ?? entity;
  });
}

/** Reads tshark's PDML: one entry per MySQL PDU, in capture order. */
function parsePdml(pdml: string, proxyPort: number): TsharkPdu[] {
  const pdus: TsharkPdu[] = [];
  let ports: { src: number; dst: number } = { src: 0, dst: 0 };
  let current: TsharkPdu | undefined;
  for (const line of pdml.split("\n")) {
    if (line.startsWith("<packet>")) {
      ports = { src: 0, dst: 0 };
      continue;
    }
    const proto = line.match(/^\s*<proto name="([^"]+)"/);
    if (proto) {
      if (proto[1] === "mysql") {
        const server = ports.src === proxyPort;
        current = {
          clientPort: server ? ports.dst : ports.src,
          direction: server ? "server" : "client",
          fields: [],
        };
        pdus.push(current);
      }
      continue;
    }
    if (/^\s*<\/proto>/.test(line)) {
      current = undefined;
      continue;
    }
    const field = line.match(/^\s*<field name="([^"]*)"[^>]*? show="([^"]*)"(?: value="([^"]*)")?/);
    if (!field) continue;
    const [, name, shown, value] = field;
    // Row values as bytes (tshark's display string stops at a NUL); a NULL has no bytes.
    const show = name !== "mysql.row.text"
      ? shown
      : value !== undefined
      ? `hex:${value}`
      : shown === "NULL"
      ? "NULL"
      : "hex:";
    if (name === "tcp.srcport") ports.src = Number(show);
    if (name === "tcp.dstport") ports.dst = Number(show);
    if (current && name !== "") current.fields.push([name, unescapeXml(show)]);
  }
  return pdus;
}

// ---------------------------------------------------------------------------------------------
// Our side: each decoded packet projected onto tshark's field names.

const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, "0")}`;
const utf8 = new TextDecoder();

/** Text of a value as tshark shows it. */
function show(value: unknown): string {
  if (value instanceof Uint8Array) return utf8.decode(value);
  return String(value);
}

/** tshark's field for a binary protocol value: named after the type and its signedness. */
function binaryField(type: number, unsigned: boolean): string | undefined {
  const sign = unsigned ? "unsigned_" : "";
  switch (type) {
    case 0x01: // TINY
      return `mysql.exec.field.${sign}tiny`;
    case 0x02: // SHORT
    case 0x0d: // YEAR
      return `mysql.exec.field.${sign}short`;
    case 0x03: // LONG
    case 0x09: // INT24
      return `mysql.exec.field.${sign}long`;
    case 0x08: // LONGLONG
      return `mysql.exec.field.${sign}longlong`;
    case 0x04:
      return "mysql.exec.field.float";
    case 0x05:
      return "mysql.exec.field.double";
    case 0x0f: // VARCHAR
    case 0xf6: // NEWDECIMAL
    case 0xfc: // BLOB
    case 0xfd: // VAR_STRING
    case 0xfe: // STRING
      return "mysql.exec.field.string";
    default:
      return undefined; // dates and times: tshark splits them into parts
  }
}

const UNSIGNED_FLAG = 0x20;

/**
 * The fields tshark would show for one of our decoded packets, in tshark's names; `columns` are
 * the column types of the result set a binary row belongs to.
 */
function project(packet: DecodedPacket): Fields {
  const out: Fields = [
    ["mysql.packet_length", String(packet.length)],
    ["mysql.packet_number", String(packet.sequenceId)],
  ];
  const add = (name: string, value: unknown) => {
    if (value !== undefined) out.push([name, show(value)]);
  };
  const m = packet.message;
  switch (m.kind) {
    case "handshake-v10":
      add("mysql.protocol", m.protocolVersion);
      add("mysql.version", m.serverVersion);
      add("mysql.thread_id", m.connectionId);
      add("mysql.caps.server", hex(m.capabilities & 0xffff, 4));
      add("mariadb.server_language", m.characterSet);
      add("mysql.server_status", hex(m.statusFlags, 4));
      add("mysql.extcaps.server", hex(m.capabilities >>> 16, 4));
      add("mariadb.extcaps.server", hex(m.mariadbCapabilities, 8));
      add("mysql.auth_plugin", m.authPluginName);
      break;
    case "handshake-response-41":
      add("mysql.caps.client", hex(m.capabilities & 0xffff, 4));
      add("mysql.extcaps.client", hex(m.capabilities >>> 16, 4));
      add("mysql.max_packet", m.maxPacketSize);
      add("mariadb.charset", m.characterSet);
      add("mariadb.extcaps.client", hex(m.mariadbCapabilities, 8));
      add("mysql.user", m.username);
      add("mysql.schema", m.database);
      add("mysql.client_auth_plugin", m.authPluginName);
      for (const [key, value] of m.connectAttributes ?? []) {
        add("mysql.connattrs.name", key);
        add("mysql.connattrs.value", value);
      }
      break;
    case "ok":
      add("mysql.affected_rows", m.affectedRows);
      // tshark 4.0 shows the last insert id only when it is not 0.
      if (m.lastInsertId !== 0) add("mysql.insert_id", m.lastInsertId);
      add("mysql.server_status", m.statusFlags === undefined ? undefined : hex(m.statusFlags, 4));
      add("mysql.warnings", m.warnings);
      if (m.info) add("mysql.message", m.info);
      for (const change of m.sessionStateChanges ?? []) {
        if (change.kind === "schema") add("mysql.session_track.schema", change.schema);
        if (change.kind === "system-variable") {
          add("mysql.session_track.sysvar.name", change.name);
          add("mysql.session_track.sysvar.value", change.value);
        }
      }
      break;
    case "err":
      add("mysql.error_code", m.code);
      add("mysql.sqlstate", m.sqlState);
      add("mysql.error.message", m.message);
      break;
    case "eof":
      add("mysql.warnings", m.warnings);
      add("mysql.server_status", m.statusFlags === undefined ? undefined : hex(m.statusFlags, 4));
      break;
    case "column-count":
      add("mysql.num_fields", m.count);
      add("mysql.metadata_follows", m.metadataFollows);
      break;
    case "column-definition":
      add("mysql.field.catalog", m.catalog);
      add("mysql.field.db", m.schema);
      add("mysql.field.table", m.table);
      add("mysql.field.org_table", m.orgTable);
      add("mysql.field.name", m.name);
      add("mysql.field.org_name", m.orgName);
      add("mysql.field.charsetnr", m.characterSet);
      add("mysql.field.length", m.columnLength);
      add("mysql.field.type", m.type);
      add("mysql.field.flags", hex(m.flags, 4));
      add("mysql.field.decimals", m.decimals);
      add("mysql.extmeta.type", m.extendedMetadata?.dataTypeName);
      add("mysql.extmeta.format", m.extendedMetadata?.formatName);
      break;
    case "text-row":
      // As bytes: tshark's display string stops at a NUL (a POINT value has several).
      for (const value of m.values) {
        add("mysql.row.text", value === null ? "NULL" : `hex:${value.toHex()}`);
      }
      break;
    case "binary-row": {
      // The result set's columns, cached from COM_STMT_PREPARE_OK when MariaDB sent none.
      const columns = packet.exchange?.columns ?? [];
      m.values.forEach((value, i) => {
        const column = columns[i];
        const name = column && binaryField(column.type, (column.flags & UNSIGNED_FLAG) !== 0);
        if (value !== null && name) add(name, value);
      });
      break;
    }
    case "stmt-prepare-ok":
      add("mysql.stmt_id", m.statementId);
      add("mysql.num_fields", m.numColumns);
      add("mysql.num_params", m.numParams);
      add("mysql.warnings", m.warnings);
      add("mysql.metadata_follows", m.metadataFollows);
      break;
    default:
      if (m.kind.startsWith("COM_") && m.kind in Command) {
        add("mysql.command", Command[m.kind as keyof typeof Command]);
      }
      if (m.kind === "COM_QUERY" || m.kind === "COM_STMT_PREPARE") add("mysql.query", m.sql);
      if (m.kind === "COM_INIT_DB") add("mysql.schema", m.schema);
      if (m.kind === "COM_CHANGE_USER") {
        add("mysql.user", m.username);
        add("mysql.schema", m.schema);
        add("mysql.client_auth_plugin", m.authPluginName);
      }
      if (m.kind === "COM_STMT_CLOSE" || m.kind === "COM_STMT_RESET") {
        add("mysql.stmt_id", m.statementId);
      }
      if (m.kind === "COM_STMT_EXECUTE") {
        add("mysql.stmt_id", m.statementId);
        add("mysql.exec_flags", m.flags);
        add("mysql.exec_iter", m.iterationCount);
        if (m.newParamsBound !== undefined) {
          add("mysql.new_parameter_bound_flag", m.newParamsBound ? 1 : 0);
        }
        for (const param of m.params) {
          if (m.newParamsBound) add("mysql.field.type", param.type);
          const name = binaryField(param.type, param.unsigned);
          if ("value" in param && param.value !== null && name) add(name, param.value);
        }
      }
  }
  return out;
}

/** A packet as our tap decoded it. */
interface OurPdu {
  connection: number;
  direction: "client" | "server";
  kind: string;
  fields: Fields;
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/** Groups values by field name, keeping their order within each name. */
function byName(fields: Fields): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [name, value] of fields) map.set(name, [...(map.get(name) ?? []), value]);
  return map;
}

interface Comparison {
  /** Fields both decoded, with how often they were compared. */
  compared: Map<string, number>;
  /** `kind: field` we decode that tshark did not show, with counts. */
  tsharkMissing: Map<string, number>;
  /** Disagreements, one line each. */
  mismatches: string[];
}

function compare(ours: OurPdu[], theirs: TsharkPdu[], label: string, result: Comparison): void {
  const count = Math.max(ours.length, theirs.length);
  for (let i = 0; i < count; i++) {
    const a = ours[i];
    const b = theirs[i];
    if (!a || !b || a.direction !== b.direction) {
      result.mismatches.push(
        `${label} packet ${i}: ours ${a ? `${a.direction} ${a.kind}` : "none"}, tshark ${
          b ? `${b.direction} ${JSON.stringify(b.fields.slice(0, 4))}` : "none"
        }`,
      );
      break; // the rest would be misaligned
    }
    const theirFields = byName(b.fields);
    for (const [name, values] of byName(a.fields)) {
      const other = theirFields.get(name);
      if (!other) {
        const key = `${a.kind}: ${name}`;
        result.tsharkMissing.set(key, (result.tsharkMissing.get(key) ?? 0) + 1);
        continue;
      }
      result.compared.set(name, (result.compared.get(name) ?? 0) + values.length);
      try {
        assert.deepEqual(other, values);
      } catch {
        result.mismatches.push(
          `${label} packet ${i} (${a.direction} ${a.kind}) ${name}: ours ${
            JSON.stringify(values)
          }, tshark ${JSON.stringify(other)}`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The sessions.

async function mysql2Session(db: MariaDB, port: number): Promise<void> {
  const { user, password } = db.users.native;
  const conn = await mysql.createConnection({
    host: "127.0.0.1",
    port,
    user,
    password,
    database: DATABASE,
    multipleStatements: true,
  });
  try {
    await conn.query("DROP TABLE IF EXISTS items");
    await conn.query(
      "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(6,2), " +
        "qty BIGINT UNSIGNED) CHARACTER SET utf8mb4",
    );
    await conn.query(
      "INSERT INTO items VALUES (1, 'apple', 1.50, 10), (2, 'pear, ripe', NULL, 0), " +
        "(3, 'fig', 3, 18446744073709551615)",
    );
    await conn.query("SELECT id, name AS label, price, qty FROM items ORDER BY id");
    await conn.query("UPDATE items SET price = 2 WHERE id >= 2");
    await conn.query("DROP TABLE IF EXISTS notes");
    await conn.query("CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, note TEXT)");
    await conn.query("INSERT INTO notes (note) VALUES ('first'), ('second')");
    await conn.execute("INSERT INTO notes (note) VALUES (?)", ["third"]);
    await conn.query("SELECT 1 AS one; SELECT 'two' AS two, NULL AS nothing");
    await assert.rejects(conn.query("SELEC 1"), { errno: 1064 });
    await assert.rejects(conn.query("SELECT * FROM missing_table"), { errno: 1146 });
    await conn.execute("SELECT id, name, qty FROM items WHERE id = ? OR name = ?", [2, "fig"]);
    await conn.execute("SELECT id, name, qty FROM items WHERE id = ? OR name = ?", [1, "none"]);
    await conn.execute("UPDATE items SET qty = qty + ? WHERE id = ?", [5, 1]);
    conn.unprepare("SELECT id, name, qty FROM items WHERE id = ? OR name = ?");
    await conn.ping();
    await conn.query("DELETE FROM items WHERE id = 3");
    await conn.changeUser({ user, password, database: DATABASE });
    await conn.query("SELECT CURRENT_USER() AS me, DATABASE() AS db");
  } finally {
    await conn.end();
  }
}

/** The mariadb CLI (libmariadb): CLIENT_DEPRECATE_EOF and MariaDB's extended metadata. */
async function cliSession(db: MariaDB, port: number): Promise<void> {
  const { user, password } = db.users.native;
  const { code, stderr } = await new Deno.Command(db.bin.mariadb, {
    args: [
      ...["--no-defaults", "--protocol=tcp", "--host=127.0.0.1", `--port=${port}`],
      ...[`--user=${user}`, `--password=${password}`, `--database=${DATABASE}`, "--batch"],
      "--execute=USE information_schema; USE e2e_tshark; " +
      "SELECT id, name, price FROM items ORDER BY id; " +
      "SELECT JSON_OBJECT('a', 1) AS j, POINT(1, 2) AS p; " +
      "INSERT INTO items (id, name) VALUES (4, 'kiwi'); SHOW WARNINGS",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

const { tshark, dumpcap } = CAPTURE;
if (!tshark || !dumpcap) {
  unavailableTest(NAME, CAPTURE.reason);
} else {
  liveTest(NAME, async (db) => {
    await db.sql(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`);
    const ours: OurPdu[] = [];
    /** The tap swallows exceptions (it must never cost a connection): keep them. */
    const tapErrors: string[] = [];
    const clientPorts = new Map<number, number>();
    await using proxy = await startProxy({
      listen: "127.0.0.1:0",
      server: `${db.hostname}:${db.port}`,
      tap(info) {
        clientPorts.set(info.id, Number(info.client.split(":").at(-1)));
        return createSessionTap({
          onPacket(packet) {
            try {
              ours.push({
                connection: info.id,
                direction: packet.direction,
                kind: packet.message.kind,
                fields: project(packet),
              });
            } catch (error) {
              tapErrors.push(`#${info.id} ${packet.message.kind}: ${error}`);
            }
          },
          onOpaque: (reason) => tapErrors.push(`#${info.id} opaque: ${reason}`),
        });
      },
    });
    const sessions = [
      { label: "mysql2", connection: 0, run: mysql2Session },
      { label: "mariadb CLI", connection: 0, run: cliSession },
    ];
    const dir = await Deno.makeTempDir({ prefix: "tshark-e2e-" });
    try {
      const file = join(dir, "session.pcapng");
      const capture = await startCapture(dumpcap, `tcp port ${proxy.port}`);
      // Connections that only say "captured": dumpcap reports that it captures a few
      // milliseconds before it does, and delivers packets up to ~250 ms late. Once a sentinel's
      // packets are in, so is everything sent before it.
      const sentinel = async () => {
        for (let attempt = 1; attempt <= 10; attempt++) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
          const { port } = conn.localAddr as Deno.NetAddr;
          conn.close();
          if (await capture.seen(portPair(port, proxy.port), 2_000)) return;
        }
        throw new Error("dumpcap captured none of 10 connections");
      };
      try {
        await sentinel();
        for (const session of sessions) {
          session.connection = clientPorts.size + 1;
          await session.run(db, proxy.port);
        }
        await sentinel();
      } finally {
        await Deno.writeFile(file, await capture.stop());
      }
      const { code, stdout, stderr } = await new Deno.Command(tshark, {
        args: ["-r", file, "-n", "-d", `tcp.port==${proxy.port},mysql`, "-Y", "mysql"]
          .concat(["-T", "pdml"]),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      const theirs = parsePdml(new TextDecoder().decode(stdout), proxy.port);

      assert.deepEqual(tapErrors, []);
      const result: Comparison = { compared: new Map(), tsharkMissing: new Map(), mismatches: [] };
      for (const { label, connection } of sessions) {
        const port = clientPorts.get(connection);
        compare(
          ours.filter((p) => p.connection === connection),
          theirs.filter((p) => p.clientPort === port),
          label,
          result,
        );
      }
      console.log(
        `compared with tshark: ${
          [...result.compared].map(([name, n]) => `${name}×${n}`).join(", ")
        }\nnot decoded by tshark: ${
          [...result.tsharkMissing].map(([name, n]) => `${name}×${n}`).join(", ") || "-"
        }`,
      );
      assert.deepEqual(result.mismatches, [], result.mismatches.join("\n"));
      for (
        const name of [
          "mysql.packet_length",
          "mysql.command",
          "mysql.query",
          "mysql.num_fields",
          "mysql.field.name",
          "mysql.affected_rows",
          "mysql.error_code",
          "mysql.error.message",
          "mysql.row.text",
          "mysql.stmt_id",
        ]
      ) {
        assert.ok(result.compared.has(name), `${name} was never compared`);
      }
      for (const { label, connection } of sessions) {
        const count = ours.filter((p) => p.connection === connection).length;
        assert.ok(count > 20, `the ${label} session has only ${count} packets`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
