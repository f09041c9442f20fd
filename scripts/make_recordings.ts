/**
 * `deno task recordings`: makes the committed demo recording, `recordings/demo.jsonl`, against a
 * throwaway MariaDB: a small `shop` database (products, orders), then, through `record()`, a
 * session of the `mariadb` command line client and one of npm:mysql2 (text queries and prepared
 * statements), with `--redact` rules for customer emails so the demo shows redaction too.
 *
 * Nothing secret reaches the file: logins are redacted, the users and passwords are made up for
 * the throwaway server, and customer emails are pseudonyms.
 *
 * @module
 */
import mysql from "mysql2/promise";
import { startMariaDB } from "../tests/helpers/mariadb.ts";
import { record } from "../src/record/recorder.ts";

const OUT = new URL("../recordings/demo.jsonl", import.meta.url).pathname;
const USER = "app";
const PASSWORD = "app-demo-password";

const SCHEMA = `
CREATE DATABASE shop CHARACTER SET utf8mb4;
CREATE TABLE shop.products (
  id INT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  price DECIMAL(10, 2) NOT NULL,
  stock INT NOT NULL,
  added DATE NOT NULL
);
CREATE TABLE shop.orders (
  id INT PRIMARY KEY AUTO_INCREMENT,
  product_id INT NOT NULL,
  quantity SMALLINT NOT NULL,
  email VARCHAR(200) NOT NULL,
  ordered_at DATETIME NOT NULL
);
INSERT INTO shop.products (name, price, stock, added) VALUES
  ('Espresso cup', 7.50, 120, '2026-01-15'),
  ('Pour-over kettle', 39.90, 14, '2026-02-01'),
  ('Burr grinder', 129.00, 6, '2026-03-10'),
  ('Paper filters (100)', 4.20, 300, '2026-03-10');
INSERT INTO shop.orders (product_id, quantity, email, ordered_at) VALUES
  (1, 2, 'alice@example.com', '2026-11-20 09:12:00'),
  (3, 1, 'bob@example.com', '2026-11-20 17:45:30'),
  (1, 4, 'alice@example.com', '2026-11-21 08:03:10');
CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}';
GRANT SELECT, INSERT, UPDATE ON shop.* TO '${USER}'@'%';
`;

/** The mariadb CLI session: what a person types (batch mode, so the output is plain). */
const CLI_SESSION = `
SELECT id, name, price, stock FROM products ORDER BY id;
SELECT p.name, SUM(o.quantity) AS sold FROM orders o JOIN products p ON p.id = o.product_id GROUP BY p.name ORDER BY sold DESC;
SELECT nope FROM products;
UPDATE products SET stock = stock - 1 WHERE id = 3;
`;

async function main(): Promise<void> {
  await using db = await startMariaDB({ tls: false });
  await db.sql(SCHEMA);
  await Deno.mkdir(new URL("../recordings/", import.meta.url), { recursive: true });
  await using recording = await record({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    out: OUT,
    overwrite: true,
    // Emails: in result columns, and in SQL text (the INSERT below).
    redact: ["column:^email$", "query:'[^'@]+@[^']+'"],
  });

  // 1. The mariadb CLI: a one-liner (as the README shows), then a session on stdin.
  const cli = (args: string[], stdin = "") =>
    runCli(db.bin.mariadb, [
      "--no-defaults",
      "--protocol=TCP",
      "-h",
      recording.hostname,
      "-P",
      String(recording.port),
      `-u${USER}`,
      `-p${PASSWORD}`,
      "shop",
      ...args,
    ], stdin);
  console.log(await cli(["-e", "SELECT id, name, price FROM products ORDER BY id"]));
  console.log(await cli(["--batch", "--force"], CLI_SESSION));

  // 2. npm:mysql2: text queries, then prepared statements.
  const connection = await mysql.createConnection({
    host: recording.hostname,
    port: recording.port,
    user: USER,
    password: PASSWORD,
    database: "shop",
  });
  try {
    const [cheap] = await connection.query("SELECT id, name, price FROM products WHERE price < ?", [
      20,
    ]);
    console.log(cheap);
    const [insert] = await connection.query(
      "INSERT INTO orders (product_id, quantity, email, ordered_at) VALUES (2, 1, 'carol@example.com', '2026-11-21 10:30:00')",
    );
    console.log(insert);
    for (const id of [1, 2]) {
      const [rows] = await connection.execute(
        "SELECT name, price, stock, added FROM products WHERE id = ?",
        [id],
      );
      console.log(rows);
    }
    const [orders] = await connection.execute(
      "SELECT id, quantity, email, ordered_at FROM orders WHERE product_id = ? ORDER BY id",
      [1],
    );
    console.log(orders);
  } finally {
    await connection.end();
  }
  // Let the last connection's QUIT reach the recorder before closing.
  for (let i = 0; i < 100 && recording.activeConnections > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await recording.close();
  const stats = recording.stats();
  console.log(
    `Wrote ${OUT}: ${stats.connections} connections, ${stats.commands} commands, ${stats.bytesWritten} bytes`,
  );
}

async function runCli(bin: string, args: string[], stdin: string): Promise<string> {
  const child = new Deno.Command(bin, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { stdout, stderr } = await child.output();
  return new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
}

if (import.meta.main) await main();
