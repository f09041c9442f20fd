/**
 * The tool's version, printed by `--version` and written into recordings' headers.
 *
 * @module
 */

/** The tool's version (keep in step with deno.json). */
export const VERSION = "0.1.0";
