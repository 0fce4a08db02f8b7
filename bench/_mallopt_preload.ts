/**
 * A `--preload` for benchmarks: sets glibc malloc options through `mallopt` before detcd starts,
 * so that one checkout can be measured with and without them (bench/memory.ts's
 * `DETCD_DENO_FLAGS="--preload bench/_mallopt_preload.ts"`).
 *
 * `BENCH_MALLOPT`: comma-separated `PARAM=VALUE` pairs, PARAM the number glibc's malloc.h gives
 * it, e.g. `-8=2` (M_ARENA_MAX), `-1=131072` (M_TRIM_THRESHOLD), `-3=131072` (M_MMAP_THRESHOLD).
 * Each call's result is written to stderr; a call glibc refuses stops the process.
 *
 * @module
 */

const spec = Deno.env.get("BENCH_MALLOPT") ?? "";
const libc = Deno.dlopen("libc.so.6", {
  mallopt: { parameters: ["i32", "i32"], result: "i32" },
});
for (const pair of spec.split(",").filter((s) => s !== "")) {
  const [param, value] = pair.split("=").map(Number);
  if (param === undefined || value === undefined || !Number.isInteger(param + value)) {
    throw new Error(`BENCH_MALLOPT: bad pair ${pair}`);
  }
  const result = libc.symbols.mallopt(param, value);
  console.error(`bench mallopt(${param}, ${value}) = ${result}`);
  if (result !== 1) throw new Error(`mallopt(${param}, ${value}) refused`);
}
libc.close();
