/**
 * CPU time of three restart phases, in-process, on a copy of a detcd data dir: the WAL read from
 * the newest snapshot (`Wal.open` + `readAll`), the backend open (with the free-page walk of a db
 * whose freelist is not persisted), and the store's key index rebuild (`new KvStore`).
 *
 *     cp -a /tmp/restart-data/detcd-1024m-100000/data /tmp/phase-data && sync
 *     deno run -A bench/restart_phases.ts /tmp/phase-data
 *
 * The data dir is opened for writing (the WAL's tail may be repaired, the backend commits its
 * buckets): give it a copy. `bench/restart.ts` builds the data dir and times whole restarts.
 *
 * @module
 */

import process from "node:process";
import { openBackend } from "../backend/mod.ts";
import { KvStore } from "../mvcc/mod.ts";
import { parseSnapName, Snapshotter } from "../snap/mod.ts";
import { Wal } from "../wal/mod.ts";

function _phase<T>(label: string, run: () => T): T {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const result = run();
  const used = process.cpuUsage(cpu);
  console.log(
    `${label}: CPU ${((used.user + used.system) / 1000).toFixed(0)} ms, wall ${
      (performance.now() - wall).toFixed(0)
    } ms`,
  );
  return result;
}

async function main(): Promise<void> {
  const dir = Deno.args[0];
  if (dir === undefined) throw new Error("usage: restart_phases.ts DATA_DIR");
  const snapshotter = new Snapshotter(`${dir}/member/snap`);
  const newest = snapshotter.snapNames().map(parseSnapName).find((p) => p !== undefined);
  const at = newest === undefined ? { index: 0, term: 0 } : newest;
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const wal = await Wal.open(`${dir}/member/wal`, { index: at.index, term: at.term });
  const contents = await wal.readAll();
  const used = process.cpuUsage(cpu);
  console.log(
    `WAL read from index ${at.index} (${contents.entries.length} entries): CPU ${
      ((used.user + used.system) / 1000).toFixed(0)
    } ms, wall ${(performance.now() - wall).toFixed(0)} ms`,
  );
  await wal.close();
  const backend = _phase("backend open", () => openBackend({ path: `${dir}/member/snap/db` }));
  const store = _phase("key index rebuild", () => new KvStore(backend));
  console.log(`store at revision ${store.rev}, consistent index ${store.consistentIndex()}`);
  store.close();
  backend.close();
}

if (import.meta.main) await main();
