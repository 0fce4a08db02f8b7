/**
 * CPU time of the phases of a restart, in-process, on a copy of a detcd data dir, in the order a
 * restarting member runs them: the newest snapshot's load, the WAL read from it (`Wal.open` +
 * `readAll`), the raft log (the MemoryStorage filled with the snapshot, hard state and entries, as
 * `server/bootstrap.ts` does), the bbolt open with its free-page walk (a db whose freelist is not
 * persisted, as etcd 3.4 writes it), the backend open, the store's key index rebuild
 * (`new KvStore`) and a first read (the probe key of `bench/restart.ts`, then the store's first key).
 *
 *     cp -a /tmp/restart-data/detcd-1024m-100000/data /tmp/phase-data && sync
 *     deno run -A bench/restart_phases.ts /tmp/phase-data [ROUNDS]
 *
 * With ROUNDS (default 1) above one, each phase after the WAL read runs that many times and
 * prints each time: the first round reads pages from the page cache as a restart does, the
 * later ones show how much a phase varies. The bbolt open is measured on its own and then again
 * inside the backend open, which it is part of.
 *
 * The data dir is opened for writing (the WAL's tail may be repaired, the backend commits its
 * buckets): give it a copy. `bench/restart.ts` builds the data dir and times whole restarts.
 *
 * @module
 */

import process from "node:process";
import { DB, openBackend } from "../backend/mod.ts";
import { KvStore } from "../mvcc/mod.ts";
import { MemoryStorage } from "../raft/mod.ts";
import { parseSnapName, Snapshotter } from "../snap/mod.ts";
import { Wal } from "../wal/mod.ts";

async function _phase<T>(label: string, run: () => T | Promise<T>): Promise<T> {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const result = await run();
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
  if (dir === undefined) throw new Error("usage: restart_phases.ts DATA_DIR [ROUNDS]");
  const rounds = Number(Deno.args[1] ?? "1");
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bad ROUNDS ${Deno.args[1]}`);
  const snapshotter = new Snapshotter(`${dir}/member/snap`);
  const positions = snapshotter.snapNames().map(parseSnapName).filter((p) => p !== undefined);
  const snapshot = await _phase(
    "snapshot load",
    () => positions.length === 0 ? undefined : snapshotter.loadNewestAvailable(positions),
  );
  const at = snapshot === undefined
    ? { index: 0, term: 0 }
    : { index: snapshot.metadata.index, term: snapshot.metadata.term };
  const wal = await Wal.open(`${dir}/member/wal`, at);
  const contents = await _phase(
    `WAL read from index ${at.index}`,
    () => wal.readAll(),
  );
  console.log(`  ${contents.entries.length} entries, commit ${contents.hardState.commit}`);
  await wal.close();
  const dbPath = `${dir}/member/snap/db`;
  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round}`);
    await _phase("  raft log (MemoryStorage)", () => {
      const storage = new MemoryStorage();
      if (snapshot !== undefined) storage.applySnapshot(snapshot);
      storage.setHardState(contents.hardState);
      storage.append(contents.entries);
      return storage;
    });
    const db = await _phase("  bbolt open", () => DB.open(dbPath));
    console.log(
      `    of which the free-page walk: ${
        db.stats.freelistLoadMs.toFixed(0)
      } ms wall, ${db.stats.freePageN} free pages`,
    );
    db.close();
    const backend = await _phase("  backend open", () => openBackend({ path: dbPath }));
    const store = await _phase("  key index rebuild", () => new KvStore(backend));
    // The key bench/restart.ts's probe reads, then the first key of the store.
    const probe = new TextEncoder().encode("bench-serving-probe");
    const first = await _phase("  first read", () => {
      store.range(probe, undefined);
      return store.range(new Uint8Array([0]), new Uint8Array(0), { limit: 1 }).kvs[0];
    });
    console.log(
      `    store at revision ${store.rev}, consistent index ${store.consistentIndex()}, first key ${
        first === undefined ? "none" : JSON.stringify(new TextDecoder().decode(first.key))
      }`,
    );
    store.close();
    backend.close();
  }
}

if (import.meta.main) await main();
