import { equal, ok } from "node:assert/strict";
import { v8FlagsArgument } from "../embed/mod.ts";

// Goal: every way this repository launches a member carries the V8 flags of embed/v8_flags.ts,
// taken from that one file rather than copied: `deno task start`, and the benchmark launchers
// whose numbers stand for what operators run (bench/memory.ts, bench/loadgen_ab.sh,
// bench/loadgen_compare.sh). The compiled binary is covered by scripts/compile_test.ts.
// Method: the shell launchers and the task print the flags by running embed/v8_flags.ts, so
// that output is checked against v8FlagsArgument(), and each launcher's source is checked for
// that call on the line that starts deno.

const ROOT = new URL("..", import.meta.url).pathname;
const read = (path: string) => Deno.readTextFileSync(`${ROOT}${path}`);

Deno.test("`deno run embed/v8_flags.ts` prints the shipped --v8-flags argument", async () => {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "embed/v8_flags.ts"],
    cwd: ROOT,
    stderr: "inherit",
  }).output();
  equal(code, 0);
  equal(new TextDecoder().decode(stdout).trim(), v8FlagsArgument() ?? "");
});

Deno.test("deno task start passes the shipped V8 flags to deno run, before main.ts", () => {
  const start: string = JSON.parse(read("deno.json")).tasks.start;
  const substitution = "$(deno run --quiet embed/v8_flags.ts)";
  ok(start.startsWith("deno run "), start);
  ok(start.includes(substitution), start);
  ok(start.indexOf(substitution) < start.indexOf("main.ts"), "deno flags go before the script");
});

Deno.test("the benchmark launchers start detcd with the shipped V8 flags", () => {
  const memory = read("bench/memory.ts");
  ok(/import \{[^}]*v8FlagsArgument[^}]*\} from "\.\.\/embed\/mod\.ts"/.test(memory));
  ok(
    /\.\.\.\(SHIPPED_V8_FLAGS === undefined \? \[\] : \[SHIPPED_V8_FLAGS\]\),\n.*\n.*\n\s*`\$\{ROOT\}main\.ts`/
      .test(memory),
    "bench/memory.ts",
  );
  const ab = read("bench/loadgen_ab.sh");
  ok(ab.includes("deno run --quiet embed/v8_flags.ts"), "loadgen_ab.sh reads the flags");
  ok(
    /cmd=\(deno run -A --quiet \$\{shipped:\+"\$shipped"\} .*main\.ts\)/.test(ab),
    "loadgen_ab.sh",
  );
  const compare = read("bench/loadgen_compare.sh");
  ok(compare.includes('SHIPPED_V8=$(cd "$ROOT" && deno run --quiet embed/v8_flags.ts)'));
  ok(/exec deno run -A --quiet \$SHIPPED_V8 main\.ts/.test(compare), "loadgen_compare.sh");
  ok(compare.includes("bin=$DETCD_WRAP"), "loadgen_compare.sh starts detcd through it");
});

Deno.test("the container image builds its binary with deno task compile", () => {
  // A bare `deno compile` there would leave the shipped V8 flags out of the image's binary.
  const dockerfile = read("deploy/Dockerfile");
  ok(/^RUN deno task compile && mv detcd \/detcd$/m.test(dockerfile), dockerfile);
  ok(!/^RUN deno compile/m.test(dockerfile), "no second compile command");
});
