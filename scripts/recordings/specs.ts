/**
 * What each committed recording in `recordings/` is: its database (schema and fixed data, set up
 * as root before the session), the user its clients log in as, and the redaction it is recorded
 * with. `scripts/make_recordings.ts` records the sessions (`sessions.ts`) on top of this setup;
 * the regression tests (tests/regression/) load the same setup into a fresh MariaDB to verify the
 * recordings live. Data only: no client library is imported here.
 *
 * Everything is deterministic where MariaDB lets it be: fixed rows, fixed dates, no NOW(), no
 * random values, time zone pinned to UTC wherever a TIMESTAMP is read or written.
 *
 * @module
 */

/** A user and password, made up for the throwaway server (never a real secret). */
export interface Login {
  user: string;
  password: string;
}

/** One committed recording. */
export interface RecordingSpec {
  /** `recordings/<name>.jsonl`. */
  name: string;
  /** What it exercises, for the generator's summary and the tests' names. */
  description: string;
  /** The clients that made it. */
  clients: string[];
  /** Databases its setup creates (dropped first, so the setup can run again). */
  databases: string[];
  /** SQL run as root (through the mariadb CLI, so `DELIMITER` works) after the drops. */
  setup: string;
  /** The login its clients use. */
  login: Login;
  /** Other users its setup creates (auth switches, change user). */
  otherLogins?: Record<string, Login>;
  /** `--redact` rules it is recorded with. */
  redact?: string[];
  /**
   * The key of its pseudonyms: fixed, so recording it again gives the same ones (the data is
   * made up; nothing here is secret).
   */
  redactKey?: string;
  /** Needs the auth_ed25519 plugin. */
  ed25519?: boolean;
  /** Needs these programs (besides mariadbd and the mariadb CLI). */
  tools?: string[];
}

const SHOP_SCHEMA = new URL("../../examples/shop/schema.sql", import.meta.url);

/** The shop's schema and data (examples/shop/schema.sql), shared with the example's cassettes. */
export function shopSchema(): string {
  return Deno.readTextFileSync(SHOP_SCHEMA);
}

/** The shop's application user: the demo recording and the example's cassettes log in as it. */
export const SHOP_LOGIN: Login = { user: "app", password: "app-demo-password" };

function user(login: Login, grants: string, plugin = ""): string {
  const identified = plugin === "ed25519"
    ? `IDENTIFIED VIA ed25519 USING PASSWORD('${login.password}')`
    : `IDENTIFIED BY '${login.password}'`;
  return `CREATE OR REPLACE USER '${login.user}'@'%' ${identified};\n` +
    grants.split(";").filter((g) => g.trim() !== "").map((g) =>
      `GRANT ${g.trim()} TO '${login.user}'@'%';\n`
    ).join("");
}

const TYPES_LOGIN = { user: "types_app", password: "types-pw" };
const MULTI_LOGIN = { user: "multi_app", password: "multi-pw" };
const INFILE_LOGIN = { user: "infile_app", password: "infile-pw" };
const LARGE_LOGIN = { user: "large_app", password: "large-pw" };
const AUTH_LOGINS = {
  native: { user: "auth_native", password: "auth-native-pw" },
  ed25519: { user: "auth_ed", password: "auth-ed-pw" },
  other: { user: "auth_other", password: "auth-other-pw" },
};
const CONNECTOR_LOGIN = { user: "connector_app", password: "connector-pw" };
const CAPI_LOGIN = { user: "capi_app", password: "capi-pw" };
const SYSBENCH_LOGIN = { user: "sbrec", password: "sbrec-pw" };

