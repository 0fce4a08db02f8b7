import { equal, throws } from "node:assert/strict";
import { V8_FLAGS, v8FlagsArgument } from "./v8_flags.ts";

// Goal: the shipped flags reach deno as one well-formed `--v8-flags=` argument, and a flag that
// argument cannot carry is refused rather than split into two.

Deno.test("v8FlagsArgument() joins the flags with commas into one deno argument", () => {
  equal(
    v8FlagsArgument(["--heap-growing-percent=70", "--max-semi-space-size=8"]),
    "--v8-flags=--heap-growing-percent=70,--max-semi-space-size=8",
  );
  equal(v8FlagsArgument([]), undefined, "no flags: no argument at all");
  const shipped = V8_FLAGS.length === 0 ? undefined : `--v8-flags=${V8_FLAGS.join(",")}`;
  equal(v8FlagsArgument(), shipped, "the shipped flags by default (none: no argument)");
});

Deno.test("v8FlagsArgument() refuses what deno's --v8-flags cannot carry", () => {
  throws(() => v8FlagsArgument(["--a=1,2"]), /deno can carry/, "a comma would split the flag");
  throws(() => v8FlagsArgument(["heap-growing-percent=70"]), /deno can carry/, "not a flag");
  throws(() => v8FlagsArgument(["--a b"]), /deno can carry/, "whitespace");
});

Deno.test("the shipped flags are accepted by this deno's V8", async () => {
  // V8 prints "Error: unrecognized flag" (and goes on) for a flag it does not know; a flag that
  // only exists in another V8 version would then silently do nothing.
  const argument = v8FlagsArgument();
  if (argument === undefined) return;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", argument, "0"],
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  equal(code, 0, text);
  equal(/unrecognized|error/i.test(text), false, text);
});
