/**
 * Malformed recordings: `inspect` and `replay` name the file, the line and the problem (exit 1);
 * `replay --lenient` (and `replay(paths, { lenient: true })`) skips the bad lines with a warning
 * each and serves the rest. A last line cut short (a recording killed mid-write) is not an error
 * by default: dropped with a warning. A missing header or an unknown version stays fatal, lenient
 * or not: nothing in such a file can be trusted to mean what this tool thinks.
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { replay } from "../../mod.ts";
import { queryDemo, runCli, startCli } from "./cli.ts";

const DEMO = new URL("../../recordings/demo.jsonl", import.meta.url).pathname;
const LINES = Deno.readTextFileSync(DEMO).split("\n").filter((l) => l !== "");

/** The demo recording changed by `edit` (1-based lines), as text. */
function variant(edit: (lines: string[]) => string[]): string {
  return edit([...LINES]).join("\n") + "\n";
}

interface Case {
  name: string;
  text: string;
  /** Line and message the error must name; undefined for a file that is valid with a warning. */
  error?: { line: number; message: RegExp };
  /** With lenient, the warning that names the skipped line; undefined when still fatal. */
  lenient?: RegExp;
}

const CASES: Case[] = [
  {
    name: "invalid JSON",
    text: variant((l) => (l[16] = '{"conn":2,"t":40000,"cmd":"query","sql":', l)),
    error: { line: 17, message: /not valid JSON/ },
    lenient: /:17: not valid JSON .*line skipped/,
  },
  {
    name: "wrong version",
    text: variant((l) => (l[0] = l[0].replace('"version":1', '"version":2'), l)),
    error: { line: 1, message: /format version 2 is not supported/ },
  },
  {
    name: "missing header",
    text: variant((l) => l.slice(1)),
    error: { line: 1, message: /the first line must be the header/ },
  },
  {
    name: "unknown event",
    text: variant((l) => (l[7] = '{"type":"rewind","conn":1,"t":28000}', l)),
    error: { line: 8, message: /unknown event type "rewind"/ },
    lenient: /:8: unknown event type "rewind"; line skipped/,
  },
  {
    name: "columns used before they are defined",
    text: variant((l) => ([l[5], l[6]] = [l[6], l[5]], l)),
    error: { line: 6, message: /column set 1 is used before a "columns" line defines it/ },
    lenient: /:6: column set 1 is used before .*line skipped/,
  },
  {
    name: "a command after its connection's close",
    text: variant((l) => [...l, l[6]]),
    error: { line: 39, message: /connection 1 has a "command" line after its "close" line/ },
    lenient: /:39: connection 1 has a "command" line after its "close" line; line skipped/,
  },
  {
    name: "a connection opened twice",
    text: variant((l) => [...l, l[1]]),
    error: { line: 39, message: /connection 1 is opened twice|after its "close"/ },
    lenient: /:39: .*line skipped/,
  },
];

Deno.test("inspect and replay name the file, line and problem of a malformed recording; exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "malformed-" });
  try {
    await Promise.all(CASES.map(async (c, i) => {
      const path = `${dir}/case${i}.jsonl`;
      await Deno.writeTextFile(path, c.text);
      const expected = new RegExp(
        `${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:${c.error!.line}: ${
          c.error!.message.source
        }`,
      );
      for (const command of ["inspect", "replay"]) {
        const args = command === "replay" ? ["replay", "--listen", "127.0.0.1:0", path] : [
          "inspect",
          path,
        ];
        const { code, stderr } = await runCli(args);
        assert.equal(code, 1, `${command} on ${c.name}: exit ${code}\n${stderr}`);
        assert.match(stderr, expected, `${command} on ${c.name}`);
      }
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay(lenient) skips each bad line with a warning naming it and serves the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "malformed-" });
  try {
    for (const [i, c] of CASES.entries()) {
      const path = `${dir}/case${i}.jsonl`;
      await Deno.writeTextFile(path, c.text);
      const warnings: string[] = [];
      const loading = replay(path, {
        listen: "127.0.0.1:0",
        lenient: true,
        onWarning: (w) => warnings.push(w),
      });
      if (!c.lenient) {
        await assert.rejects(loading, c.error!.message, c.name);
        continue;
      }
      await using server = await loading;
      assert.ok(
        warnings.some((w) => c.lenient!.test(w)),
        `${c.name}: no warning matching ${c.lenient}:\n${warnings.join("\n")}`,
      );
      // What the bad line did not touch is served: the second connection's stock query.
      const conn = await mysql.createConnection({
        host: "127.0.0.1",
        port: server.port,
        user: "app",
        password: "x",
        database: "shop",
      });
      try {
        const [rows] = await conn.query(
          "SELECT id, name, price, stock FROM products ORDER BY id",
        );
        assert.equal((rows as unknown[]).length, 4, c.name);
      } finally {
        await conn.end();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay --lenient (CLI) serves a recording with a bad line, warning about it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "malformed-" });
  try {
    const path = `${dir}/bad.jsonl`;
    await Deno.writeTextFile(path, CASES[0].text);
    const replaying = await startCli(["replay", "--lenient", "--listen", "127.0.0.1:0", path]);
    assert.equal(await queryDemo(replaying.port), 4);
    const { stdout, stderr } = await replaying.stop();
    assert.match(stderr, new RegExp(`WARN .*bad\\.jsonl:17: not valid JSON.*line skipped`));
    assert.match(stdout, /^Replaying 9 recorded exchanges from /m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a last line cut short is not an error: inspect and replay warn and use the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "malformed-" });
  try {
    const path = `${dir}/cut.jsonl`;
    const text = Deno.readTextFileSync(DEMO);
    await Deno.writeTextFile(path, text.slice(0, text.length - 40));
    const inspected = await runCli(["inspect", path]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.match(inspected.stderr, /cut\.jsonl:38: the last line is cut short .*; ignored/);
    const warnings: string[] = [];
    await using server = await replay(path, {
      listen: "127.0.0.1:0",
      onWarning: (w) => warnings.push(w),
    });
    assert.ok(warnings.some((w) => /cut\.jsonl:38: the last line is cut short/.test(w)));
    assert.equal(server.stats().recorded, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