/** Every type a column can have, in rows of extremes, NULLs and zero values. */
const ALL_TYPES_TABLE = `
SET time_zone = '+00:00';
CREATE DATABASE types CHARACTER SET utf8mb4;
CREATE TABLE types.alltypes (
  id INT PRIMARY KEY,
  ti TINYINT, uti TINYINT UNSIGNED, si SMALLINT, usi SMALLINT UNSIGNED,
  mi MEDIUMINT, umi MEDIUMINT UNSIGNED, i INT, ui INT UNSIGNED, bi BIGINT, ubi BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, dec1 DECIMAL(20, 6),
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(6), yr YEAR,
  b BIT(10), e ENUM('small', 'medium', 'large'), st SET('red', 'green', 'blue'),
  c CHAR(5), vc VARCHAR(40), bn BINARY(4), vb VARBINARY(16),
  tb TINYBLOB, bl BLOB, tx MEDIUMTEXT, j JSON, u UUID, ip INET6, g POINT
);
INSERT INTO types.alltypes VALUES
  (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
   -9223372036854775808, 18446744073709551615, -3.5, 1.7976931348623157e308,
   '-99999999999999.999999', '1000-01-01', '1000-01-01 00:00:00.000001',
   '1970-01-01 00:00:01.000', '-838:59:59.000000', 1901, b'1111111111', 'small', 'red,blue',
   'abc', 'ünïcode ✓', 0x00ff10, 0xdeadbeef, 0x01, 'blob', 'text', '{"a": [1, 2, null]}',
   '123e4567-e89b-12d3-a456-426614174000', '::1', ST_GeomFromText('POINT(1 2)')),
  (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, 3.25, -2.5e-300,
   '12345678901234.123456', '9999-12-31', '9999-12-31 23:59:59.999999',
   '2038-01-19 03:14:07.999', '838:59:59.999999', 2155, b'0', 'large', '', '', '', '', '', '',
   '', '', '[]', '00000000-0000-0000-0000-000000000000', '::ffff:192.0.2.1',
   ST_GeomFromText('POINT(0 0)')),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL),
  (4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '0', '0000-00-00', '0000-00-00 00:00:00', NULL,
   '00:00:00', 0, b'0', 'medium', 'green', 'x', 'y', 0x00, X'', X'', '', '', '{}',
   'ffffffff-ffff-ffff-ffff-ffffffffffff', '2001:db8::1', ST_GeomFromText('POINT(-1.5 2.25)'));
CREATE TABLE types.params (
  id INT PRIMARY KEY AUTO_INCREMENT,
  n_int BIGINT, n_double DOUBLE, n_big DECIMAL(30, 0), s VARCHAR(50), bin VARBINARY(20),
  dtm DATETIME(3), nul INT, flag TINYINT(1), j JSON
);
`;

const MULTI_SETUP = `
CREATE DATABASE multi CHARACTER SET utf8mb4;
CREATE TABLE multi.t (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL UNIQUE);
INSERT INTO multi.t VALUES (1, 'one'), (2, 'two'), (3, 'three');
DELIMITER //
CREATE PROCEDURE multi.two_sets()
BEGIN
  SELECT id, v FROM multi.t ORDER BY id;
  SELECT COUNT(*) AS n FROM multi.t;
END//
CREATE PROCEDURE multi.doubled(IN x INT, OUT y INT)
BEGIN
  SET y = x * 2;
  SELECT x AS input;
END//
CREATE PROCEDURE multi.fail()
BEGIN
  SELECT 1 AS before_error;
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'custom failure';
END//
DELIMITER ;
`;

