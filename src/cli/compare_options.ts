/**
 * The options `proxy` takes for `--compare` (kept apart from proxy_compare.ts so that proxy.ts
 * can list them without importing what imports it).
 *
 * @module
 */

/**
 * The options `proxy` takes for comparing.
 *
 * @example
 * ```ts
 * import { COMPARE_OPTIONS } from "./compare_options.ts";
 * console.assert(COMPARE_OPTIONS.compare.type === "string");
 * ```
 */
export const COMPARE_OPTIONS = {
  compare: { type: "string" },
  ignore: { type: "string", multiple: true },
  noise: { type: "string" },
  ordered: { type: "boolean", default: false },
  report: { type: "string" },
} as const;

/** Help lines of {@link COMPARE_OPTIONS}. */
export const COMPARE_OPTIONS_HELP =
  `  --compare FILE          compare every answer with the matching exchange of this recording
                          (replay's matching rules); differences are logged as they happen and
                          reported on exit, which is then 4 if any was found
  --ignore RULE           with --compare: noise to ignore, repeatable (as for verify)
  --noise FILE            with --compare: noise rules from a JSON file
  --ordered               with --compare: compare rows in order even without ORDER BY
  --report FILE           with --compare: write the report as JSON on exit`;
