// Goal: the cobra/pflag-shaped parser accepts etcd's spellings (`--f v`, `--f=v`, bare bools,
// flags after the subcommand word, repeated slice flags) and refuses unknown flags and bad
// values with exit status 2.
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { FlagError, type FlagSpec, parseFlags } from "./flags.ts";

const SPECS: Record<string, FlagSpec> = {
  name: { kind: "string", default: "x", usage: "" },
  on: { kind: "bool", default: "false", usage: "" },
  count: { kind: "int", default: "3", usage: "" },
  delay: { kind: "duration", default: "1m0s", usage: "" },
  items: { kind: "list", default: "a,b", usage: "" },
};

Deno.test("parseFlags() reads both spellings, bare bools and the subcommand word", () => {
  const { values, positional } = parseFlags(
    ["--name", "n", "start", "--on", "--count=7", "--items=c", "--items", "d,e", "-delay=2s"],
    SPECS,
  );
  deepStrictEqual(positional, ["start"]);
  strictEqual(values.text("name"), "n");
  strictEqual(values.bool("on"), true);
  strictEqual(values.int("count"), 7);
  strictEqual(values.durationMs("delay"), 2000);
  deepStrictEqual(values.list("items"), ["c", "d", "e"]);
  strictEqual(values.given("name"), true);
});

Deno.test("parseFlags() gives defaults and accepts an empty value", () => {
  const { values } = parseFlags(["--name", ""], SPECS);
  strictEqual(values.text("name"), "");
  strictEqual(values.int("count"), 3);
  deepStrictEqual(values.list("items"), ["a", "b"]);
  strictEqual(values.bool("on"), false);
  strictEqual(parseFlags(["--on=false"], SPECS).values.bool("on"), false);
});

Deno.test("parseFlags() refuses unknown flags, missing arguments and bad values", () => {
  for (const args of [["--nope"], ["--name"], ["--count=x"], ["--on=maybe"], ["--delay=5"]]) {
    throws(() => parseFlags(args, SPECS), (error: unknown) => {
      return error instanceof FlagError && error.exitCode === 2;
    });
  }
});
