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
 * `--max-semi-space-size=4`: V8's young generation stops growing at 4 MiB per semi-space instead
 * of V8's default maximum, which a put load reaches. Round 8 (docs/memory.md "RSS under load and
 * V8's memory-saver mode, round 8"): RSS under load 0.85x at 100,000 keys and 0.87x at 300,000
 * revisions, CPU per request 0.92-1.01x on the four put rows in both orders (3 pairs each); on a
 * quiet machine CPU per request above idle x1.11, x1.04 and x0.99 on single-put-1x1 (three sets
 * of 3 pairs, both orders) and x0.94 on single-watch-1000 (that section, the lead's check).
 *
 * Tried and not shipped: round 7's `--efficiency-mode` (the 1-client put rows lost 5-9% of their
 * rate, docs/performance.md "V8 and Deno flags for CPU per put: round 7"); round 6's memory
 * balancer and growing caps, and round 8's `--heap-growing-percent=30` with this flag (V8's
 * memory-saver mode in plain flags, RSS under load at etcd's level), each 8-30% more CPU per
 * request on some put row: an operator's trade, which `DENO_V8_FLAGS` (deno run) or
 * `deno task compile --v8-flags=...` can make, not a default.
 */
export const V8_FLAGS: readonly string[] = ["--max-semi-space-size=4"];

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
