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
 * `--efficiency-mode`: V8's efficiency mode, forced on (V8: "optimized for situations with no
 * latency requirements and uses fewer threads"; it also delays TurboFan's tier-up 3x). On this
 * 2-core machine, where members and clients compete for the cores, it measured 0.81x CPU per put
 * on the 1000-client put rows (8 of 8 interleaved pairs lower, both orders, single member and
 * 3 members), and was neutral on the 1-client rows (median 0.985 / 0.98 / 1.08 over 10 / 4 / 5
 * pairs, inside the noise of those rows) and on RSS (idle 76.5-78.9 MiB against 81.0-81.8,
 * under load within the runs' spread). docs/performance.md, "V8 and Deno flags for CPU per put:
 * round 7". The memory balancer of round 6 (docs/memory.md) is not in the list: it cost 8-22%
 * CPU on some put rows.
 */
export const V8_FLAGS: readonly string[] = ["--efficiency-mode"];

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
