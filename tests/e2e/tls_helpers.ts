/**
 * The mariadb CLI as the TLS tests run it: TCP to 127.0.0.1, no option files, batch output.
 *
 * @module
 */

/** What the CLI printed and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `binary` (the mariadb CLI) against 127.0.0.1:`port` with `args`, executing `sql`.
 *
 * @example
 * ```ts ignore
 * const run = await mariadbCli(db.bin.mariadb, proxy.port, ["--ssl", "--user=u"], "SELECT 1");
 * ```
 */
export async function mariadbCli(
  binary: string,
  port: number,
  args: string[],
  sql: string,
): Promise<CliRun> {
  const { code, stdout, stderr } = await new Deno.Command(binary, {
    args: [
      "--no-defaults",
      "--protocol=TCP",
      "-h",
      "127.0.0.1",
      "-P",
      String(port),
      "--connect-timeout=10",
      "--batch",
      ...args,
      "-e",
      sql,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}
