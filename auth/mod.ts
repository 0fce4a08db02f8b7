/**
 * auth: access control as etcd 3.4 has it. The store (`store.ts`: users, roles, key
 * permissions, the enabled flag and the auth revision, in etcd's buckets and authpb
 * encoding), the merged permission cache (`range_perm.ts`), and the token schemes: `simple`
 * (`simple_token.ts`) and `jwt` (`jwt.ts`), chosen by `--auth-token` (`newTokenProvider`).
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
export * from "./errors.ts";
export {
  AuthStore,
  type AuthStoreOptions,
  BCRYPT_COST_DEFAULT,
  BCRYPT_COST_MAX,
  BCRYPT_COST_MIN,
  type PermissionRequest,
  ROOT_ROLE,
  ROOT_USER,
  type UserAddRequest,
} from "./store.ts";
export {
  compareAffine,
  IntervalSet,
  permissionInterval,
  UnifiedPermissions,
} from "./range_perm.ts";
export type { AssignParams, AuthInfo, TokenOptions, TokenProvider } from "./token.ts";
export { parseTokenOptions } from "./token.ts";
export { type SimpleTokenOptions, SimpleTokenProvider } from "./simple_token.ts";
export type { JwtOptions, JwtTokenProvider } from "./jwt.ts";
export {
  newJwtProvider,
  newTokenProvider,
  type NewTokenProviderOptions,
  NopTokenProvider,
} from "./provider.ts";
