// Goal: the store keeps etcd's rules and its on-disk form: auth enable needs root with the
// root role, every change bumps the revision, root cannot be deleted while auth is on, checks
// refuse anonymous, stale and unauthorised callers, passwords are bcrypt hashes that survive
// a reopen, and users/roles decode as authpb. Method: the store over a real bolt backend in a
// temp dir, with a simple token provider.
import { deepStrictEqual, rejects, strictEqual, throws } from "node:assert/strict";
import { openBackend } from "../backend/mod.ts";
import { authpb } from "../etcdserverpb/mod.ts";
import { AUTH_USERS_BUCKET } from "./buckets.ts";
import {
  ErrAuthFailed,
  ErrAuthNotEnabled,
  ErrAuthOldRevision,
  ErrInvalidAuthMgmt,
  ErrNoPasswordUser,
  ErrPermissionDenied,
  ErrPermissionNotGranted,
  ErrRoleNotFound,
  ErrRoleNotGranted,
  ErrRootRoleNotExist,
  ErrRootUserNotExist,
  ErrUserAlreadyExist,
  ErrUserEmpty,
  ErrUserNotFound,
} from "./errors.ts";
import { SimpleTokenProvider } from "./simple_token.ts";
import { AuthStore } from "./store.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const is = (expected: unknown) => (e: unknown) => e === expected;

async function open(dir?: string) {
  const path = `${dir ?? await Deno.makeTempDir({ prefix: "detcd_auth_" })}/db`;
  const backend = openBackend({ path });
  const tokens = new SimpleTokenProvider({
    ttlMs: 60_000,
    waitApplied: () => Promise.resolve(),
    appliedIndex: () => 0,
    committedIndex: () => 0,
  });
  const store = new AuthStore(backend, { bcryptCost: 4, tokens });
  const close = () => {
    store.close();
    backend.close();
  };
  return { store, backend, close, dir: path.slice(0, -3) };
}

Deno.test("auth changes save the consistent index as etcd 3.4's do; enable and no-ops do not", async () => {
  const path = `${await Deno.makeTempDir({ prefix: "detcd_auth_" })}/db`;
  const backend = openBackend({ path });
  const tokens = new SimpleTokenProvider({
    ttlMs: 60_000,
    waitApplied: () => Promise.resolve(),
    appliedIndex: () => 0,
    committedIndex: () => 0,
  });
  let saves = 0;
  const store = new AuthStore(backend, {
    bcryptCost: 4,
    tokens,
    saveConsistentIndex: (tx) => {
      strictEqual(typeof tx.unsafePut, "function", "called with the change's batch");
      saves++;
    },
  });
  try {
    strictEqual(saves, 0, "opening the store saves nothing");
    store.userAdd({ name: "root", noPassword: true });
    store.roleAdd("root");
    store.userGrantRole("root", "root");
    strictEqual(saves, 3);
    store.userGrantRole("root", "root");
    throws(() => store.roleAdd("root"));
    strictEqual(saves, 3, "a grant that changes nothing and a refused add save nothing");
    store.authEnable();
    strictEqual(saves, 3, "auth enable does not save it (etcd 3.4 AuthEnable)");
    store.authDisable();
    strictEqual(saves, 4);
  } finally {
    store.close();
    backend.close();
    await Deno.remove(path.slice(0, -3), { recursive: true });
  }
});

async function addUser(store: AuthStore, name: string, password: string) {
  store.userAdd({ name, hashedPassword: await store.hashPassword(password) });
}

