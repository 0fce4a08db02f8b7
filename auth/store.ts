/**
 * The auth store (etcd 3.4's `auth/store.go`): users, roles and their key permissions in the
 * `authUsers` and `authRoles` buckets (authpb encoding, bcrypt password hashes), the enabled
 * flag and the auth revision in `auth`, the merged permissions of every user in memory
 * (`range_perm.ts`), and the token provider.
 *
 * Two kinds of method:
 *
 * - The changes (`userAdd`, `roleGrantPermission`, `authEnable`, ...) and `authenticate` run on
 *   the apply loop, synchronously, in the order raft commits them, the same on every member.
 *   Each change bumps the auth revision and rebuilds the permission cache, as etcd does.
 * - The checks (`isRangePermitted`, `isPutPermitted`, `isDeleteRangePermitted`,
 *   `isAdminPermitted`), `checkPassword` and `authInfoFromToken` run on the request path.
 *   Password hashing and comparing are asynchronous (bcryptjs yields to the event loop between
 *   rounds), so a slow bcrypt never stalls other clients.
 *
 * Errors are the `AuthError` values of `errors.ts`.
 *
 * @module
 */

import bcrypt from "bcryptjs";
import { createHmac, randomBytes } from "node:crypto";
import type { Backend, BatchTx } from "../backend/mod.ts";
import { authpb } from "../etcdserverpb/mod.ts";
import { equalBytes } from "../bytes/mod.ts";
import { AUTH_BUCKET, AUTH_REVISION_KEY, AUTH_ROLES_BUCKET, AUTH_USERS_BUCKET } from "./buckets.ts";
import {
  ErrAuthFailed,
  ErrAuthNotEnabled,
  ErrAuthOldRevision,
  ErrInvalidAuthMgmt,
  ErrNoPasswordUser,
  ErrPermissionDenied,
  ErrPermissionNotGranted,
  ErrRoleAlreadyExist,
  ErrRoleEmpty,
  ErrRoleNotFound,
  ErrRoleNotGranted,
  ErrRootRoleNotExist,
  ErrRootUserNotExist,
  ErrUserAlreadyExist,
  ErrUserEmpty,
  ErrUserNotFound,
} from "./errors.ts";
import { UnifiedPermissions } from "./range_perm.ts";
import { BcryptPool } from "./bcrypt_pool.ts";
import type { AssignParams, AuthInfo, TokenProvider } from "./token.ts";

const _utf8 = new TextEncoder();
const _text = new TextDecoder();
/** The value of `authEnabled` (etcd writes one byte). */
const _ENABLED = Uint8Array.of(1);
const _DISABLED = Uint8Array.of(0);
const _ENABLED_KEY = _utf8.encode("authEnabled");

/** The user and role that may do everything (etcd's rootUser and rootRole). */
export const ROOT_USER = "root";
/** The role that grants every permission. */
export const ROOT_ROLE = "root";
/** bcrypt's limits (Go's bcrypt.MinCost and MaxCost) and etcd's default cost. */
export const BCRYPT_COST_MIN = 4;
export const BCRYPT_COST_MAX = 31;
export const BCRYPT_COST_DEFAULT = 10;

/** What the store logs. */
export interface AuthLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** The store's settings. */
export interface AuthStoreOptions {
  /** `--bcrypt-cost`; outside 4..31 the default 10 is used, with a warning, as etcd does. */
  readonly bcryptCost: number;
  /** The token scheme of `--auth-token`. */
  readonly tokens: TokenProvider;
  readonly log?: AuthLogger;
  /**
   * Writes the consistent index into the batch of a change (etcd's consistent-index syncer,
   * `store.saveIndex`): etcd 3.4 does so for every change that bumps the auth revision.
   */
  readonly saveConsistentIndex?: (tx: BatchTx) => void;
}

/** A user as the apply loop adds it. */
export interface UserAddRequest {
  readonly name: string;
  /** The bcrypt hash, computed before the proposal. */
  readonly hashedPassword?: string | null | undefined;
  /** The clear password: only in entries written by an etcd 3.4, which hashed at apply. */
  readonly password?: string | null | undefined;
  readonly noPassword?: boolean | null | undefined;
}

/** A key permission as granted or revoked. */
export interface PermissionRequest {
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array;
  readonly permType: number;
}

