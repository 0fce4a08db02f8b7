/**
 * v2 auth (etcd 3.4 `etcdserver/api/v2auth`): users and roles kept as JSON values in the v2
 * store under `/2/users/<name>` and `/2/roles/<name>`, the switch in `/2/enabled`; every
 * change is a v2 request through raft (`V2Server.do`), exactly as etcd stores them, so a data
 * dir or a mixed cluster shares them. The `root` role is built in (all keys); `guest` is made
 * when auth is first enabled. Passwords are bcrypt hashes (Go's default cost, 10).
 *
 * @module
 */

import bcrypt from "bcryptjs";
import { EcodeKeyNotFound, EcodeNodeExist, goJsonString, V2Error } from "../v2store/mod.ts";
import type { V2Response, V2Server } from "./v2_server.ts";
import type { etcdserverpb } from "../etcdserverpb/mod.ts";

/** etcd's permission prefix in the v2 store. */
const _PREFIX = "/2";
/** The built-in roles. */
export const V2_ROOT_ROLE = "root";
export const V2_GUEST_ROLE = "guest";
/** Go's bcrypt.DefaultCost. */
const _BCRYPT_COST = 10;

/** Read and write key patterns (`/foo/*` is a prefix, anything else one key). */
export interface V2RwPermission {
  read: string[] | null;
  write: string[] | null;
}

/** A role's permissions. */
export interface V2Permissions {
  kv: V2RwPermission;
}

/** A v2 user (the password is a hash once stored). */
export interface V2User {
  user: string;
  password?: string;
  roles: string[] | null;
  grant?: string[] | null;
  revoke?: string[] | null;
}

/** A v2 role. */
export interface V2Role {
  role: string;
  permissions: V2Permissions;
  grant?: V2Permissions | null;
  revoke?: V2Permissions | null;
}

/** An auth failure with its HTTP status (etcd's v2auth.Error); the message has `auth: `. */
export class V2AuthError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(`auth: ${message}`);
    this.name = "V2AuthError";
    this.status = status;
  }
}

const _ALL = (): V2Permissions => ({ kv: { read: ["/*"], write: ["/*"] } });

// -- JSON as Go writes it --------------------------------------------------------------

function _strings(values: string[] | null | undefined): string {
  return values === null || values === undefined
    ? "null"
    : `[${values.map(goJsonString).join(",")}]`;
}

/** A user as etcd marshals it (password and grant/revoke omitted when empty). */
export function v2UserJson(u: V2User): string {
  let text = `{"user":${goJsonString(u.user)}`;
  if (u.password !== undefined && u.password !== "") {
    text += `,"password":${goJsonString(u.password)}`;
  }
  text += `,"roles":${_strings(u.roles)}`;
  if (u.grant !== undefined && u.grant !== null && u.grant.length > 0) {
    text += `,"grant":${_strings(u.grant)}`;
  }
  if (u.revoke !== undefined && u.revoke !== null && u.revoke.length > 0) {
    text += `,"revoke":${_strings(u.revoke)}`;
  }
  return text + "}";
}

function _permsJson(p: V2Permissions): string {
  return `{"kv":{"read":${_strings(p.kv.read)},"write":${_strings(p.kv.write)}}}`;
}

/** A role as etcd marshals it. */
export function v2RoleJson(r: V2Role): string {
  let text = `{"role":${goJsonString(r.role)},"permissions":${_permsJson(r.permissions)}`;
  if (r.grant !== undefined && r.grant !== null) text += `,"grant":${_permsJson(r.grant)}`;
  if (r.revoke !== undefined && r.revoke !== null) text += `,"revoke":${_permsJson(r.revoke)}`;
  return text + "}";
}

function _stringList(value: unknown, what: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new SyntaxError(`bad ${what}`);
  }
  return value as string[];
}

function _parsePerms(value: unknown): V2Permissions {
  const kv = (value as { kv?: { read?: unknown; write?: unknown } } | null)?.kv;
  return { kv: { read: _stringList(kv?.read, "read"), write: _stringList(kv?.write, "write") } };
}

/** Parses a user from JSON (throws SyntaxError on a shape Go would refuse). */
export function parseV2User(text: string): V2User {
  const raw = JSON.parse(text) as Record<string, unknown> | null;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new SyntaxError("not an object");
  }
  const str = (v: unknown) => {
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") throw new SyntaxError("not a string");
    return v;
  };
  const u: V2User = { user: str(raw.user), roles: _stringList(raw.roles, "roles") };
  const password = str(raw.password);
  if (password !== "") u.password = password;
  const grant = _stringList(raw.grant, "grant");
  if (grant !== null) u.grant = grant;
  const revoke = _stringList(raw.revoke, "revoke");
  if (revoke !== null) u.revoke = revoke;
  return u;
}

