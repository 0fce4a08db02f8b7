/**
 * `/v2/auth/*` behind `--enable-v2` (etcd 3.4 `v2http/client_auth.go`): users, roles and the
 * enable switch of v2 auth, for the root user (HTTP basic auth) once auth is on; and the
 * access checks `/v2/keys` makes (`hasKeyPrefixAccess`: a user's roles, or the guest role
 * for anonymous requests). HTTP errors are `{"message":"..."}` as etcd's httptypes writes them.
 *
 * @module
 */

import type { HttpHandler } from "../rpc/mod.ts";
import { loadV2Auth, type V2Auth, V2Error, type V2Role, type V2User } from "../server/mod.ts";

// The server's v2 auth loads with this file, which api/client_http.ts imports only for
// --enable-v2.
const {
  parseV2Role,
  parseV2User,
  roleHasKeyAccess,
  roleHasNoChanges,
  roleHasRecursiveAccess,
  rolePermissionsEmpty,
  V2AuthError,
  v2RoleJson,
  v2UserJson,
} = await loadV2Auth();

/** The path prefix of v2 auth. */
export const AUTH_PREFIX = "/v2/auth";

function _httpError(status: number, message: string, headers = new Headers()): Response {
  headers.set("Content-Type", "application/json");
  return new Response(JSON.stringify({ message }), { status, headers });
}

function _methodNotAllowed(allowed: string[]): Response {
  return new Response("Method Not Allowed\n", {
    status: 405,
    headers: {
      "Allow": allowed.join(","),
      "Content-Type": "text/plain; charset=utf-8",
      "X-Content-Type-Options": "nosniff",
    },
  });
}

function _writeError(error: unknown, headers: Headers): Response {
  if (error instanceof V2AuthError) return _httpError(error.status, error.message, headers);
  if (error instanceof V2Error) {
    headers.set("X-Etcd-Index", String(error.index));
    headers.set("Content-Type", "application/json");
    return new Response(error.toJson() + "\n", { status: error.statusCode, headers });
  }
  return _httpError(500, "Internal Server Error", headers);
}

function _noAuth(): Response {
  return _httpError(401, "Insufficient credentials");
}

/** The user and password of an `Authorization: Basic` header. */
export function basicAuth(request: Request): { user: string; password: string } | undefined {
  const header = request.headers.get("authorization") ?? "";
  if (!header.startsWith("Basic ")) return undefined;
  let decoded: string;
  try {
    decoded = atob(header.slice(6).trim());
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function _userFromBasicAuth(auth: V2Auth, request: Request): Promise<V2User | undefined> {
  const credentials = basicAuth(request);
  if (credentials === undefined) return undefined;
  let user: V2User;
  try {
    user = await auth.getUser(credentials.user);
  } catch {
    return undefined;
  }
  return await auth.checkPassword(user, credentials.password) ? user : undefined;
}

/** etcd's hasRootAccess: auth off, or a user with the root role. */
export async function hasRootAccess(auth: V2Auth, request: Request): Promise<boolean> {
  if (!(await auth.authEnabled())) return true;
  const user = await _userFromBasicAuth(auth, request);
  return user !== undefined && (user.roles ?? []).includes("root");
}

/** etcd's hasKeyPrefixAccess for `/v2/keys` requests (`key` without `/v2/keys`). */
export async function hasKeyPrefixAccess(
  auth: V2Auth,
  request: Request,
  key: string,
  recursive: boolean,
): Promise<boolean> {
  if (!(await auth.authEnabled())) return true;
  const write = request.method !== "GET" && request.method !== "HEAD";
  if (!request.headers.has("authorization")) {
    // Anonymous: the guest role decides.
    try {
      return roleHasKeyAccess(await auth.getRole("guest"), key, write);
    } catch {
      return false;
    }
  }
  const user = await _userFromBasicAuth(auth, request);
  if (user === undefined) return false;
  for (const name of user.roles ?? []) {
    let role: V2Role;
    try {
      role = await auth.getRole(name);
    } catch {
      continue;
    }
    if (recursive ? roleHasRecursiveAccess(role, key, write) : roleHasKeyAccess(role, key, write)) {
      return true;
    }
  }
  return false;
}

/** The `/v2/auth/*` handler; other paths go to `next`. */
export function v2AuthHandler(
  auth: V2Auth,
  clusterIdHex: string,
  next: HttpHandler,
): HttpHandler {
  return async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path !== AUTH_PREFIX && !path.startsWith(AUTH_PREFIX + "/")) return next(request);
    const pieces = path.slice(AUTH_PREFIX.length).replace(/\/+$/, "").split("/");
    // pieces: ["", "users"] or ["", "users", name] or ["", "enable"]
    const kind = pieces[1];
    if (path === `${AUTH_PREFIX}/enable`) return await _enable(auth, clusterIdHex, request);
    if (kind !== "users" && kind !== "roles") {
      return new Response("404 page not found\n", {
        status: 404,
        headers: { "Content-Type": "text/plain; charset=utf-8" },
      });
    }
    if (pieces.length === 2) return await _list(auth, clusterIdHex, request, kind);
    if (pieces.length !== 3) return _httpError(400, "Invalid path");
    const name = decodeURIComponent(pieces[2]!);
    return kind === "users"
      ? await _forUser(auth, clusterIdHex, request, name)
      : await _forRole(auth, clusterIdHex, request, name);
  };
}

function _jsonHeaders(clusterIdHex: string): Headers {
  return new Headers({ "X-Etcd-Cluster-ID": clusterIdHex, "Content-Type": "application/json" });
}

