/**
 * Purge of old snap files: keep the newest `maxSnapshots` `.snap` files (etcd's
 * `--max-snapshots`, default 5), remove the rest, oldest first.
 *
 * @module
 */

import { join } from "node:path";

/** etcd's default for `--max-snapshots`. */
export const MAX_SNAPSHOTS_DEFAULT = 5;

/** Removes all but the newest `maxSnapshots` snap files in `dir`; returns the names removed. */
export function purgeSnaps(dir: string, maxSnapshots: number = MAX_SNAPSHOTS_DEFAULT): string[] {
  if (!(maxSnapshots >= 0)) throw new RangeError("snap: maxSnapshots must be >= 0");
  const names: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isFile && entry.name.endsWith(".snap")) names.push(entry.name);
  }
  names.sort();
  const removed: string[] = [];
  while (names.length > maxSnapshots) {
    const name = names.shift()!;
    Deno.removeSync(join(dir, name));
    removed.push(name);
  }
  return removed;
}
