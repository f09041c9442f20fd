/**
 * The proxy as a server (MySQL Proxy's 2009 Lua example, in TypeScript): answers
 * `SHOW DATABASES` with db_1 ... db_70, OKs COM_INIT_DB (`USE db_1`), and refuses anything else.
 * COM_QUIT is the proxy's: the connection ends.
 *
 *     deno run -A mod.ts proxy --script examples/show_databases.ts
 *     mariadb -h 127.0.0.1 -P 3307 -u anyone -e "SHOW DATABASES"
 *
 * @module
 */

import { errorAnswer, type Hooks, okAnswer, resultSet } from "../mod.ts";

const DATABASES = Array.from({ length: 70 }, (_, i) => [`db_${i + 1}`]);

export default {
  readQuery({ command, sql }) {
    if (command.kind === "COM_INIT_DB") return okAnswer();
    if (command.kind === "COM_QUERY" && /^\s*SHOW\s+DATABASES\s*;?\s*$/i.test(sql ?? "")) {
      return resultSet({ columns: ["Database"], rows: DATABASES });
    }
    // The mariadb CLI asks this at connect; MariaDB answers it with the server's description.
    if (command.kind === "COM_QUERY" && /@@version_comment/i.test(sql ?? "")) {
      return resultSet({ columns: ["@@version_comment"], rows: [["mysql-proxy script"]] });
    }
    return errorAnswer(
      1064,
      `show_databases.ts answers only SHOW DATABASES, not: ${sql ?? command.kind}`,
      "42000",
    );
  },
} satisfies Hooks;