async function _list(
  auth: V2Auth,
  clusterIdHex: string,
  request: Request,
  kind: "users" | "roles",
): Promise<Response> {
  if (request.method !== "GET") return _methodNotAllowed(["GET"]);
  if (!(await hasRootAccess(auth, request))) return _noAuth();
  const headers = _jsonHeaders(clusterIdHex);
  try {
    if (kind === "roles") {
      const roles: string[] = [];
      for (const name of await auth.allRoles()) roles.push(v2RoleJson(await auth.getRole(name)));
      const body = roles.length === 0 ? "null" : `[${roles.join(",")}]`;
      return new Response(`{"roles":${body}}\n`, { headers });
    }
    const users: string[] = [];
    for (const name of await auth.allUsers()) {
      const user = await auth.getUser(name);
      users.push(await _userWithRoles(auth, user, true));
    }
    const body = users.length === 0 ? "null" : `[${users.join(",")}]`;
    return new Response(`{"users":${body}}\n`, { headers });
  } catch (error) {
    return _writeError(error, headers);
  }
}

/** etcd's userWithRoles: the user and its roles' full JSON (omitted when none). */
async function _userWithRoles(auth: V2Auth, user: V2User, skipMissing: boolean): Promise<string> {
  const roles: string[] = [];
  for (const name of user.roles ?? []) {
    try {
      roles.push(v2RoleJson(await auth.getRole(name)));
    } catch (error) {
      if (!skipMissing) throw error;
    }
  }
  const rolesJson = roles.length === 0 ? "" : `,"roles":[${roles.join(",")}]`;
  return `{"user":${JSON.stringify(user.user)}${rolesJson}}`;
}

async function _forUser(
  auth: V2Auth,
  clusterIdHex: string,
  request: Request,
  name: string,
): Promise<Response> {
  const allowed = ["GET", "PUT", "DELETE"];
  if (!allowed.includes(request.method)) return _methodNotAllowed(allowed);
  if (!(await hasRootAccess(auth, request))) return _noAuth();
  const headers = _jsonHeaders(clusterIdHex);
  try {
    if (request.method === "GET") {
      const user = await auth.getUser(name);
      return new Response((await _userWithRoles(auth, user, false)) + "\n", { headers });
    }
    if (request.method === "DELETE") {
      await auth.deleteUser(name);
      return new Response(null, { headers });
    }
    let input: V2User;
    try {
      input = parseV2User(await request.text());
    } catch {
      return _httpError(400, "Invalid JSON in request body.", headers);
    }
    if (input.user !== name) {
      return _httpError(400, "User JSON name does not match the name in the URL", headers);
    }
    let out: V2User;
    let created = false;
    if ((input.grant ?? []).length === 0 && (input.revoke ?? []).length === 0) {
      if ((input.roles ?? []).length !== 0) {
        out = await auth.createUser(input);
      } else {
        ({ user: out, created } = await auth.createOrUpdateUser(input));
      }
    } else {
      if ((input.roles ?? []).length !== 0) {
        return _httpError(400, "User JSON contains both roles and grant/revoke", headers);
      }
      out = await auth.updateUser(input);
    }
    const { password: _hidden, ...shown } = out;
    return new Response(v2UserJson(shown) + "\n", { status: created ? 201 : 200, headers });
  } catch (error) {
    return _writeError(error, headers);
  }
}

async function _forRole(
  auth: V2Auth,
  clusterIdHex: string,
  request: Request,
  name: string,
): Promise<Response> {
  const allowed = ["GET", "PUT", "DELETE"];
  if (!allowed.includes(request.method)) return _methodNotAllowed(allowed);
  if (!(await hasRootAccess(auth, request))) return _noAuth();
  const headers = _jsonHeaders(clusterIdHex);
  try {
    if (request.method === "GET") {
      return new Response(v2RoleJson(await auth.getRole(name)) + "\n", { headers });
    }
    if (request.method === "DELETE") {
      await auth.deleteRole(name);
      return new Response(null, { headers });
    }
    let input: V2Role;
    try {
      input = parseV2Role(await request.text());
    } catch {
      return _httpError(400, "Invalid JSON in request body.", headers);
    }
    if (input.role !== name) {
      return _httpError(400, "Role JSON name does not match the name in the URL", headers);
    }
    if (roleHasNoChanges(input)) {
      await auth.createRole(input);
      return new Response(v2RoleJson(input) + "\n", { status: 201, headers });
    }
    if (!rolePermissionsEmpty(input)) {
      return _httpError(400, "Role JSON contains both permissions and grant/revoke", headers);
    }
    const out = await auth.updateRole(input);
    return new Response(v2RoleJson(out) + "\n", { headers });
  } catch (error) {
    return _writeError(error, headers);
  }
}

async function _enable(auth: V2Auth, clusterIdHex: string, request: Request): Promise<Response> {
  const allowed = ["GET", "PUT", "DELETE"];
  if (!allowed.includes(request.method)) return _methodNotAllowed(allowed);
  // etcd's hasWriteRootAccess: reading the switch needs nothing.
  if (request.method !== "GET" && !(await hasRootAccess(auth, request))) return _noAuth();
  const headers = _jsonHeaders(clusterIdHex);
  try {
    if (request.method === "GET") {
      return new Response(`{"enabled":${await auth.authEnabled()}}\n`, { headers });
    }
    if (request.method === "PUT") await auth.enableAuth();
    else await auth.disableAuth();
    return new Response(null, { headers });
  } catch (error) {
    return _writeError(error, headers);
  }
}
