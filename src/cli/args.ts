/**
 * Argument parsing shared by the subcommands: `node:util` parseArgs with errors a human can act on.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** A usage error: the CLI prints it with the subcommand's help hint and exits 2. */
export class UsageError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses `args` strictly; unknown options and missing values become {@link UsageError}s. */
export function parse<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** Parses a positive integer option value. */
export function positiveInteger(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) {
    throw new UsageError(`Option --${name} needs a positive integer, got "${value}"`);
  }
  return number;
}