Deno.test("auth enable needs a root user with the root role; revision bumps per change", async () => {
  const { store, close, dir } = await open();
  strictEqual(store.revision, 1, "a fresh db starts at revision 1");
  throws(() => store.authEnable(), is(ErrRootUserNotExist));
  await addUser(store, "root", "pw");
  throws(() => store.authEnable(), is(ErrRootRoleNotExist));
  store.userGrantRole("root", "root");
  strictEqual(store.revision, 3);
  store.userGrantRole("root", "root");
  strictEqual(store.revision, 3, "granting twice changes nothing");
  store.authEnable();
  strictEqual(store.enabled, true);
  throws(() => store.userDelete("root"), is(ErrInvalidAuthMgmt));
  throws(() => store.userRevokeRole("root", "root"), is(ErrInvalidAuthMgmt));
  throws(() => store.roleDelete("root"), is(ErrInvalidAuthMgmt));
  store.authDisable();
  strictEqual(store.enabled, false);
  close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("users and roles: errors in etcd's order and words", async () => {
  const { store, close, dir } = await open();
  throws(() => store.userAdd({ name: "" }), is(ErrUserEmpty));
  await addUser(store, "u", "p");
  await rejects(addUser(store, "u", "p"), is(ErrUserAlreadyExist));
  throws(() => store.userGrantRole("u", "nope"), is(ErrRoleNotFound));
  throws(() => store.userGrantRole("nobody", "r"), is(ErrUserNotFound));
  store.roleAdd("r");
  store.userGrantRole("u", "r");
  deepStrictEqual(store.userGet("u"), ["r"]);
  throws(() => store.userRevokeRole("u", "x"), is(ErrRoleNotGranted));
  throws(() => store.roleRevokePermission("r", enc("a"), enc("")), is(ErrPermissionNotGranted));
  store.roleGrantPermission("r", { key: enc("b"), rangeEnd: enc(""), permType: 0 });
  store.roleGrantPermission("r", { key: enc("a"), rangeEnd: enc("c"), permType: 0 });
  store.roleGrantPermission("r", { key: enc("a"), rangeEnd: enc("c"), permType: 2 });
  deepStrictEqual(
    store.roleGet("r").map((p) => [new TextDecoder().decode(p.key!), p.permType]),
    [["a", 2], ["b", 0]],
    "sorted by key; a second grant on the same range changes its type",
  );
  store.roleDelete("r");
  deepStrictEqual(store.userGet("u"), [], "a deleted role is revoked from its users");
  deepStrictEqual(store.userList(), ["u"]);
  deepStrictEqual(store.roleList(), []);
  close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checks: anonymous, stale revision, no permission, root, auth off", async () => {
  const { store, close, dir } = await open();
  await addUser(store, "root", "pw");
  store.userGrantRole("root", "root");
  await addUser(store, "alice", "pw");
  store.roleAdd("r");
  store.roleGrantPermission("r", { key: enc("foo"), rangeEnd: enc("fop"), permType: 0 });
  store.userGrantRole("alice", "r");
  const key = enc("foo1");
  // Auth off: everything is allowed, even anonymous.
  store.isPutPermitted(undefined, key);
  store.isAdminPermitted(undefined);
  store.authEnable();
  const rev = store.revision;
  throws(() => store.isRangePermitted(undefined, key, enc("")), is(ErrUserEmpty));
  throws(() => store.isAdminPermitted(undefined), is(ErrUserEmpty));
  store.isRangePermitted({ username: "alice", revision: rev }, key, enc(""));
  throws(
    () => store.isPutPermitted({ username: "alice", revision: rev }, key),
    is(ErrPermissionDenied),
  );
  throws(
    () => store.isAdminPermitted({ username: "alice", revision: rev }),
    is(ErrPermissionDenied),
  );
  throws(() => store.isAdminPermitted({ username: "ghost", revision: rev }), is(ErrUserNotFound));
  store.isPutPermitted({ username: "root", revision: rev }, enc("anything"));
  store.roleRevokePermission("r", enc("foo"), enc("fop"));
  throws(
    () => store.isRangePermitted({ username: "alice", revision: rev }, key, enc("")),
    is(ErrAuthOldRevision),
  );
  throws(
    () => store.isRangePermitted({ username: "alice", revision: store.revision }, key, enc("")),
    is(ErrPermissionDenied),
  );
  close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checks follow every change of users and roles, and a recovered backend", async () => {
  // Goal: the checks read a per-user cache rather than the bucket; it must never lag a change.
  // Method: after each kind of change (root role granted and revoked, a role deleted, a user
  // deleted, recover() onto another db) ask the same checks again at the current revision.
  const { store, close, dir } = await open();
  await addUser(store, "root", "pw");
  store.userGrantRole("root", "root");
  await addUser(store, "bob", "pw");
  store.roleAdd("w");
  store.roleGrantPermission("w", { key: enc("k"), rangeEnd: enc(""), permType: 1 });
  store.userGrantRole("bob", "w");
  store.authEnable();
  const bob = () => ({ username: "bob", revision: store.revision });
  store.isPutPermitted(bob(), enc("k"));
  throws(() => store.isPutPermitted(bob(), enc("k2")), is(ErrPermissionDenied));
  throws(() => store.isAdminPermitted(bob()), is(ErrPermissionDenied));
  store.userGrantRole("bob", "root");
  store.isPutPermitted(bob(), enc("k2"));
  store.isAdminPermitted(bob());
  store.userRevokeRole("bob", "root");
  throws(() => store.isPutPermitted(bob(), enc("k2")), is(ErrPermissionDenied));
  throws(() => store.isAdminPermitted(bob()), is(ErrPermissionDenied));
  store.roleDelete("w");
  throws(() => store.isPutPermitted(bob(), enc("k")), is(ErrPermissionDenied));
  store.roleAdd("w");
  store.roleGrantPermission("w", { key: enc("k"), rangeEnd: enc(""), permType: 1 });
  store.userGrantRole("bob", "w");
  store.isPutPermitted(bob(), enc("k"));
  store.userDelete("bob");
  throws(() => store.isPutPermitted(bob(), enc("k")), is(ErrPermissionDenied));
  throws(() => store.isAdminPermitted(bob()), is(ErrUserNotFound));
  // Another db where bob exists again, with root: recover() must pick him up.
  const other = await open();
  await addUser(other.store, "root", "pw");
  other.store.userGrantRole("root", "root");
  await addUser(other.store, "bob", "pw");
  other.store.userGrantRole("bob", "root");
  other.store.authEnable();
  other.store.close();
  store.recover(other.backend);
  store.isPutPermitted(bob(), enc("anything"));
  store.isAdminPermitted(bob());
  close();
  other.backend.close();
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(other.dir, { recursive: true });
});

Deno.test("passwords: bcrypt hashes, checked asynchronously, kept across a reopen", async () => {
  const first = await open();
  const { store } = first;
  await addUser(store, "root", "secret");
  store.userGrantRole("root", "root");
  store.userAdd({ name: "cert", noPassword: true });
  await rejects(store.checkPassword("root", "secret"), is(ErrAuthNotEnabled));
  store.authEnable();
  strictEqual(await store.checkPassword("root", "secret"), store.revision);
  await rejects(store.checkPassword("root", "wrong"), is(ErrAuthFailed));
  await rejects(store.checkPassword("ghost", "x"), is(ErrAuthFailed));
  await rejects(store.checkPassword("cert", ""), is(ErrNoPasswordUser));
  throws(() => store.authenticate("cert", { index: 1, simpleTokenPrefix: "p" }), is(ErrAuthFailed));
  first.backend.forceCommit();
  // The stored user is an authpb.User with a bcrypt hash and etcd's options field.
  const raw = first.backend.readTx().unsafeRange(AUTH_USERS_BUCKET, enc("root"), undefined, 0)
    .values[0]!;
  const user = authpb.User.decode(raw);
  strictEqual(new TextDecoder().decode(user.password).startsWith("$2"), true);
  deepStrictEqual(user.roles, ["root"]);
  strictEqual(user.options?.noPassword ?? false, false);
  const revision = store.revision;
  first.close();
  const second = await open(first.dir);
  strictEqual(second.store.enabled, true);
  strictEqual(second.store.revision, revision);
  strictEqual(await second.store.checkPassword("root", "secret"), revision);
  second.close();
  await Deno.remove(first.dir, { recursive: true });
});

Deno.test("an entry from an etcd 3.4 member (clear password) is hashed at apply", async () => {
  const { store, close, dir } = await open();
  store.userAdd({ name: "root", password: "clear" });
  store.userGrantRole("root", "root");
  store.authEnable();
  strictEqual(await store.checkPassword("root", "clear"), store.revision);
  store.userChangePassword({ name: "root", hashedPassword: await store.hashPassword("new") });
  await rejects(store.checkPassword("root", "clear"), is(ErrAuthFailed));
  strictEqual(await store.checkPassword("root", "new"), store.revision);
  close();
  await Deno.remove(dir, { recursive: true });
});
