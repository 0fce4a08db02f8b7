/**
 * Where a member keeps its WAL and snap files, as etcd lays out `--data-dir`:
 *
 * | flag          | default                 | holds                                         |
 * |---------------|-------------------------|-----------------------------------------------|
 * | `--data-dir`  | `${name}.etcd`          | `member/wal`, `member/snap` (and `snap/db`)   |
 * | `--wal-dir`   | `DATA/member/wal`       | WAL segments (etcd's dedicated WAL disk)      |
 * | `--snap-dir`  | `DATA/member/snap`      | `.snap` files (detcd's; etcd has no such flag)|
 *
 * The bolt db and the `.snap.db` files a follower receives stay in `DATA/member/snap` whatever
 * `--snap-dir` says: a received `.snap.db` is renamed onto `db`, and a rename cannot cross disks.
 *
 * @module
 */

import { join } from "node:path";

/** The flags that place a member's files. */
export interface MemberDirOptions {
  dataDir: string;
  walDir?: string | undefined;
  snapDir?: string | undefined;
}

/** The resolved directories of a member. */
export interface MemberDirs {
  /** `DATA/member`. */
  memberDir: string;
  /** WAL segments. */
  walDir: string;
  /** `.snap` files. */
  snapDir: string;
  /** The bolt db (`db`) and received `.snap.db` files. */
  dbDir: string;
}

/** Resolves `--data-dir`, `--wal-dir` and `--snap-dir` into directories (etcd's WALDir/SnapDir). */
export function memberDirs(options: MemberDirOptions): MemberDirs {
  const memberDir = join(options.dataDir, "member");
  const defaultSnap = join(memberDir, "snap");
  return {
    memberDir,
    walDir: options.walDir || join(memberDir, "wal"),
    snapDir: options.snapDir || defaultSnap,
    dbDir: defaultSnap,
  };
}
