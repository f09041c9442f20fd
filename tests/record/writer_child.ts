/**
 * A process that records forever (for the SIGKILL test in writer_test.ts): lines of varied
 * sizes, some of them large, as fast as the writer takes them.
 *
 * @module
 */
import { createRecordingWriter } from "../../src/record/writer.ts";

const writer = await createRecordingWriter(Deno.args[0], {
  header: {
    created: new Date(),
    tool: "writer_child",
    serverAddress: "127.0.0.1:3306",
    redaction: { auth: true, sqlPasswords: true, rules: [] },
  },
});
writer.header();
for (let n = 0;; n++) {
  const size = n % 50 === 0 ? 300_000 : (n * 7919) % 2000;
  writer.emit({
    type: "command",
    conn: 1,
    t: n,
    us: [1, 2],
    cmd: "query",
    sql: `SELECT ${n}`,
    columns: 1,
    rows: [["x".repeat(size)]],
  });
  // Let the flusher run now and then, as a proxy's event loop would.
  if (n % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
}