/** The committed recordings, in the order the generator makes them. */
export const RECORDINGS: readonly RecordingSpec[] = [
  {
    name: "demo",
    description: "the README's demo: a small shop, text queries, prepared statements, redaction",
    clients: ["mariadb CLI", "npm:mysql2"],
    databases: ["shop"],
    setup: `${shopSchema()}\n${user(SHOP_LOGIN, "SELECT, INSERT, UPDATE ON shop.*")}`,
    login: SHOP_LOGIN,
    redact: ["column:^email$", "query:'[^'@]+@[^']+'"],
    redactKey: "mysql-proxy-demo",
  },
  {
    name: "mysql2-types",
    description: "every column type in text and binary rows, every mysql2 parameter type",
    clients: ["npm:mysql2"],
    databases: ["types"],
    setup: `${ALL_TYPES_TABLE}\n${user(TYPES_LOGIN, "ALL PRIVILEGES ON types.*")}`,
    login: TYPES_LOGIN,
  },
  {
    name: "mysql2-multi-results",
    description: "multi-statements, CALL with several result sets and OUT parameters, " +
      "errors and warnings in every place",
    clients: ["npm:mysql2"],
    databases: ["multi"],
    setup: `${MULTI_SETUP}\n${user(MULTI_LOGIN, "ALL PRIVILEGES ON multi.*")}`,
    login: MULTI_LOGIN,
  },
  {
    name: "cli-local-infile",
    description: "LOAD DATA LOCAL INFILE (a file, an empty file, duplicates, column " +
      "mapping), warnings, USE",
    clients: ["mariadb CLI"],
    databases: ["loaddata"],
    setup: `CREATE DATABASE loaddata CHARACTER SET utf8mb4;
CREATE TABLE loaddata.people (id INT PRIMARY KEY, name VARCHAR(40), city VARCHAR(40));
INSERT INTO loaddata.people VALUES (1, 'Ada', 'London');
${user(INFILE_LOGIN, "ALL PRIVILEGES ON loaddata.*")}`,
    login: INFILE_LOGIN,
  },
  {
    name: "large-packets",
    description: "a ~1 MiB value both ways (text and binary), a result long enough for " +
      "continuation lines",
    clients: ["npm:mysql2"],
    databases: ["large"],
    setup: `CREATE DATABASE large CHARACTER SET utf8mb4;
CREATE TABLE large.blobs (id INT PRIMARY KEY, body LONGTEXT);
CREATE TABLE large.seq (n INT PRIMARY KEY, label VARCHAR(20));
INSERT INTO large.seq SELECT seq, CONCAT('row ', seq) FROM large.seq_1_to_20000;
${user(LARGE_LOGIN, "ALL PRIVILEGES ON large.*")}`,
    login: LARGE_LOGIN,
  },
  {
    name: "auth",
    description: "logins: an auth switch to client_ed25519 (CLI and npm:mariadb), " +
      "COM_CHANGE_USER, a refused password",
    clients: ["mariadb CLI", "npm:mysql2", "npm:mariadb"],
    databases: ["authdb"],
    setup: `CREATE DATABASE authdb;
CREATE TABLE authdb.secrets (id INT PRIMARY KEY, owner VARCHAR(20));
INSERT INTO authdb.secrets VALUES (1, 'native'), (2, 'ed25519');
${user(AUTH_LOGINS.native, "SELECT ON authdb.*")}
${user(AUTH_LOGINS.ed25519, "SELECT ON authdb.*", "ed25519")}
${user(AUTH_LOGINS.other, "SELECT ON authdb.*")}`,
    login: AUTH_LOGINS.native,
    otherLogins: { ed25519: AUTH_LOGINS.ed25519, other: AUTH_LOGINS.other },
    ed25519: true,
  },
  {
    name: "mariadb-connector",
    description: "MariaDB Connector/Node: CLIENT_DEPRECATE_EOF, pipelined prepares, " +
      "batch (bulk) inserts",
    clients: ["npm:mariadb"],
    databases: ["connector"],
    setup: `CREATE DATABASE connector CHARACTER SET utf8mb4;
CREATE TABLE connector.events (id INT PRIMARY KEY AUTO_INCREMENT, kind VARCHAR(20),
  amount DECIMAL(8, 2), at DATETIME);
INSERT INTO connector.events (kind, amount, at) VALUES ('open', 10.00, '2026-01-01 10:00:00'),
  ('close', 0.50, '2026-01-02 11:30:00');
${user(CONNECTOR_LOGIN, "ALL PRIVILEGES ON connector.*")}`,
    login: CONNECTOR_LOGIN,
  },
  {
    name: "libmariadb-capi",
    description: "the C API: cursors and COM_STMT_FETCH, long data, statement reset, every " +
      "bound type, field list, set option, reset connection",
    clients: ["libmariadb (C)"],
    databases: ["capi"],
    setup: `CREATE DATABASE capi CHARACTER SET utf8mb4;
CREATE TABLE capi.items (id INT PRIMARY KEY, name VARCHAR(20), amount DECIMAL(8, 2));
INSERT INTO capi.items VALUES (1, 'one', 1.10), (2, 'two', 2.20), (3, 'three', 3.30),
  (4, 'four', 4.40), (5, 'five', 5.50);
CREATE TABLE capi.params (id INT PRIMARY KEY AUTO_INCREMENT, ti TINYINT, si SMALLINT, i INT,
  bi BIGINT, ubi BIGINT UNSIGNED, f FLOAT, d DOUBLE, s VARCHAR(20), note TEXT, dt DATE,
  dtm DATETIME(6), tm TIME, dec1 DECIMAL(10, 3));
${user(CAPI_LOGIN, "ALL PRIVILEGES ON capi.*")}`,
    login: CAPI_LOGIN,
    tools: ["gcc"],
  },
  {
    name: "sysbench",
    description: "sysbench oltp_read_write with a fixed seed, prepared and text",
    clients: ["sysbench (libmariadb)"],
    databases: ["sbrec"],
    setup: `CREATE DATABASE sbrec;
${user(SYSBENCH_LOGIN, "ALL PRIVILEGES ON sbrec.*")}`,
    login: SYSBENCH_LOGIN,
    tools: ["sysbench"],
  },
];

/**
 * The setup of a recording as one SQL script: drop its databases, then create everything.
 *
 * @example
 * ```ts
 * import { RECORDINGS, setupScript } from "./specs.ts";
 * console.assert(setupScript(RECORDINGS[0]).startsWith("DROP DATABASE IF EXISTS shop;"));
 * ```
 */
export function setupScript(spec: RecordingSpec): string {
  return spec.databases.map((name) => `DROP DATABASE IF EXISTS ${name};\n`).join("") + spec.setup;
}

/** The sysbench options every run of the sysbench recording uses (its data and its seed). */
export const SYSBENCH_OPTIONS = ["--tables=1", "--table-size=50", "--rand-seed=1"] as const;

/**
 * Finds a spec by name.
 *
 * @example
 * ```ts
 * import { spec } from "./specs.ts";
 * console.assert(spec("auth").ed25519 === true);
 * ```
 */
export function spec(name: string): RecordingSpec {
  const found = RECORDINGS.find((s) => s.name === name);
  if (!found) {
    throw new TypeError(
      `Cannot find recording "${name}": expected one of ${
        RECORDINGS.map((s) => s.name).join(", ")
      }`,
    );
  }
  return found;
}
