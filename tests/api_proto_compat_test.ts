// Goal: our hand-written .proto files describe exactly etcd 3.4's wire API: the same
// packages, messages, fields (name, number, type, label, oneof), enums and values, services,
// methods and streaming flags. A wrong field number would silently corrupt every client.
// Method: parse etcd's own .proto files (from the Debian Go sources, with the gogoproto and
// google.api options stripped) and ours with protobufjs, and compare the two descriptor
// trees without comments.
import assert from "node:assert/strict";
import protobuf from "protobufjs";

const ETCD = "/usr/share/gocode/src/go.etcd.io/etcd";
const OURS = new URL("../etcdserverpb/proto/", import.meta.url).pathname;
const FILES: [string, string][] = [
  ["etcdserver/etcdserverpb/rpc.proto", "etcdserverpb/rpc.proto"],
  ["etcdserver/etcdserverpb/etcdserver.proto", "etcdserverpb/etcdserver.proto"],
  ["etcdserver/etcdserverpb/raft_internal.proto", "etcdserverpb/raft_internal.proto"],
  ["mvcc/mvccpb/kv.proto", "mvccpb/kv.proto"],
  ["auth/authpb/auth.proto", "authpb/auth.proto"],
  ["lease/leasepb/lease.proto", "leasepb/lease.proto"],
];

/** Removes what only matters to Go code generation and the HTTP gateway. */
function stripOptions(source: string): string {
  return source
    .replace(/import "(gogoproto|google\/api)\/[^"]+";/g, "")
    .replace(/option \(gogoproto\.[^;]*;/g, "")
    .replace(/\s*\[\(gogoproto\.[^\]]*\]/g, "")
    .replace(/option \(google\.api\.http\) = \{(?:[^{}]|\{[^{}]*\})*\};/g, "")
    .replace(/import "[^"]+";/g, "");
}

function load(sources: string[]): unknown {
  const root = new protobuf.Root();
  for (const source of sources) protobuf.parse(source, root, { keepCase: true });
  root.resolveAll();
  return normalize(root.toJSON());
}

/** Sorted keys, no comments, no empty option objects: a canonical tree to compare. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const field = (value as Record<string, unknown>)[key];
    if (key === "comment" || key === "comments") continue;
    if (key === "options" && JSON.stringify(field) === "{}") continue;
    out[key] = normalize(field);
  }
  return out;
}

/** The fields of message `name` (in package etcdserverpb) of a normalized tree. */
function _fieldsOf(tree: unknown, name: string): Record<string, unknown> {
  // deno-lint-ignore no-explicit-any
  const pkg = (tree as any).nested.etcdserverpb.nested;
  return pkg[name].fields as Record<string, unknown>;
}

const haveEtcd = await Deno.stat(`${ETCD}/etcdserver/etcdserverpb/rpc.proto`).then(
  () => true,
  () => false,
);

Deno.test({
  name: "etcdserverpb/proto matches etcd 3.4's .proto files field for field",
  ignore: !haveEtcd,
  async fn() {
    const theirs = await Promise.all(
      FILES.map(async ([path]) => stripOptions(await Deno.readTextFile(`${ETCD}/${path}`))),
    );
    const ours = await Promise.all(
      FILES.map(async ([, path]) => stripOptions(await Deno.readTextFile(`${OURS}${path}`))),
    );
    const expected = load(theirs);
    const actual = load(ours);
    // The one extension, etcd 3.5's own field (same number): the proposer's bcrypt hash, so that
    // detcd members do not hash on their apply loop; etcd 3.4 members skip it and hash the
    // clear password the entry still carries.
    for (const [message, id] of [["AuthUserAddRequest", 4], ["AuthUserChangePasswordRequest", 3]]) {
      const fields = _fieldsOf(actual, message as string);
      assert.deepEqual(fields.hashedPassword, { id, type: "string" }, message as string);
      delete fields.hashedPassword;
    }
    // Guard against comparing two empty trees.
    assert.ok(JSON.stringify(expected).includes('"LeaseKeepAlive"'));
    assert.ok(JSON.stringify(expected).length > 15_000, "too few definitions parsed");
    assert.deepEqual(actual, expected);
  },
});