/** How many verified (hash, password) pairs the store remembers. */
const _VERIFIED_MAX = 1024;

const _nullLog: AuthLogger = { info: () => {}, warn: () => {} };

function _sortStrings(values: string[]): string[] {
  // Go's sort.Strings orders by bytes; UTF-16 order differs only above the BMP.
  return values.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The auth store over one backend. */
export class AuthStore {
  #backend: Backend;
  readonly #tokens: TokenProvider;
  readonly #log: AuthLogger;
  readonly #bcryptCost: number;
  readonly #saveConsistentIndex: ((tx: BatchTx) => void) | undefined;
  #enabled = false;
  #revision = 0;
  /**
   * Every user as the key checks see it: whether it holds the root role, and its merged key
   * permissions. Rebuilt from the buckets by every change (`#change`) and every load, which are
   * the only writers of the users and roles, so a check reads no bucket and decodes nothing.
   */
  #users = new Map<string, _CheckedUser>();
  /**
   * Pairs (stored hash, password) that bcrypt has already accepted, keyed by the hash and an
   * HMAC of the password under a key that never leaves this process. A client that logs in
   * again with the same password (every etcdctl call does) skips the ~0.2 s bcrypt compare;
   * a wrong password always pays it, and a changed password has another hash.
   */
  readonly #verified = new Map<string, true>();
  /** Compares under way, by the same key: a burst of logins with one password pays once. */
  readonly #comparing = new Map<string, Promise<boolean>>();
  readonly #verifyKey = randomBytes(32);
  /** Hashes and compares run on worker threads, never on the member's event loop. */
  readonly #bcrypt = new BcryptPool();

  /**
   * Opens the store on `backend` (etcd's NewAuthStore): creates the buckets, writes auth
   * revision 1 on a fresh db, loads the enabled flag and the permissions.
   */
  constructor(backend: Backend, options: AuthStoreOptions) {
    this.#backend = backend;
    this.#tokens = options.tokens;
    this.#log = options.log ?? _nullLog;
    this.#saveConsistentIndex = options.saveConsistentIndex;
    let cost = options.bcryptCost;
    if (!Number.isInteger(cost) || cost < BCRYPT_COST_MIN || cost > BCRYPT_COST_MAX) {
      this.#log.warn(
        `Use default bcrypt-cost ${BCRYPT_COST_DEFAULT} instead of the invalid value ${cost}`,
      );
      cost = BCRYPT_COST_DEFAULT;
    }
    this.#bcryptCost = cost;
    this.#load(backend, true);
  }

  /** Reloads everything from a new backend (a db snapshot from the leader). */
  recover(backend: Backend): void {
    this.#backend = backend;
    const wasEnabled = this.#enabled;
    this.#load(backend, false);
    if (wasEnabled && !this.#enabled) this.#tokens.disable();
  }

  #load(backend: Backend, fresh: boolean): void {
    const tx = backend.batchTx;
    tx.lock();
    try {
      tx.unsafeCreateBucket(AUTH_BUCKET);
      tx.unsafeCreateBucket(AUTH_USERS_BUCKET);
      tx.unsafeCreateBucket(AUTH_ROLES_BUCKET);
      const { values } = tx.unsafeRange(AUTH_BUCKET, _ENABLED_KEY, undefined, 0);
      this.#enabled = values.length === 1 && equalBytes(values[0]!, _ENABLED);
      this.#revision = _readRevision(tx);
      if (fresh && this.#revision === 0) this.#commitRevision(tx);
      this.#refreshPermissions(tx);
    } finally {
      tx.unlock();
    }
    backend.forceCommit();
    if (this.#enabled) this.#tokens.enable();
  }

  /** Stops the token provider's timers and the bcrypt workers. */
  close(): void {
    this.#tokens.close();
    this.#bcrypt.close();
  }

  /** Whether auth is on. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** The auth revision: bumped by every change of users, roles or the enabled flag. */
  get revision(): number {
    return this.#revision;
  }

  /** The bcrypt cost new hashes use. */
  get bcryptCost(): number {
    return this.#bcryptCost;
  }

  /** A random prefix for the next simple token. */
  genTokenPrefix(): string {
    return this.#tokens.genTokenPrefix();
  }

  // -- request path ---------------------------------------------------------------------

  /** The bcrypt hash of `password`, computed without blocking the event loop. */
  async hashPassword(password: string): Promise<string> {
    return await this.#bcrypt.hash(password, this.#bcryptCost);
  }

  /**
   * etcd's CheckPassword: resolves to the auth revision the check was made at, or rejects with
   * ErrAuthNotEnabled, ErrAuthFailed (no such user, wrong password) or ErrNoPasswordUser.
   */
  async checkPassword(username: string, password: string): Promise<number> {
    if (!this.#enabled) throw ErrAuthNotEnabled;
    const user = this.#withTx((tx) => _getUser(tx, username));
    if (user === undefined) throw ErrAuthFailed;
    if (user.options?.noPassword === true) throw ErrNoPasswordUser;
    const revision = this.#revision;
    const hash = _text.decode(user.password ?? new Uint8Array(0));
    const remembered = `${hash}\0${
      createHmac("sha256", this.#verifyKey).update(password).digest("base64")
    }`;
    let same = this.#verified.has(remembered);
    if (!same) {
      let comparing = this.#comparing.get(remembered);
      if (comparing === undefined) {
        comparing = this.#bcrypt.compare(password, hash);
        this.#comparing.set(remembered, comparing);
        comparing.then(
          () => this.#comparing.delete(remembered),
          () => this.#comparing.delete(remembered),
        );
      }
      same = await comparing;
      if (same) {
        if (this.#verified.size >= _VERIFIED_MAX) {
          this.#verified.delete(this.#verified.keys().next().value!);
        }
        this.#verified.set(remembered, true);
      }
    }
    if (!same) {
      this.#log.info("invalid password", { "user-name": username });
      throw ErrAuthFailed;
    }
    return revision;
  }

  /** Who a token stands for, or undefined when it is not valid (etcd's authInfoFromToken). */
  authInfoFromToken(token: string, signal: AbortSignal): Promise<AuthInfo | undefined> {
    return this.#tokens.info(token, this.#revision, signal);
  }

  /** Reading `[key, rangeEnd)` (or `key`): ErrUserEmpty, ErrAuthOldRevision or ErrPermissionDenied. */
  isRangePermitted(info: AuthInfo | undefined, key: Uint8Array, rangeEnd: Uint8Array): void {
    this.#isOpPermitted(info, key, rangeEnd, false);
  }

  /** Writing `key`. */
  isPutPermitted(info: AuthInfo | undefined, key: Uint8Array): void {
    this.#isOpPermitted(info, key, _EMPTY, true);
  }

  /** Deleting `[key, rangeEnd)` (or `key`). */
  isDeleteRangePermitted(info: AuthInfo | undefined, key: Uint8Array, rangeEnd: Uint8Array): void {
    this.#isOpPermitted(info, key, rangeEnd, true);
  }

  /** An operation only root may do: ErrUserEmpty, ErrUserNotFound or ErrPermissionDenied. */
  isAdminPermitted(info: AuthInfo | undefined): void {
    if (!this.#enabled) return;
    if (info === undefined || info.username === "") throw ErrUserEmpty;
    const user = this.#users.get(info.username);
    if (user === undefined) throw ErrUserNotFound;
    if (!user.root) throw ErrPermissionDenied;
  }

  /** Whether `username` holds `role`. */
  hasRole(username: string, role: string): boolean {
    const user = this.#withTx((tx) => _getUser(tx, username));
    return user !== undefined && (user.roles ?? []).includes(role);
  }

  #isOpPermitted(
    info: AuthInfo | undefined,
    key: Uint8Array,
    rangeEnd: Uint8Array,
    write: boolean,
  ): void {
    if (!this.#enabled) return;
    // Only an anonymous caller has revision 0.
    if (info === undefined || info.revision === 0) throw ErrUserEmpty;
    if (info.revision < this.#revision) throw ErrAuthOldRevision;
    // etcd reads the user from the bucket here; the cache holds what that read would find.
    const user = this.#users.get(info.username);
    if (user === undefined) throw ErrPermissionDenied;
    if (user.root) return;
    if (user.permissions.permits(key, rangeEnd, write)) return;
    throw ErrPermissionDenied;
  }

  // -- apply loop -----------------------------------------------------------------------

  /** Turns auth on; needs a `root` user holding the `root` role. A no-op when already on. */
  authEnable(): void {
    if (this.#enabled) {
      this.#log.info("authentication is already enabled; ignored auth enable request");
      return;
    }
    this.#change((tx) => {
      const root = _getUser(tx, ROOT_USER);
      if (root === undefined) throw ErrRootUserNotExist;
      if (!_hasRootRole(root)) throw ErrRootRoleNotExist;
      tx.unsafePut(AUTH_BUCKET, _ENABLED_KEY, _ENABLED);
      // etcd enables without a new revision: tokens issued now carry the current one.
    }, false);
    this.#enabled = true;
    this.#tokens.enable();
    this.#log.info("enabled authentication");
  }

  /** Turns auth off and forgets every simple token. A no-op when already off. */
  authDisable(): void {
    if (!this.#enabled) return;
    this.#change((tx) => tx.unsafePut(AUTH_BUCKET, _ENABLED_KEY, _DISABLED));
    this.#enabled = false;
    this.#tokens.disable();
    this.#log.info("disabled authentication");
  }

  /**
   * Issues a token to a user that passed `checkPassword` (etcd's Authenticate at apply).
   * ErrAuthNotEnabled, or ErrAuthFailed when the user is gone or has no password.
   */
  authenticate(username: string, params: AssignParams): string | Promise<string> {
    if (!this.#enabled) throw ErrAuthNotEnabled;
    const user = this.#withTx((tx) => _getUser(tx, username));
    if (user === undefined) throw ErrAuthFailed;
    if (user.options?.noPassword === true) throw ErrAuthFailed;
    return this.#tokens.assign(username, this.#revision, params);
  }

  /** Adds a user. ErrUserEmpty, ErrUserAlreadyExist. */
  userAdd(r: UserAddRequest): void {
    if (r.name.length === 0) throw ErrUserEmpty;
    const noPassword = r.noPassword === true;
    let hash = new Uint8Array(0);
    if (!noPassword) hash = _utf8.encode(_hashOf(r, this.#bcryptCost));
    this.#change((tx) => {
      if (_getUser(tx, r.name) !== undefined) throw ErrUserAlreadyExist;
      _putUser(tx, {
        name: _utf8.encode(r.name),
        password: hash,
        options: { noPassword },
      });
    });
    this.#log.info("added a user", { "user-name": r.name });
  }

  /** Deletes a user (not root while auth is on) and its tokens. */
  userDelete(name: string): void {
    if (this.#enabled && name === ROOT_USER) throw ErrInvalidAuthMgmt;
    this.#change((tx) => {
      if (_getUser(tx, name) === undefined) throw ErrUserNotFound;
      tx.unsafeDelete(AUTH_USERS_BUCKET, _utf8.encode(name));
    });
    this.#tokens.invalidateUser(name);
    this.#log.info("deleted a user", { "user-name": name });
  }

  /** Replaces a user's password hash and forgets its tokens. */
  userChangePassword(
    r: { name: string; hashedPassword?: string | null; password?: string | null },
  ): void {
    const hash = _utf8.encode(_hashOf(r, this.#bcryptCost));
    this.#change((tx) => {
      const user = _getUser(tx, r.name);
      if (user === undefined) throw ErrUserNotFound;
      _putUser(tx, { ...user, password: hash });
    });
    this.#tokens.invalidateUser(r.name);
    this.#log.info("changed a password of a user", { "user-name": r.name });
  }

  /** Grants a role (root need not exist as a role); granting twice is a no-op. */
  userGrantRole(username: string, role: string): void {
    this.#change((tx) => {
      const user = _getUser(tx, username);
      if (user === undefined) throw ErrUserNotFound;
      if (role !== ROOT_ROLE && _getRole(tx, role) === undefined) throw ErrRoleNotFound;
      const roles = [...(user.roles ?? [])];
      if (roles.includes(role)) return false;
      _putUser(tx, { ...user, roles: _sortStrings([...roles, role]) });
      return true;
    });
  }

  /** Revokes a role (not root's root role while auth is on). */
  userRevokeRole(username: string, role: string): void {
    if (this.#enabled && username === ROOT_USER && role === ROOT_ROLE) throw ErrInvalidAuthMgmt;
    this.#change((tx) => {
      const user = _getUser(tx, username);
      if (user === undefined) throw ErrUserNotFound;
      const roles = (user.roles ?? []).filter((r) => r !== role);
      if (roles.length === (user.roles ?? []).length) throw ErrRoleNotGranted;
      _putUser(tx, { ...user, roles });
    });
  }

  /** The roles of a user. */
  userGet(name: string): string[] {
    const user = this.#withTx((tx) => _getUser(tx, name));
    if (user === undefined) throw ErrUserNotFound;
    return [...(user.roles ?? [])];
  }

  /** Every user name, in key order. */
  userList(): string[] {
    return this.#withTx((tx) => _allUsers(tx)).map((u) => _text.decode(u.name ?? undefined));
  }

  /** Adds a role without permissions. */
  roleAdd(name: string): void {
    if (name.length === 0) throw ErrRoleEmpty;
    this.#change((tx) => {
      if (_getRole(tx, name) !== undefined) throw ErrRoleAlreadyExist;
      _putRole(tx, { name: _utf8.encode(name) });
    });
    this.#log.info("created a role", { "role-name": name });
  }

  /** The key permissions of a role, sorted by key. */
  roleGet(name: string): authpb.Permission.$Properties[] {
    const role = this.#withTx((tx) => _getRole(tx, name));
    if (role === undefined) throw ErrRoleNotFound;
    return [...(role.keyPermission ?? [])];
  }

  /** Every role name, in key order. */
  roleList(): string[] {
    return this.#withTx((tx) => _allRoles(tx)).map((r) => _text.decode(r.name ?? undefined));
  }

  /** Deletes a role (not root while auth is on) and revokes it from every user. */
  roleDelete(name: string): void {
    if (this.#enabled && name === ROOT_ROLE) throw ErrInvalidAuthMgmt;
    this.#change((tx) => {
      if (_getRole(tx, name) === undefined) throw ErrRoleNotFound;
      tx.unsafeDelete(AUTH_ROLES_BUCKET, _utf8.encode(name));
      for (const user of _allUsers(tx)) {
        const roles = (user.roles ?? []).filter((r) => r !== name);
        if (roles.length !== (user.roles ?? []).length) _putUser(tx, { ...user, roles });
      }
    });
    this.#log.info("deleted a role", { "role-name": name });
  }

  /** Grants (or changes the type of) a permission on a key or range. */
  roleGrantPermission(name: string, perm: PermissionRequest): void {
    this.#change((tx) => {
      const role = _getRole(tx, name);
      if (role === undefined) throw ErrRoleNotFound;
      const perms = [...(role.keyPermission ?? [])];
      const same = perms.find((p) =>
        equalBytes(p.key ?? _EMPTY, perm.key) && equalBytes(p.rangeEnd ?? _EMPTY, perm.rangeEnd)
      );
      if (same !== undefined) {
        same.permType = perm.permType;
      } else {
        perms.push({ key: perm.key, rangeEnd: perm.rangeEnd, permType: perm.permType });
        perms.sort((a, b) => _compare(a.key ?? _EMPTY, b.key ?? _EMPTY));
      }
      _putRole(tx, { name: role.name ?? null, keyPermission: perms });
    });
  }

  /** Revokes the permission on exactly `[key, rangeEnd)`. */
  roleRevokePermission(name: string, key: Uint8Array, rangeEnd: Uint8Array): void {
    this.#change((tx) => {
      const role = _getRole(tx, name);
      if (role === undefined) throw ErrRoleNotFound;
      const before = role.keyPermission ?? [];
      const kept = before.filter((p) =>
        !equalBytes(p.key ?? _EMPTY, key) || !equalBytes(p.rangeEnd ?? _EMPTY, rangeEnd)
      );
      if (kept.length === before.length) throw ErrPermissionNotGranted;
      _putRole(tx, { name: role.name ?? null, keyPermission: kept });
    });
  }

  // -- helpers --------------------------------------------------------------------------

  #withTx<T>(body: (tx: BatchTx) => T): T {
    const tx = this.#backend.batchTx;
    tx.lock();
    try {
      return body(tx);
    } finally {
      tx.unlock();
    }
  }

  /**
   * Runs one change in the batch transaction; unless it returns false (nothing changed), bumps
   * the revision (when `bump`) and rebuilds the permission cache. A throw changes nothing: every
   * check comes before the first write.
   */
  #change(body: (tx: BatchTx) => boolean | void, bump = true): void {
    this.#withTx((tx) => {
      if (body(tx) === false) return;
      if (bump) {
        this.#commitRevision(tx);
        // Not for auth enable (the one change without a bump), as in etcd 3.4.
        this.#saveConsistentIndex?.(tx);
      }
      this.#refreshPermissions(tx);
    });
  }

  #commitRevision(tx: BatchTx): void {
    this.#revision++;
    const value = new Uint8Array(8);
    new DataView(value.buffer).setBigUint64(0, BigInt(this.#revision), false);
    tx.unsafePut(AUTH_BUCKET, AUTH_REVISION_KEY, value);
  }

  #refreshPermissions(tx: BatchTx): void {
    const roles = new Map<string, authpb.Role>();
    for (const role of _allRoles(tx)) roles.set(_text.decode(role.name ?? undefined), role);
    const users = new Map<string, _CheckedUser>();
    for (const user of _allUsers(tx)) {
      const merged = new UnifiedPermissions();
      for (const name of user.roles ?? []) {
        const role = roles.get(name);
        if (role !== undefined) merged.addRole(role);
      }
      users.set(_text.decode(user.name ?? undefined), {
        root: _hasRootRole(user),
        permissions: merged,
      });
    }
    this.#users = users;
  }
}

