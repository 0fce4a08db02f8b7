/**
 * auth: the auth store's on-disk schema. Users, roles, tokens and permission checks are not
 * implemented yet; the Auth API answers UNIMPLEMENTED.
 *
 * @module
 */

export {
  AUTH_BUCKET,
  AUTH_REVISION_KEY,
  AUTH_ROLES_BUCKET,
  AUTH_USERS_BUCKET,
  authRevision,
  ensureAuthBuckets,
} from "./buckets.ts";
