/**
 * The example shop's tests, in the cassette style: each test gets its MySQL endpoint from
 * `cassette()`. The cassettes in `cassettes/` are committed, so by default these tests replay them
 * and need no database. Re-record them all against a real server with the shop's schema
 * (`schema.sql`; `deno task recordings` does it against a throwaway MariaDB):
 *
 * ```sh
 * MYSQL_CASSETTE_MODE=record MYSQL_CASSETTE_SERVER=127.0.0.1:3306 deno test -A examples/shop/
 * ```
 *
 * Change a query in `shop.ts` without re-recording, and the test fails, naming the query the
 * cassette has no answer for and the closest one it has.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { cassette } from "../../mod.ts";
import { OutOfStockError, Shop } from "./shop.ts";

/** Where each test's cassette lives. */
function cassettePath(name: string): string {
  return fileURLToPath(new URL(`./cassettes/${name}.jsonl`, import.meta.url));
}

/** The shop's settings against a cassette; the password only matters when recording. */
function connect(db: { hostname: string; port: number }): Promise<Shop> {
  return Shop.connect({
    host: db.hostname,
    port: db.port,
    user: "app",
    password: Deno.env.get("SHOP_DB_PASSWORD") ?? "app-demo-password",
    database: "shop",
  });
}

Deno.test("Shop lists products cheapest first and finds one by id", async () => {
  await using db = await cassette(cassettePath("catalog"));
  const shop = await connect(db);
  try {
    const products = await shop.products();
    assert.deepEqual(products.map((p) => [p.name, p.price]), [
      ["Paper filters (100)", "4.20"],
      ["Espresso cup", "7.50"],
      ["Pour-over kettle", "39.90"],
      ["Burr grinder", "129.00"],
    ]);
    assert.deepEqual(await shop.product(3), {
      id: 3,
      name: "Burr grinder",
      price: "129.00",
      stock: 6,
    });
    assert.equal(await shop.product(99), undefined);
  } finally {
    await shop.close();
  }
});

Deno.test("Shop takes an order in a transaction and refuses one it cannot serve", async () => {
  await using db = await cassette(cassettePath("orders"), {
    // Customer emails never reach the committed file.
    redact: ["query:'[^'@]+@[^']+'", "column:^email$"],
    redactKey: "example-shop",
  });
  const shop = await connect(db);
  try {
    const id = await shop.placeOrder({
      productId: 2,
      quantity: 3,
      email: "carol@example.com",
      at: "2026-11-21 10:30:00",
    });
    assert.equal(id, 4);
    await assert.rejects(
      shop.placeOrder({ productId: 3, quantity: 50, email: "dan@example.com", at: "2026-11-21" }),
      OutOfStockError,
    );
    assert.deepEqual(await shop.bestSellers(), [
      { name: "Espresso cup", sold: 6 },
      { name: "Pour-over kettle", sold: 3 },
      { name: "Burr grinder", sold: 1 },
    ]);
  } finally {
    await shop.close();
  }
});
