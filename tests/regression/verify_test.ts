/**
 * The project's own recordings verified live: for each, its database is set up in the test
 * MariaDB from the same fixed schema and data `deno task recordings` used (dropped and created
 * again, so each starts fresh), then `verify()` drives the recorded client side against it, each
 * connection as its recorded user, and `assertNoRegressions()` must pass with only the noise rules
 * of {@link LIVE_NOISE}.
 */
import { fileURLToPath } from "node:url";
import { assertNoRegressions, verify } from "../../mod.ts";
import {
  RECORDINGS,
  type RecordingSpec,
  setupScript,
  SHOP_LOGIN,
  shopSchema,
} from "../../scripts/recordings/specs.ts";
import { liveTest } from "../helpers/mariadb.ts";

/**
 * What legitimately differs between the recordings and a fresh server, each with its reason.
 * Nothing else is ignored.
 */
export const LIVE_NOISE: readonly { rule: string; why: string }[] = [
  {
    rule: "field:time",
    why: "the recordings were made on another machine at another load: a command 10 times " +
      "slower here is not a protocol regression",
  },
];

const ROOT = new URL("../../", import.meta.url);

interface Case {
  name: string;
  path: string;
  setup: string;
  spec: Pick<RecordingSpec, "login" | "otherLogins" | "ed25519">;
  redactKey?: string;
}

const CASES: Case[] = [
  ...RECORDINGS.map((spec) => ({
    name: `recordings/${spec.name}.jsonl`,
    path: fileURLToPath(new URL(`recordings/${spec.name}.jsonl`, ROOT)),
    setup: setupScript(spec),
    spec,
  })),
  ...["catalog", "orders"].map((name) => ({
    name: `examples/shop/cassettes/${name}.jsonl`,
    path: fileURLToPath(new URL(`examples/shop/cassettes/${name}.jsonl`, ROOT)),
    setup: `DROP DATABASE IF EXISTS shop;\n${shopSchema()}\n` +
      `CREATE OR REPLACE USER '${SHOP_LOGIN.user}'@'%' IDENTIFIED BY '${SHOP_LOGIN.password}';\n` +
      `GRANT SELECT, INSERT, UPDATE ON shop.* TO '${SHOP_LOGIN.user}'@'%';`,
    spec: { login: SHOP_LOGIN },
    redactKey: "example-shop",
  })),
];

for (const { name, path, setup, spec, redactKey } of CASES) {
  liveTest(`${name} verifies against a fresh MariaDB with the same data`, async (db) => {
    if (spec.ed25519 && !db.ed25519) throw new Error("The test MariaDB has no auth_ed25519");
    await db.sql(setup);
    const users: Record<string, string> = { [spec.login.user]: spec.login.password };
    for (const login of Object.values(spec.otherLogins ?? {})) users[login.user] = login.password;
    const report = await verify(path, {
      server: `${db.hostname}:${db.port}`,
      user: spec.login.user,
      password: spec.login.password,
      users,
      ignore: LIVE_NOISE.map((n) => n.rule),
      redactKey,
    });
    assertNoRegressions(report);
  });
}