/** A user as the key and admin checks need it (the `#users` cache). */
interface _CheckedUser {
  /** Holds the root role: every key, every admin operation. */
  readonly root: boolean;
  /** The union of its roles' key permissions. */
  readonly permissions: UnifiedPermissions;
}

const _EMPTY = new Uint8Array(0);

function _compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function _hashOf(
  r: { hashedPassword?: string | null | undefined; password?: string | null | undefined },
  cost: number,
): string {
  const hashed = r.hashedPassword ?? "";
  if (hashed !== "") return hashed;
  // An entry proposed by an etcd 3.4 member carries the clear password: hash it here, as that
  // etcd does on its apply loop (a blocking hash, but only for such foreign entries).
  return bcrypt.hashSync(r.password ?? "", cost);
}

function _readRevision(tx: BatchTx): number {
  const { values } = tx.unsafeRange(AUTH_BUCKET, AUTH_REVISION_KEY, undefined, 0);
  const value = values[0];
  if (values.length !== 1 || value === undefined) return 0;
  if (value.length !== 8) throw new Error(`auth: authRevision holds ${value.length} bytes, not 8`);
  return Number(new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0, false));
}

function _hasRootRole(user: authpb.User.$Properties): boolean {
  return (user.roles ?? []).includes(ROOT_ROLE);
}