/** Parses a role from JSON. */
export function parseV2Role(text: string): V2Role {
  const raw = JSON.parse(text) as Record<string, unknown> | null;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new SyntaxError("not an object");
  }
  if (raw.role !== undefined && raw.role !== null && typeof raw.role !== "string") {
    throw new SyntaxError("role not a string");
  }
  const r: V2Role = {
    role: (raw.role as string | undefined) ?? "",
    permissions: _parsePerms(raw.permissions),
  };
  if (raw.grant !== undefined && raw.grant !== null) r.grant = _parsePerms(raw.grant);
  if (raw.revoke !== undefined && raw.revoke !== null) r.revoke = _parsePerms(raw.revoke);
  return r;
}

function _emptyPerms(p: V2Permissions | null | undefined): boolean {
  return p === null || p === undefined ||
    ((p.kv.read ?? []).length === 0 && (p.kv.write ?? []).length === 0);
}

/** Whether a role's grant and revoke are both empty (a create, not an update). */
export function roleHasNoChanges(r: V2Role): boolean {
  return _emptyPerms(r.grant) && _emptyPerms(r.revoke);
}

/** Whether the role's permissions are empty. */
export function rolePermissionsEmpty(r: V2Role): boolean {
  return _emptyPerms(r.permissions);
}

// -- access ----------------------------------------------------------------------------

function _match(pattern: string, key: string): boolean {
  if (pattern.endsWith("*")) return key.startsWith(pattern.slice(0, -1));
  return key === pattern;
}

/** etcd's Role.HasKeyAccess: a pattern that matches the key. */
export function roleHasKeyAccess(r: V2Role, key: string, write: boolean): boolean {
  if (r.role === V2_ROOT_ROLE) return true;
  const list = (write ? r.permissions.kv.write : r.permissions.kv.read) ?? [];
  return list.some((p) => p.length > 0 && _match(p, key));
}

/** etcd's Role.HasRecursiveAccess: a prefix pattern covering the key. */
export function roleHasRecursiveAccess(r: V2Role, key: string, write: boolean): boolean {
  if (r.role === V2_ROOT_ROLE) return true;
  const list = (write ? r.permissions.kv.write : r.permissions.kv.read) ?? [];
  return list.some((p) => p.endsWith("*") && key.startsWith(p.slice(0, -1)));
}

// -- the store -------------------------------------------------------------------------

function _sortedSet(values: Iterable<string>): string[] | null {
  const out = [...new Set(values)].sort();
  return out.length === 0 ? null : out;
}

/** The v2 auth store over a member's v2 API. */
export class V2Auth {
  readonly #v2: V2Server;
  #ensured = false;

  /** Keeps users and roles in `v2`'s store. */
  constructor(v2: V2Server) {
    this.#v2 = v2;
  }

