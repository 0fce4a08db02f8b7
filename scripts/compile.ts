/**
 * `deno task compile`: builds the one-file executable `detcd` from main.ts.
 *
 * The npm package `bintrees` (a dependency of prom-client's `tdigest`) ships extensionless test
 * data files, 100,000 lines of signed integers each. `deno compile` parses every file of a
 * package it embeds, reads such a file as one script whose lines chain into a single binary
 * expression (`1\n-2\n3` is `1 - 2` then `3`...), and overflows its parser's stack. Those files
 * are never loaded at run time, so they are left out of the executable. The path depends on where
 * Deno keeps its npm cache, which `deno info --json` reports.
 *
 * Workers are separate entry points that `deno compile` cannot find by itself: each is named
 * with `--include` (the auth store hashes passwords on worker threads).
 *
 * The V8 flags detcd ships with (embed/v8_flags.ts) are baked in with `--v8-flags`: a compiled
 * binary applies them at every start and does not read `DENO_V8_FLAGS`.
 *
 * Usage: deno task compile [extra deno compile flags]
 *
 * @module
 */

import { v8FlagsArgument } from "../embed/mod.ts";

/** Files of npm packages that `deno compile` must not embed, relative to the npm cache. */
const EXCLUDED = ["registry.npmjs.org/bintrees/1.0.2/test"];

/** Worker entry points, embedded beside main.ts. */
const WORKERS = ["auth/bcrypt_worker.ts"];

/**
 * The arguments of `deno compile`: `npmCache` is Deno's npm cache directory, `extra` the caller's
 * own flags (after the shipped V8 flags, so that a `--v8-flags=...` of theirs is applied later
 * and wins for the same flag).
 */
export function compileArgs(npmCache: string, extra: readonly string[]): string[] {
  const v8 = v8FlagsArgument();
  return [
    "compile",
    "--allow-all",
    "--output",
    "detcd",
    ...(v8 === undefined ? [] : [v8]),
    ...EXCLUDED.flatMap((path) => ["--exclude", `${npmCache}/${path}`]),
    ...WORKERS.flatMap((path) => ["--include", path]),
    ...extra,
    "main.ts",
  ];
}

if (import.meta.main) {
  const info = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "inherit" });
  const { stdout, success } = await info.output();
  if (!success) throw new Error("deno info --json failed");
  const npmCache: string = JSON.parse(new TextDecoder().decode(stdout)).npmCache;
  const args = compileArgs(npmCache, Deno.args);
  const compile = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: "inherit",
  });
  const { code } = await compile.output();
  Deno.exit(code);
}
