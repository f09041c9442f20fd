/**
 * An example application's data-access module: the kind of code a cassette test covers. It knows
 * nothing about cassettes; it takes connection settings and talks to MySQL with npm:mysql2
 * (text queries, prepared statements and a transaction).
 *
 * @module
 */

import mysql from "mysql2/promise";

/** Where the shop's database is. */
export interface ShopConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** A product as the shop lists it. */
export interface Product {
  id: number;
  name: string;
  /** DECIMAL(10, 2) as mysql2 returns it: a string, so no cent is lost. */
  price: string;
  stock: number;
}

/** What an order needs. */
export interface OrderRequest {
  productId: number;
  quantity: number;
  email: string;
  /** `YYYY-MM-DD HH:MM:SS`: the caller's clock, so tests are deterministic. */
  at: string;
}

/** Thrown by {@link Shop.placeOrder} when the stock is too low. */
export class OutOfStockError extends Error {
  constructor(productId: number, quantity: number) {
    super(`Cannot order ${quantity} of product ${productId}: not enough in stock`);
    this.name = "OutOfStockError";
  }
}

/**
 * The shop's queries over one connection.
 *
 * @example
 * ```ts ignore
 * import { Shop } from "./shop.ts";
 * const shop = await Shop.connect({
 *   host: "127.0.0.1", port: 3306, user: "app", password: "secret", database: "shop",
 * });
 * console.log(await shop.products());
 * await shop.close();
 * ```
 */
export class Shop {
  #connection: mysql.Connection;

  private constructor(connection: mysql.Connection) {
    this.#connection = connection;
  }

  /** Connects to the shop's database. */
  static async connect(config: ShopConfig): Promise<Shop> {
    return new Shop(await mysql.createConnection({ ...config, dateStrings: true }));
  }

  /** Every product, cheapest first. */
  async products(): Promise<Product[]> {
    const [rows] = await this.#connection.query(
      "SELECT id, name, price, stock FROM products ORDER BY price, id",
    );
    return rows as Product[];
  }

  /** One product (a prepared statement), or undefined. */
  async product(id: number): Promise<Product | undefined> {
    const [rows] = await this.#connection.execute(
      "SELECT id, name, price, stock FROM products WHERE id = ?",
      [id],
    );
    return (rows as Product[])[0];
  }

  /** Takes the stock and records the order, in one transaction. Resolves to the order id. */
  async placeOrder(order: OrderRequest): Promise<number> {
    const connection = this.#connection;
    await connection.beginTransaction();
    try {
      const [taken] = await connection.execute(
        "UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?",
        [order.quantity, order.productId, order.quantity],
      );
      if ((taken as mysql.ResultSetHeader).affectedRows !== 1) {
        throw new OutOfStockError(order.productId, order.quantity);
      }
      const [inserted] = await connection.execute(
        "INSERT INTO orders (product_id, quantity, email, ordered_at) VALUES (?, ?, ?, ?)",
        [order.productId, order.quantity, order.email, order.at],
      );
      await connection.commit();
      return (inserted as mysql.ResultSetHeader).insertId;
    } catch (error) {
      await connection.rollback();
      throw error;
    }
  }

  /** Units sold per product name, best sellers first. */
  async bestSellers(): Promise<{ name: string; sold: number }[]> {
    const [rows] = await this.#connection.query(
      "SELECT p.name, CAST(SUM(o.quantity) AS SIGNED) AS sold FROM orders o " +
        "JOIN products p ON p.id = o.product_id GROUP BY p.name ORDER BY sold DESC, p.name",
    );
    return rows as { name: string; sold: number }[];
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.#connection.end();
  }
}
