/**
 * The auth store's buckets, as etcd 3.4's `auth.NewAuthStore` lays them out on every start:
 * `auth` (with `authEnabled` and `authRevision`), `authUsers` and `authRoles`.
 *
 * detcd does not serve the Auth API yet, but it keeps the same schema so that a db file it
 * writes is the same set of buckets and keys as etcd's: `etcdctl snapshot status` counts them,
 * and an etcd started on our data dir finds its auth revision where it expects it.
 *
 * @module
 */

import type { Backend } from "../backend/mod.ts";
import { reportAuthRevision } from "./metrics.ts";

const _ASCII = new TextEncoder();

/** Bucket names (etcd `auth/store.go`). */
export const AUTH_BUCKET: Uint8Array = _ASCII.encode("auth");
/** Users, keyed by name, valued by `authpb.User`. */
export const AUTH_USERS_BUCKET: Uint8Array = _ASCII.encode("authUsers");
/** Roles, keyed by name, valued by `authpb.Role`. */
export const AUTH_ROLES_BUCKET: Uint8Array = _ASCII.encode("authRoles");
/** The key of the auth revision: 8 bytes, big-endian. */
export const AUTH_REVISION_KEY: Uint8Array = _ASCII.encode("authRevision");

/** Reads the auth revision (0 when the key is missing, as on a fresh db). */
export function authRevision(backend: Backend): number {
  const { values } = backend.readTx().unsafeRange(AUTH_BUCKET, AUTH_REVISION_KEY, undefined, 0);
  const value = values[0];
  if (value === undefined) return 0;
  if (value.length !== 8) throw new Error(`auth: authRevision holds ${value.length} bytes, not 8`);
  return Number(new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0, false));
}

/**
 * Creates the auth buckets if missing and, on a fresh db, writes auth revision 1 as etcd does
 * (its first `commitRevision`), then commits.
 */
export function ensureAuthBuckets(backend: Backend): void {
  reportAuthRevision(() => authRevision(backend));
  const tx = backend.batchTx;
  tx.lock();
  try {
    tx.unsafeCreateBucket(AUTH_BUCKET);
    tx.unsafeCreateBucket(AUTH_USERS_BUCKET);
    tx.unsafeCreateBucket(AUTH_ROLES_BUCKET);
    const { values } = tx.unsafeRange(AUTH_BUCKET, AUTH_REVISION_KEY, undefined, 0);
    if (values.length === 0) {
      const revision = new Uint8Array(8);
      new DataView(revision.buffer).setBigUint64(0, 1n, false);
      tx.unsafePut(AUTH_BUCKET, AUTH_REVISION_KEY, revision);
    }
  } finally {
    tx.unlock();
  }
  backend.forceCommit();
}
