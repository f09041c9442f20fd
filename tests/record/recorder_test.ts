/**
 * `record()` without a database: against a server that never greets, an unreachable one, and
 * with files it cannot create; and `record` choosing its default file name.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRecordingPath, record } from "../../src/record/recorder.ts";
import { readRecording } from "../../src/record/reader.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;

async function events(path: string): Promise<Record<string, unknown>[]> {
  const out = [];
  for await (const { event } of readRecording(path)) {
    out.push(event as unknown as Record<string, unknown>);
  }
  return out;
}

/** A free TCP port nobody listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("record() writes the header with null server fields when the server never greets", async () => {
  const dir = await Deno.makeTempDir();
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) accepted.push(conn);
  })();
  try {
    const path = join(dir, "silent.jsonl");
    const recording = await record({
      listen: "127.0.0.1:0",
      server: `127.0.0.1:${(silent.addr as Deno.NetAddr).port}`,
      out: path,
    });
    const client = await Deno.connect({ hostname: recording.hostname, port: recording.port });
    await new Promise((resolve) => setTimeout(resolve, 1300));
    const early = await Deno.readTextFile(path);
    assert.match(early, /^\{"type":"header".*"version":null/, "the header waits ~1 s at most");
    client.close();
    await recording.close();
    const written = await events(path);
    assert.deepEqual(written.map((e) => e.type), ["header", "open", "close"]);
    assert.deepEqual((written[0].server as Record<string, unknown>).version, null);
    assert.equal(
      (written[0].server as Record<string, unknown>).address,
      `127.0.0.1:${(silent.addr as Deno.NetAddr).port}`,
    );
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    silent.close();
    await accepting;
    for (const conn of accepted) conn.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record() records the connection of a client whose server is unreachable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "unreachable.jsonl");
    await using recording = await record({
      listen: "127.0.0.1:0",
      server: `127.0.0.1:${closedPort()}`,
      out: path,
    });
    const client = await Deno.connect({ hostname: recording.hostname, port: recording.port });
    const buffer = new Uint8Array(512);
    const n = await client.read(buffer);
    assert.ok(n !== null && buffer[4] === 0xff, "the client gets an ERR packet");
    client.close();
    await recording.close();
    const written = await events(path);
    assert.deepEqual(written.map((e) => e.type), ["header"], "no connection reached the server");
    assert.deepEqual(recording.stats().connections, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record() fails before listening when the file cannot be created, and leaves no file when it cannot listen", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => record({ listen: "127.0.0.1:0", out: join(dir, "missing", "x.jsonl") }),
      /Cannot create the recording .*x\.jsonl: the directory .*missing does not exist/,
    );
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const path = join(dir, "busy.jsonl");
      await assert.rejects(() =>
        record({ listen: `127.0.0.1:${(busy.addr as Deno.NetAddr).port}`, out: path })
      );
      await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound);
    } finally {
      busy.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("defaultRecordingPath() names a recording after its local start time", () => {
  assert.equal(
    defaultRecordingPath(new Date(2026, 10, 21, 9, 5, 7)),
    join("recordings", "20261121-090507.jsonl"),
  );
});

Deno.test("record CLI: without --out it creates recordings/<date>-<time>.jsonl under the current directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MOD,
        "record",
        "--listen",
        "127.0.0.1:0",
        "--server",
        `127.0.0.1:${closedPort()}`,
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    let stdout = "";
    while (!stdout.includes("Listening on")) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += new TextDecoder().decode(value);
    }
    child.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += new TextDecoder().decode(value);
    }
    await child.stderr.cancel();
    assert.equal((await child.status).code, 0);
    const match = /^Recording to (recordings\/\d{8}-\d{6}\.jsonl)$/m.exec(stdout);
    assert.ok(match, stdout);
    const stat = await Deno.stat(join(dir, match[1]));
    assert.equal(stat.mode! & 0o777, 0o600);
    assert.match(stdout, /^Recorded 0 connections, 0 commands to recordings\//m);
    const header = JSON.parse((await Deno.readTextFile(join(dir, match[1]))).split("\n")[0]);
    assert.equal(header.type, "header");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
