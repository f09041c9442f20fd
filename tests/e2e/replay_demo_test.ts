/**
 * The committed demo recording (`recordings/demo.jsonl`, made by `deno task recordings`) replayed
 * with no database anywhere: the README's quick start, and the sessions the demo recorded (the
 * mariadb CLI and npm:mysql2) played again, strictly: nothing missed, nothing left unused.
 *
 * @module
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { replay } from "../../mod.ts";
import { findBinary } from "../helpers/mariadb_server.ts";

const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;
const MARIADB = findBinary("mariadb");

async function cli(port: number, args: string[], stdin = ""): Promise<string> {
  const child = new Deno.Command(MARIADB!, {
    args: ["--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", String(port), ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { stdout, stderr } = await child.output();
  return new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
}

const CLI_SESSION = `
SELECT id, name, price, stock FROM products ORDER BY id;
SELECT p.name, SUM(o.quantity) AS sold FROM orders o JOIN products p ON p.id = o.product_id GROUP BY p.name ORDER BY sold DESC;
SELECT nope FROM products;
UPDATE products SET stock = stock - 1 WHERE id = 3;
`;

Deno.test({
  name: "the demo recording replays the README quick start and its sessions, strictly" +
    (MARIADB ? "" : " (ignored: the mariadb CLI not found)"),
  ignore: !MARIADB,
  async fn() {
    await using server = await replay(DEMO, {
      listen: "127.0.0.1:0",
      strict: true,
      users: "recorded",
    });
    const login = ["-uapp", "-pany-password", "shop"];
    // The README's quick start.
    assert.equal(
      await cli(server.port, [...login, "-e", "SELECT id, name, price FROM products ORDER BY id"]),
      "id\tname\tprice\n1\tEspresso cup\t7.50\n2\tPour-over kettle\t39.90\n" +
        "3\tBurr grinder\t129.00\n4\tPaper filters (100)\t4.20\n",
    );
    const session = await cli(server.port, [...login, "--batch", "--force"], CLI_SESSION);
    assert.match(session, /^id\tname\tprice\tstock\n1\tEspresso cup\t7.50\t120\n/);
    assert.match(session, /Espresso cup\t6\n/);
    assert.match(session, /ERROR 1054 \(42S22\) at line 4: Unknown column 'nope' in 'SELECT'/);

    const c = await mysql.createConnection({
      host: server.hostname,
      port: server.port,
      user: "app",
      password: "wrong",
      database: "shop",
    });
    try {
      const [cheap] = await c.query("SELECT id, name, price FROM products WHERE price < ?", [20]);
      assert.deepEqual(cheap, [
        { id: 1, name: "Espresso cup", price: "7.50" },
        { id: 4, name: "Paper filters (100)", price: "4.20" },
      ]);
      // The email was redacted in the recording: the statement matches by shape.
      const [insert] = await c.query(
        "INSERT INTO orders (product_id, quantity, email, ordered_at) VALUES " +
          "(2, 1, 'carol@example.com', '2026-11-21 10:30:00')",
      );
      assert.equal((insert as mysql.ResultSetHeader).affectedRows, 1);
      for (const id of [1, 2]) {
        const [rows] = await c.execute(
          "SELECT name, price, stock, added FROM products WHERE id = ?",
          [id],
        );
        assert.equal((rows as { name: string }[]).length, 1);
      }
      const [orders] = await c.execute(
        "SELECT id, quantity, email, ordered_at FROM orders WHERE product_id = ? ORDER BY id",
        [1],
      );
      const emails = (orders as { email: string }[]).map((o) => o.email);
      assert.equal(emails.length, 2);
      assert.ok(emails.every((e) => e.startsWith("redacted:")), emails.join());
    } finally {
      await c.end();
    }
    await server.drain();
    const stats = server.stats();
    assert.equal(stats.misses, 0);
    assert.equal(stats.unused, 0);
    assert.equal(stats.approximate, 1, "the INSERT whose email was redacted");
  },
});
