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
 * Usage: deno task compile [extra deno compile flags]
 *
 * @module
 */

/** Files of npm packages that `deno compile` must not embed, relative to the npm cache. */
const EXCLUDED = ["registry.npmjs.org/bintrees/1.0.2/test"];

/** Worker entry points, embedded beside main.ts. */
const WORKERS = ["auth/bcrypt_worker.ts"];

const info = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "inherit" });
const { stdout, success } = await info.output();
if (!success) throw new Error("deno info --json failed");
const npmCache: string = JSON.parse(new TextDecoder().decode(stdout)).npmCache;

const args = [
  "compile",
  "--allow-all",
  "--output",
  "detcd",
  ...EXCLUDED.flatMap((path) => ["--exclude", `${npmCache}/${path}`]),
  ...WORKERS.flatMap((path) => ["--include", path]),
  ...Deno.args,
  "main.ts",
];
const compile = new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" });
const { code } = await compile.output();
Deno.exit(code);
