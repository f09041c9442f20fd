/**
 * Running the CLI as a child process in hardening tests: a long-running subcommand (proxy, record,
 * replay) until its ready line, then stopped with SIGTERM and its whole output collected.
 *
 * @module
 */

const MOD = new URL("../../mod.ts", import.meta.url).pathname;

/** What a finished CLI process printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running long-lived subcommand. */
export interface RunningCli {
  /** The port its ready line names. */
  port: number;
  /** Its process id. */
  pid: number;
  /** SIGTERM (or `signal`), then everything it printed and its exit status. */
  stop(signal?: Deno.Signal): Promise<CliResult & { signal: Deno.Signal | null }>;
}

/**
 * Starts `deno run -A mod.ts ARGS` and resolves once stdout names the port it listens on
 * (`Listening on 127.0.0.1:PORT`, `... on 127.0.0.1:PORT`, or `"listen":"127.0.0.1:PORT"` with
 * `--json`).
 */
export async function startCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<RunningCli> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  let port: number | undefined;
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
    const match = stdout.match(/(?:on |"listen":")127\.0\.0\.1:(\d+)/);
    if (match) port = Number(match[1]);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      stdout += value;
    }
  })();
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
    const status = await child.status;
    await rest;
    return { code: status.code, signal: status.signal, stdout, stderr: await stderr };
  };
  if (port === undefined) {
    const result = await stop();
    throw new Error(`${args[0]} did not say where it listens:\n${result.stdout}\n${result.stderr}`);
  }
  return { port, pid: child.pid, stop };
}

/** Runs `deno run -A mod.ts ARGS` to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

/**
 * Logs in to a replay of `recordings/demo.jsonl` on `port` and runs its first recorded query;
 * resolves to the number of rows (4).
 */
export async function queryDemo(port: number): Promise<number> {
  const { default: mysql } = await import("mysql2/promise");
  const conn = await mysql.createConnection({
    host: "127.0.0.1",
    port,
    user: "app",
    password: "x",
    database: "shop",
  });
  try {
    const [rows] = await conn.query("SELECT id, name, price FROM products ORDER BY id");
    return (rows as unknown[]).length;
  } finally {
    await conn.end();
  }
}