function _getUser(tx: BatchTx, name: string): authpb.User | undefined {
  const { values } = tx.unsafeRange(AUTH_USERS_BUCKET, _utf8.encode(name), undefined, 0);
  const value = values[0];
  return value === undefined ? undefined : authpb.User.decode(value);
}

function _allUsers(tx: BatchTx): authpb.User[] {
  const users: authpb.User[] = [];
  tx.unsafeForEach(AUTH_USERS_BUCKET, (_key, value) => users.push(authpb.User.decode(value)));
  return users;
}

function _putUser(tx: BatchTx, user: authpb.User.$Properties): void {
  const name = user.name ?? _EMPTY;
  tx.unsafePut(AUTH_USERS_BUCKET, name, authpb.User.encode(user).finish());
}

function _getRole(tx: BatchTx, name: string): authpb.Role | undefined {
  const { values } = tx.unsafeRange(AUTH_ROLES_BUCKET, _utf8.encode(name), undefined, 0);
  const value = values[0];
  return value === undefined ? undefined : authpb.Role.decode(value);
}

function _allRoles(tx: BatchTx): authpb.Role[] {
  // etcd lists roles as the range ["\x00", "\xff"): a role named from "\xff" on is not listed.
  const { values } = tx.unsafeRange(AUTH_ROLES_BUCKET, Uint8Array.of(0), Uint8Array.of(0xff), 0);
  return values.map((value) => authpb.Role.decode(value));
}

function _putRole(tx: BatchTx, role: authpb.Role.$Properties): void {
  tx.unsafePut(AUTH_ROLES_BUCKET, role.name ?? _EMPTY, authpb.Role.encode(role).finish());
}
