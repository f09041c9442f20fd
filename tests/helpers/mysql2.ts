/**
 * npm:mysql2 connections for tests, as the throwaway MariaDB's native-password user.
 *
 * @module
 */
import mysql from "mysql2/promise";
import type { MariaDB } from "./mariadb.ts";

/** A mysql2 connection to 127.0.0.1:`port` (the server, or a proxy in front of it). */
export function connectNative(
  db: MariaDB,
  port: number,
  options: mysql.ConnectionOptions = {},
): Promise<mysql.Connection> {
  const { user, password } = db.users.native;
  return mysql.createConnection({ host: "127.0.0.1", port, user, password, ...options });
}
