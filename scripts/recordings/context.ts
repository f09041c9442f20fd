/**
 * What a recording session gets from the generator: where the recorder listens, the spec's
 * logins, the tools, a scratch directory, and small helpers to run programs.
 *
 * @module
 */

import type { RecordingSpec } from "./specs.ts";

/** The environment of one recording session. */
export interface SessionContext {
  /** The recording proxy: every client of the session connects here. */
  host: string;
  port: number;
  spec: RecordingSpec;
  /** The mariadb CLI. */
  mariadb: string;
  /** A scratch directory, deleted after the session. */
  dir: string;
  /** Prints a line of what the session saw (the generator's output). */
  log(line: string): void;
}

/** A session: the clients' traffic for one recording. */
export type Session = (context: SessionContext) => Promise<void>;

/** What a program printed. */
export interface ProgramOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to completion with `stdin` as its input; throws when it cannot start.
 *
 * @example
 * ```ts ignore
 * const { stdout } = await runProgram("mariadb", ["--version"]);
 * ```
 */
export async function runProgram(
  program: string,
  args: string[],
  options: { stdin?: string; cwd?: string } = {},
): Promise<ProgramOutput> {
  const child = new Deno.Command(program, {
    args,
    cwd: options.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(options.stdin ?? ""));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * The mariadb CLI against the recorder, as `login`, in batch mode; its output is logged.
 *
 * @example
 * ```ts ignore
 * await cli(context, context.spec.login, ["shop", "-e", "SELECT 1"]);
 * ```
 */
export async function cli(
  context: SessionContext,
  login: { user: string; password: string },
  args: string[],
  options: { stdin?: string; cwd?: string } = {},
): Promise<ProgramOutput> {
  const output = await runProgram(context.mariadb, [
    "--no-defaults",
    "--protocol=TCP",
    "-h",
    context.host,
    "-P",
    String(context.port),
    `-u${login.user}`,
    `-p${login.password}`,
    ...args,
  ], options);
  context.log((output.stdout + output.stderr).trimEnd());
  return output;
}

/** Runs `fn`, logging (not throwing) the error a session provokes on purpose. */
export async function expectError(
  context: SessionContext,
  what: string,
  fn: () => Promise<unknown>,
): Promise<void> {
  try {
    await fn();
  } catch (error) {
    context.log(`${what}: ${(error as Error).message}`);
    return;
  }
  throw new Error(`Expected an error from ${what}, got none`);
}
