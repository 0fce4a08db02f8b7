import { deepEqual, equal, ok } from "node:assert/strict";
import { v8FlagsArgument } from "../embed/mod.ts";
import { compileArgs } from "./compile.ts";

// Goal: the executable `deno task compile` builds carries the V8 flags detcd ships with (a
// compiled binary ignores DENO_V8_FLAGS, so only what is baked in applies), and a caller's own
// --v8-flags comes after them, so that it wins. Method: the argument list, not a build (one
// takes minutes).

Deno.test("compileArgs() bakes in the shipped V8 flags before the caller's flags", () => {
  const args = compileArgs("/cache", ["--v8-flags=--no-efficiency-mode", "--target", "x"]);
  const shipped = v8FlagsArgument();
  equal(args[0], "compile");
  equal(args.at(-1), "main.ts", "the entry point comes last");
  deepEqual(args.slice(-4, -1), ["--v8-flags=--no-efficiency-mode", "--target", "x"]);
  if (shipped !== undefined) {
    const at = args.indexOf(shipped);
    ok(at > 0, `${shipped} is missing from ${args.join(" ")}`);
    ok(at < args.indexOf("--v8-flags=--no-efficiency-mode"), "the caller's flags win");
  }
  ok(args.includes("--exclude") && args.includes("/cache/registry.npmjs.org/bintrees/1.0.2/test"));
  ok(args.includes("auth/bcrypt_worker.ts"), "the worker entry point is embedded");
});
