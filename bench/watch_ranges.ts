/**
 * Lookup cost of range watchers: `WatcherGroup.watchersFor` with N range watchers on distinct
 * ranges (each key covered by few of them), in this checkout and optionally another one.
 *
 *   deno run -A bench/watch_ranges.ts [OTHER_CHECKOUT_DIR]
 *
 * Prints nanoseconds per lookup for N = 100, 1,000, 10,000.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any
const dirs = [new URL("..", import.meta.url).pathname, ...Deno.args];

async function measure(dir: string, n: number): Promise<number> {
  const mod: any = await import(`file://${dir.replace(/\/$/, "")}/mvcc/watcher_group.ts`);
  const group = new mod.WatcherGroup();
  const pad = (i: number) => String(i).padStart(6, "0");
  const sink = { trySend: () => true, trySendShared: () => true };
  for (let i = 0; i < n; i++) {
    // [k<i>, k<i+3>): every key is covered by about three ranges.
    group.add(new mod.Watcher(i, `k${pad(i)}`, `k${pad(i + 3)}`, 0, [], false, sink));
  }
  const lookups = 20_000;
  let found = 0;
  for (let i = 0; i < 5000; i++) found += group.watchersFor(`k${pad(i % n)}`).length; // warm up
  const started = performance.now();
  for (let i = 0; i < lookups; i++) found += group.watchersFor(`k${pad((i * 7919) % n)}`).length;
  const elapsedMs = performance.now() - started;
  if (found === 0) throw new Error("no watcher found");
  return (elapsedMs * 1e6) / lookups;
}

for (const dir of dirs) {
  const row: string[] = [];
  for (const n of [100, 1_000, 10_000]) {
    row.push(`N=${n}: ${(await measure(dir, n)).toFixed(0)} ns`);
  }
  console.log(`${dir}\n  ${row.join("  ")}`);
}
