/**
 * A recording that cannot be written (a real ENOSPC: a 256 KiB tmpfs, mounted when the test runs as
 * root; ignored otherwise): the proxy keeps relaying, says so once at once and again at exit, and
 * with `--on-record-error refuse` refuses new connections with ERR 1053 naming why.
 */
import assert from "node:assert/strict";
import mysql from "mysql2/promise";
import { record } from "../../mod.ts";
import { liveTest, type MariaDB, unavailableTest } from "../helpers/mariadb.ts";
import { captureLogger } from "../fuzz/net.ts";
import { startCli } from "./cli.ts";

/** Mounts a small tmpfs; undefined when this process may not (not root, no mount). */
async function smallDisk(): Promise<
  { dir: string; [Symbol.asyncDispose](): Promise<void> } | undefined
> {
  const dir = await Deno.makeTempDir({ prefix: "disk-full-" });
  try {
    const { code } = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).output();
    if (code === 0) {
      return {
        dir,
        async [Symbol.asyncDispose]() {
          await new Deno.Command("umount", { args: [dir] }).output();
          await Deno.remove(dir, { recursive: true });
        },
      };
    }
  } catch {
    // no mount binary
  }
  await Deno.remove(dir, { recursive: true });
  return undefined;
}

const CAN_MOUNT = await (async () => {
  if (Deno.uid() !== 0) return false;
  const disk = await smallDisk();
  await disk?.[Symbol.asyncDispose]();
  return disk !== undefined;
})();

/**
 * A live test that needs the small disk; when it cannot be mounted: ignored with the reason, and
 * under CI=true a failure (CI runs as root).
 */
function diskTest(name: string, fn: (db: MariaDB) => Promise<void>): void {
  if (CAN_MOUNT) liveTest(name, fn, { timeoutMs: 60_000 });
  else unavailableTest(name, "needs root to mount a tmpfs");
}

/** Queries whose recording outgrows 256 KiB; every answer must still arrive. */
async function fillDisk(db: MariaDB, port: number): Promise<void> {
  const { user, password } = db.users.native;
  const conn = await mysql.createConnection({ host: "127.0.0.1", port, user, password });
  try {
    for (let i = 0; i < 40; i++) {
      const [rows] = await conn.query(`SELECT ${i} AS i, REPEAT('x', 20000) AS v`);
      assert.equal((rows as { i: number; v: string }[])[0].v.length, 20000);
      // Let the writer's 20 ms flush run now and then.
      if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 30));
    }
  } finally {
    await conn.end();
  }
}

/** record() into `dir` until its disk is full and the failure is logged. */
async function recordUntilFull(
  db: MariaDB,
  dir: string,
  log: ReturnType<typeof captureLogger>,
  onRecordError: "continue" | "refuse",
) {
  const recording = await record({
    listen: "127.0.0.1:0",
    server: `${db.hostname}:${db.port}`,
    out: `${dir}/full.jsonl`,
    logger: log.logger,
    onRecordError,
  });
  try {
    await fillDisk(db, recording.port);
    await log.waitFor("recording-failed", 1);
  } catch (error) {
    await recording.close().catch(() => {});
    throw error;
  }
  return recording;
}

diskTest(
  "record(): disk full stops the recording with one error line; relaying goes on",
  async (db) => {
    await using disk = await smallDisk();
    const log = captureLogger();
    const recording = await recordUntilFull(db, disk!.dir, log, "continue");
    try {
      // Still relaying after the failure, new connections included.
      await fillDisk(db, recording.port);
      assert.match(recording.stats().error ?? "", /No space left on device/);
    } finally {
      await assert.rejects(
        recording.close(),
        /Cannot write the recording .*No space left on device/,
      );
    }
    const failures = log.records.filter((r) => r.event === "recording-failed");
    assert.equal(failures.length, 1, "said once");
    assert.equal(failures[0].level, "error");
    assert.match(failures[0].message, /recording stopped, relaying goes on/);
  },
);

diskTest(
  "record(onRecordError: refuse): after the disk filled, new clients get ERR 1053 naming why",
  async (db) => {
    await using disk = await smallDisk();
    const log = captureLogger();
    const recording = await recordUntilFull(db, disk!.dir, log, "refuse");
    try {
      const { user, password } = db.users.native;
      await assert.rejects(
        mysql.createConnection({ host: "127.0.0.1", port: recording.port, user, password }),
        (error: { errno?: number; message: string }) =>
          error.errno === 1053 && /Recording stopped \(No space left on device/.test(error.message),
      );
      await log.waitFor("connection-refused", 1);
    } finally {
      await recording.close().catch(() => {});
    }
  },
);

diskTest(
  "record CLI: a failed recording is in the summary and the exit status is 1",
  async (db) => {
    await using disk = await smallDisk();
    const out = `${disk!.dir}/cli.jsonl`;
    const recorder = await startCli([
      ...["record", "--listen", "127.0.0.1:0", "--server", `${db.hostname}:${db.port}`],
      ...["--out", out, "--on-record-error", "refuse"],
    ]);
    await fillDisk(db, recorder.port);
    const { code, stdout, stderr: errors } = await recorder.stop();
    assert.equal(code, 1, errors);
    assert.match(stdout, /the recording is incomplete: No space left on device/);
    assert.match(errors, /ERROR Cannot write the recording .*recording stopped, relaying goes on/);
  },
);
