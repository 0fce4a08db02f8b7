/**
 * The V8 flags a detcd member runs with, in one place.
 *
 * V8 reads its flags once, before the first isolate starts, and freezes them: a member cannot
 * set them on itself. So every way of launching one carries them on deno's command line:
 * `scripts/compile.ts` bakes them into the executable (`deno compile --v8-flags=...`, which a
 * compiled binary applies at start; it ignores `DENO_V8_FLAGS`), `deno task start` and the
 * benchmark launchers pass them to `deno run`. Each of those reads {@link V8_FLAGS} (TypeScript
 * imports it; shell scripts run this file, which prints {@link v8FlagsArgument}), so that what
 * is measured is what operators run.
 *
 * Why these flags: see {@link V8_FLAGS}. The mechanism was built and measured with another flag
 * in docs/memory.md ("RSS under load: a shipped default, round 6").
 *
 * @module
 */

/**
 * None. Round 7 tried `--efficiency-mode` here (V8: "optimized for situations with no latency
 * requirements and uses fewer threads"): 0.80-0.83x CPU per put on the 1000-client put rows, but
 * on a quiet machine, in both orders, 1-client puts ran at 0.91-0.95x the rate with a p99 up to
 * 1.34x, the rows where detcd trails etcd; round 6's memory balancer costs 8-22% CPU on some put
 * rows (docs/performance.md "V8 and Deno flags for CPU per put: round 7", docs/memory.md "RSS
 * under load: a shipped default, round 6"). Round 8 brought RSS under load near etcd's with
 * `--heap-growing-percent=30` and `--max-semi-space-size=4` (the two heap-sizing parts of
 * `--memory-saver-mode` as plain flags), at 1.2-1.3x CPU per request on the 1000-client put rows:
 * an operator's trade, not a default (docs/memory.md "RSS under load and V8's memory-saver mode,
 * round 8"). The list stays the one place a flag would go.
 */
export const V8_FLAGS: readonly string[] = [];

/**
 * deno's argument that carries `flags`: `--v8-flags=a,b` (V8's own separator), or undefined
 * when there are none. A flag holding a comma could not be carried and is refused.
 */
export function v8FlagsArgument(flags: readonly string[] = V8_FLAGS): string | undefined {
  for (const flag of flags) {
    if (!flag.startsWith("--") || flag.includes(",") || /\s/.test(flag)) {
      throw new Error(`not a V8 flag deno can carry: ${JSON.stringify(flag)}`);
    }
  }
  return flags.length === 0 ? undefined : `--v8-flags=${flags.join(",")}`;
}

// Shell launchers: `deno run embed/v8_flags.ts` prints the argument (an empty line for none).
if (import.meta.main) console.log(v8FlagsArgument() ?? "");
