/**
 * The recording sessions driven by npm:mysql2: the demo's second half, every type, multi-results
 * and errors, large packets, and COM_CHANGE_USER.
 *
 * @module
 */

import mysql from "mysql2/promise";
import { Buffer } from "node:buffer";
import { expectError, type SessionContext } from "./context.ts";

/** A mysql2 connection to the recorder as the spec's login (or another). */
export function connect(
  context: SessionContext,
  database: string,
  options: mysql.ConnectionOptions = {},
): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: context.host,
    port: context.port,
    user: context.spec.login.user,
    password: context.spec.login.password,
    database,
    ...options,
  });
}

/** The demo's mysql2 connection: text queries, then prepared statements. */
export async function demoMysql2(context: SessionContext): Promise<void> {
  const connection = await connect(context, "shop");
  try {
    const [cheap] = await connection.query("SELECT id, name, price FROM products WHERE price < ?", [
      20,
    ]);
    context.log(JSON.stringify(cheap));
    await connection.query(
      "INSERT INTO orders (product_id, quantity, email, ordered_at) VALUES (2, 1, 'carol@example.com', '2026-11-21 10:30:00')",
    );
    for (const id of [1, 2]) {
      await connection.execute("SELECT name, price, stock, added FROM products WHERE id = ?", [id]);
    }
    await connection.execute(
      "SELECT id, quantity, email, ordered_at FROM orders WHERE product_id = ? ORDER BY id",
      [1],
    );
  } finally {
    await connection.end();
  }
}

const INSERT_PARAMS = "INSERT INTO params (n_int, n_double, n_big, s, bin, dtm, nul, flag, j) " +
  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

/** Every column type as text and binary rows; every parameter type mysql2 binds. */
export async function types(context: SessionContext): Promise<void> {
  // timezone "Z": Date parameters are sent in UTC whatever the machine's time zone.
  const connection = await connect(context, "types", { timezone: "Z", dateStrings: true });
  try {
    await connection.query("SET time_zone = '+00:00'");
    const [text] = await connection.query("SELECT * FROM alltypes ORDER BY id");
    context.log(`text rows: ${(text as unknown[]).length}`);
    for (const id of [1, 2, 3, 4]) {
      await connection.execute("SELECT * FROM alltypes WHERE id = ?", [id]);
    }
    await connection.execute(INSERT_PARAMS, [
      42,
      -7.25,
      12345678901234567890n,
      "ünïcode ✓",
      Buffer.from([0, 1, 2, 255]),
      new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
      null,
      true,
      JSON.stringify({ k: [1, "two"] }),
    ]);
    await connection.execute(INSERT_PARAMS, [
      -1,
      0.5,
      "99",
      "",
      Buffer.alloc(0),
      new Date(Date.UTC(1999, 11, 31, 23, 59, 59)),
      null,
      false,
      "null",
    ]);
    await connection.execute("SELECT * FROM params ORDER BY id");
    await connection.query("SELECT * FROM params ORDER BY id");
    // A statement prepared, executed with new values, closed (COM_STMT_CLOSE).
    const statement = await connection.prepare("SELECT vc, j, u FROM alltypes WHERE id IN (?, ?)");
    await statement.execute([1, 2]);
    await statement.execute([2, 4]);
    await statement.close();
  } finally {
    await connection.end();
  }
}

/** Multi-statements, CALL, and errors and warnings wherever they can come. */
export async function multiResults(context: SessionContext): Promise<void> {
  const connection = await connect(context, "multi", { multipleStatements: true });
  try {
    await connection.query(
      "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c; UPDATE t SET v = 'uno' WHERE id = 1",
    );
    await connection.query("CALL two_sets()");
    await connection.query("CALL doubled(21, @y); SELECT @y AS y");
    await connection.execute("CALL two_sets()");
    await connection.execute("CALL doubled(?, ?)", [4, null]);
    await expectError(context, "CALL fail()", () => connection.query("CALL fail()"));
    await expectError(
      context,
      "an error between statements",
      () => connection.query("SELECT 1 AS first; SELECT nope FROM t; SELECT 3 AS never"),
    );
    await expectError(
      context,
      "duplicate key",
      () => connection.query("INSERT INTO t VALUES (1, 'dup')"),
    );
    await expectError(context, "syntax", () => connection.query("SELEC 1"));
    await expectError(context, "unknown table", () => connection.query("SELECT * FROM missing"));
    await expectError(
      context,
      "too long in strict mode",
      () => connection.query("INSERT INTO t VALUES (4, 'far too long a value')"),
    );
    await connection.query("SELECT 1/0 AS d");
    await connection.query("SHOW WARNINGS");
    await connection.query("INSERT IGNORE INTO t VALUES (5, 'far too long a value')");
    await connection.query("SHOW WARNINGS");
    await connection.execute("SELECT v FROM t WHERE id = ?", [2]);
    await expectError(
      context,
      "execute error",
      () => connection.execute("INSERT INTO t VALUES (?, ?)", [2, "dup"]),
    );
    await expectError(context, "prepare error", () => connection.prepare("SELECT nope FROM t"));
    await connection.query("SELECT id, v FROM t ORDER BY id");
  } finally {
    await connection.end();
  }
}

/** The size of the large value: 1 MiB, well past one read buffer, still small in git. */
export const LARGE_VALUE_BYTES = 1 << 20;

/** A deterministic value of `LARGE_VALUE_BYTES` characters. */
export function largeValue(): string {
  return "0123456789abcdef".repeat(LARGE_VALUE_BYTES / 16);
}

/** A ~1 MiB value as a parameter, as a text row, as a binary row; a long result. */
export async function largePackets(context: SessionContext): Promise<void> {
  const connection = await connect(context, "large");
  try {
    await connection.execute("INSERT INTO blobs VALUES (?, ?)", [1, largeValue()]);
    await connection.query("SELECT id, LENGTH(body) AS length, body FROM blobs WHERE id = 1");
    await connection.execute("SELECT body FROM blobs WHERE id = ?", [1]);
    const [rows] = await connection.query("SELECT n, label FROM seq ORDER BY n");
    context.log(`long result: ${(rows as unknown[]).length} rows`);
  } finally {
    await connection.end();
  }
}

/** COM_CHANGE_USER to another user, and a login refused for a wrong password. */
export async function changeUser(context: SessionContext): Promise<void> {
  const other = context.spec.otherLogins!.other;
  const connection = await connect(context, "authdb");
  try {
    await connection.query("SELECT CURRENT_USER() AS me");
    await connection.changeUser({ user: other.user, password: other.password, database: "authdb" });
    await connection.query("SELECT CURRENT_USER() AS me");
    await connection.query("SELECT owner FROM secrets ORDER BY id");
  } finally {
    await connection.end();
  }
  await expectError(
    context,
    "wrong password",
    () => connect(context, "authdb", { password: "not-the-password" }).then((c) => c.end()),
  );
}
