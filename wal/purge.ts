/**
 * Purge of old WAL segments: keep the newest `maxWals` segments (etcd's `--max-wals`, default
 * 5), removing older ones only while no WAL holds them locked. A live WAL keeps every segment
 * from its last snapshot on locked (see `Wal.releaseLockTo`), so a purge never removes a
 * segment that is still needed, exactly as etcd's fileutil.PurgeFile.
 *
 * @module
 */

import { join } from "node:path";
import { readWalNames } from "./names.ts";

/** etcd's default for `--max-wals`. */
export const MAX_WALS_DEFAULT = 5;

/** Removes the oldest segments of `dir` beyond `maxWals`, stopping at the first locked one. */
export async function purgeWals(
  dir: string,
  maxWals: number = MAX_WALS_DEFAULT,
): Promise<string[]> {
  if (!(maxWals >= 0)) throw new RangeError("wal: maxWals must be >= 0");
  const names = readWalNames(dir);
  const removed: string[] = [];
  while (names.length > maxWals) {
    const name = names[0]!;
    const path = join(dir, name);
    const file = await Deno.open(path, { read: true, write: true });
    try {
      if (!(await file.tryLock(true))) break;
      await Deno.remove(path);
    } finally {
      file.close();
    }
    names.shift();
    removed.push(name);
  }
  return removed;
}