  async #do(r: etcdserverpb.Request.$Properties): Promise<V2Response> {
    return await this.#v2.do(r, AbortSignal.timeout(10_000));
  }

  async #get(resource: string, quorum: boolean): Promise<V2Response> {
    return await this.#do({ Method: quorum ? "QGET" : "GET", Path: _PREFIX + resource });
  }

  async #ensureDirectories(): Promise<void> {
    if (this.#ensured) return;
    for (const dir of [_PREFIX, `${_PREFIX}/users/`, `${_PREFIX}/roles/`]) {
      try {
        await this.#do({ Method: "PUT", Path: dir, Dir: true, PrevExist: false });
      } catch (error) {
        if (!(error instanceof V2Error && error.errorCode === EcodeNodeExist)) throw error;
      }
    }
    try {
      await this.#do({ Method: "PUT", Path: `${_PREFIX}/enabled`, Val: "false", PrevExist: false });
    } catch (error) {
      if (!(error instanceof V2Error && error.errorCode === EcodeNodeExist)) throw error;
    }
    this.#ensured = true;
  }

  async #set(resource: string, value: string, prevExist: boolean): Promise<void> {
    await this.#ensureDirectories();
    await this.#do({ Method: "PUT", Path: _PREFIX + resource, Val: value, PrevExist: prevExist });
  }

  async #delete(resource: string): Promise<void> {
    await this.#ensureDirectories();
    await this.#do({ Method: "DELETE", Path: _PREFIX + resource, PrevExist: true });
  }

  async #names(dir: string): Promise<string[] | undefined> {
    try {
      const response = await this.#get(dir, false);
      return (response.event?.node.nodes ?? []).map((n) => n.key.slice(n.key.lastIndexOf("/") + 1));
    } catch (error) {
      if (error instanceof V2Error && error.errorCode === EcodeKeyNotFound) return undefined;
      throw error;
    }
  }

  /** The user names, sorted. */
  async allUsers(): Promise<string[]> {
    return ((await this.#names("/users/")) ?? []).sort();
  }

  /** A user (with the root role attached to `root`); 404 when missing. */
  async getUser(name: string, quorum = false): Promise<V2User> {
    let response: V2Response;
    try {
      response = await this.#get(`/users/${name}`, quorum);
    } catch (error) {
      if (error instanceof V2Error && error.errorCode === EcodeKeyNotFound) {
        throw new V2AuthError(404, `User ${name} does not exist.`);
      }
      throw error;
    }
    const u = parseV2User(response.event?.node.value ?? "{}");
    return u.user === "root" ? _attachRoot(u) : u;
  }

  /** Creates the user, or updates it if it exists; says which. */
  async createOrUpdateUser(u: V2User): Promise<{ user: V2User; created: boolean }> {
    try {
      await this.getUser(u.user, true);
    } catch {
      return { user: await this.createUser(u), created: true };
    }
    return { user: await this.updateUser(u), created: false };
  }

  /** Creates a user (root gets the root role). */
  async createUser(input: V2User): Promise<V2User> {
    const u = input.user === "root" ? _attachRoot({ ...input }) : { ...input };
    if (u.password === undefined || u.password === "") {
      throw new V2AuthError(400, `Cannot create user ${u.user} with an empty password`);
    }
    u.password = await bcrypt.hash(u.password, _BCRYPT_COST);
    try {
      await this.#set(`/users/${u.user}`, v2UserJson(u), false);
    } catch (error) {
      if (error instanceof V2Error && error.errorCode === EcodeNodeExist) {
        throw new V2AuthError(409, `User ${u.user} already exists.`);
      }
      throw error;
    }
    return u;
  }

  /** Deletes a user (not root while auth is on). */
  async deleteUser(name: string): Promise<void> {
    if (name === "root" && await this.authEnabled()) {
      throw new V2AuthError(403, "Cannot delete root user while auth is enabled.");
    }
    try {
      await this.#delete(`/users/${name}`);
    } catch (error) {
      if (error instanceof V2Error && error.errorCode === EcodeKeyNotFound) {
        throw new V2AuthError(404, `User ${name} does not exist`);
      }
      throw error;
    }
  }

  /** Applies a password change and role grants/revokes. */
  async updateUser(u: V2User): Promise<V2User> {
    let old: V2User;
    try {
      old = await this.getUser(u.user, true);
    } catch (error) {
      if (error instanceof V2AuthError && error.status === 404) {
        throw new V2AuthError(404, `User ${u.user} doesn't exist.`);
      }
      throw error;
    }
    const roles = new Set(old.roles ?? []);
    for (const g of u.grant ?? []) {
      if (roles.has(g)) {
        throw new V2AuthError(409, `Granting duplicate role ${g} for user ${u.user}`);
      }
      roles.add(g);
    }
    for (const r of u.revoke ?? []) {
      if (!roles.has(r)) {
        throw new V2AuthError(409, `Revoking ungranted role ${r} for user ${u.user}`);
      }
      roles.delete(r);
    }
    const next: V2User = { user: old.user, roles: _sortedSet(roles) };
    next.password = u.password !== undefined && u.password !== ""
      ? await bcrypt.hash(u.password, _BCRYPT_COST)
      : old.password ?? "";
    const same = next.password === old.password &&
      JSON.stringify(next.roles) === JSON.stringify(old.roles);
    if (same) {
      throw new V2AuthError(400, "User not updated. Use grant/revoke/password to update the user.");
    }
    await this.#set(`/users/${u.user}`, v2UserJson(next), true);
    return next;
  }

  /** The role names, root included, sorted. */
  async allRoles(): Promise<string[]> {
    return [V2_ROOT_ROLE, ...((await this.#names("/roles/")) ?? [])].sort();
  }

  /** A role (root is built in); 404 when missing. */
  async getRole(name: string, quorum = false): Promise<V2Role> {
    if (name === V2_ROOT_ROLE) return { role: V2_ROOT_ROLE, permissions: _ALL() };
    let response: V2Response;
    try {
      response = await this.#get(`/roles/${name}`, quorum);
    } catch (error) {
      if (error instanceof V2Error && error.errorCode === EcodeKeyNotFound) {
        throw new V2AuthError(404, `Role ${name} does not exist.`);
      }
      throw error;
    }
    return parseV2Role(response.event?.node.value ?? "{}");
  }

  /** Creates a role (not root). */
  async createRole(r: V2Role): Promise<void> {
    if (r.role === V2_ROOT_ROLE) {
      throw new V2AuthError(403, `Cannot modify role ${r.role}: is root role.`);
    }
    try {
      await this.#set(`/roles/${r.role}`, v2RoleJson(r), false);
    } catch (error) {
      if (error instanceof V2Error && error.errorCode === EcodeNodeExist) {
        throw new V2AuthError(409, `Role ${r.role} already exists.`);
      }
      throw error;
    }
  }

  /** Deletes a role (not root). */
  async deleteRole(name: string): Promise<void> {
    if (name === V2_ROOT_ROLE) {
      throw new V2AuthError(403, `Cannot modify role ${name}: is root role.`);
    }
    try {
      await this.#delete(`/roles/${name}`);
    } catch (error) {
      if (error instanceof V2Error && error.errorCode === EcodeKeyNotFound) {
        throw new V2AuthError(404, `Role ${name} doesn't exist.`);
      }
      throw error;
    }
  }

  /** Applies permission grants and revokes. */
  async updateRole(r: V2Role): Promise<V2Role> {
    if (r.role === V2_ROOT_ROLE) {
      throw new V2AuthError(403, `Cannot modify role ${r.role}: is root role.`);
    }
    let old: V2Role;
    try {
      old = await this.getRole(r.role, true);
    } catch (error) {
      if (error instanceof V2AuthError && error.status === 404) {
        throw new V2AuthError(404, `Role ${r.role} doesn't exist.`);
      }
      throw error;
    }
    const read = new Set(old.permissions.kv.read ?? []);
    const write = new Set(old.permissions.kv.write ?? []);
    for (const p of r.grant?.kv.read ?? []) {
      if (read.has(p)) throw new V2AuthError(409, `Granting duplicate read permission ${p}`);
      read.add(p);
    }
    for (const p of r.grant?.kv.write ?? []) {
      if (write.has(p)) throw new V2AuthError(409, `Granting duplicate write permission ${p}`);
      write.add(p);
    }
    for (const p of r.revoke?.kv.read ?? []) read.delete(p);
    for (const p of r.revoke?.kv.write ?? []) write.delete(p);
    const next: V2Role = {
      role: old.role,
      permissions: { kv: { read: _sortedSet(read), write: _sortedSet(write) } },
    };
    if (v2RoleJson(next) === v2RoleJson(old)) {
      throw new V2AuthError(400, "Role not updated. Use grant/revoke to update the role.");
    }
    await this.#set(`/roles/${r.role}`, v2RoleJson(next), true);
    return next;
  }

  /** Whether `/2/enabled` holds true. */
  async authEnabled(): Promise<boolean> {
    try {
      const response = await this.#get("/enabled", false);
      return JSON.parse(response.event?.node.value ?? "false") === true;
    } catch {
      return false;
    }
  }

  /** Turns auth on: a root user must exist; the guest role is made if missing. */
  async enableAuth(): Promise<void> {
    if (await this.authEnabled()) throw new V2AuthError(409, "already enabled");
    try {
      await this.getUser("root", true);
    } catch {
      throw new V2AuthError(409, "No root user available, please create one");
    }
    try {
      await this.getRole(V2_GUEST_ROLE, true);
    } catch {
      await this.createRole({ role: V2_GUEST_ROLE, permissions: _ALL() });
    }
    await this.#set("/enabled", "true", true);
  }

  /** Turns auth off. */
  async disableAuth(): Promise<void> {
    if (!(await this.authEnabled())) throw new V2AuthError(409, "already disabled");
    await this.#set("/enabled", "false", true);
  }

  /** Whether `password` matches the user's hash. */
  async checkPassword(u: V2User, password: string): Promise<boolean> {
    if (u.password === undefined || u.password === "") return false;
    try {
      return await bcrypt.compare(password, u.password);
    } catch {
      return false;
    }
  }
}

function _attachRoot(u: V2User): V2User {
  const roles = u.roles ?? [];
  if (roles.includes(V2_ROOT_ROLE)) return u;
  return { ...u, roles: [...roles, V2_ROOT_ROLE] };
}
