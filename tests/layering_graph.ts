/**
 * The declared module graph of detcd, written once, as data. `tests/layering_test.ts` reads
 * every import of every non-test `.ts` file and fails on an edge this graph does not allow and
 * on an import into another module that bypasses that module's `mod.ts`.
 *
 * A module is a top-level folder; the files at the repository root (`main.ts`) form the
 * module `root`. `A: [B, C]` means that A may import B and C; a module may always import
 * itself. The graph must stay acyclic, so imports point one way: down.
 *
 * The floors, from the ground up, and why each edge is allowed (with the etcd 3.4 package that
 * sets the precedent):
 *
 * - Ground floor, importing nothing of ours: `testing` (the seeded PRNG for tests and
 *   benchmarks), `checksum` (CRC-32C), `bytes` (byte-slice helpers), `ids`
 *   (member and cluster IDs, as etcd's `pkg/types`), `tls` (TLS through the system OpenSSL,
 *   for the restrictions etcd enforces inside the handshake, as its `pkg/transport` sits
 *   under `rafthttp` and the server), `etcdserverpb` (the
 *   client protocol: `.proto` files, generated code, int64 helpers; etcd keeps
 *   `etcdserver/etcdserverpb` below every user of it), and `metrics` (the parts of the
 *   Prometheus client that every module's `metrics.ts` registers in; etcd's packages import
 *   `prometheus/client_golang` the same way).
 * - `pb`: the protobuf wire primitives, over `bytes`.
 * - `raft`: a pure state machine and its `raftpb` types (etcd's `raft` imports only
 *   `raft/raftpb`); it encodes with `pb`.
 * - `backend`: the bolt page file and the batched backend (etcd's `mvcc/backend` over bbolt). It
 *   knows no revisions and no raft; `testing` serves its test helpers.
 * - `wal` and `snap`: files of raft records (etcd's `wal` and `etcdserver/api/snap` import
 *   `raft/raftpb`), with CRC-32C record checksums.
 * - `mvcc`: revisions and the key index over `backend` (etcd's `mvcc` imports `mvcc/backend`
 *   and `mvccpb`); it replies with `etcdserverpb` types.
 * - `lease` and `auth`: stores over `backend`, beside `mvcc` (etcd's `lease` and `auth` import
 *   `mvcc/backend`), not `mvcc` itself; nor does `mvcc` import `lease`: the store only sees a
 *   `LeaseAttacher`, as etcd's lessor only sees a `RangeDeleter`.
 * - `rafthttp`: the peer transport, which only moves `raftpb` messages (etcd's
 *   `etcdserver/api/rafthttp` imports `raft` and `raftpb`, never the server).
 * - `server`: one member (etcd's `etcdserver`): the glue over everything below, with a
 *   request-level API (range, put, txn, leases, members, maintenance) and plain errors.
 * - `rpc`: the v3 method table, etcd's gRPC errors and the JSON mapping (etcd's
 *   `v3rpc/rpctypes`, which `clientv3` imports too): over the protocol only, so that clients
 *   load it without the server.
 * - `client`: a grpc-js client over `rpc` (etcd's `clientv3`). No member module imports it, so
 *   that a member does not load @grpc/grpc-js; the grpc-proxy's upstream, the tests and the
 *   benchmarks do.
 * - `api`: the gRPC services and the HTTP gateway (etcd's `etcdserver/api/v3rpc`). It sees
 *   `server` and the protocol, and nothing under `server`: not `mvcc`, `backend` or `raft`.
 *   The server's request API is the one place where request semantics live (quota checks, the
 *   linearizable read path and its ReadIndex wait, the order of writes through raft) and where
 *   auth checks will sit; an api that could reach the store or the raft node could bypass all of
 *   them, and every storage change would ripple into the wire layer.
 * - `ui`: the built-in web console (browser files as text imports, and the handler serving them
 *   under `/ui/`). It imports nothing of ours: the console reaches the member only as any HTTP
 *   client does (gateway, `/metrics`), so it cannot bypass raft or auth; `api` mounts it and
 *   hands it the one read-only report it needs (the page file's accounting).
 * - `embed`: starts a member (etcd's `embed`): wires `server`, the `api` listeners and the
 *   `rafthttp` transport.
 * - `proxy`: etcd's grpc-proxy and gateway (etcd's `proxy/grpcproxy`, `proxy/tcpproxy`): a
 *   client of the cluster over `rpc` and `client` that serves clients with `api`'s transport; it
 *   borrows the logger, TLS policy and flag helpers of `server` but never runs a member.
 * - `root` (`main.ts`): parses flags and calls `embed`; its inspect subcommands read `backend`,
 *   `snap` and `wal` files, and it shares the flag parser and logger of `server`.
 * - Beside the building, not in it: `bench`, `scripts` and `tests` may use any module above,
 *   through its `mod.ts`, but not each other.
 *
 * @module
 */

/** Modules that import nothing of ours. */
const GROUND = [
  "testing",
  "checksum",
  "bytes",
  "ids",
  "etcdserverpb",
  "v2store",
  "tls",
  "metrics",
] as const;

/** Every module of the building, from the ground floor up to `main.ts`. */
const BUILDING = [
  ...GROUND,
  "pb",
  "rpc",
  "client",
  "raft",
  "backend",
  "wal",
  "snap",
  "mvcc",
  "lease",
  "auth",
  "rafthttp",
  "linearizability",
  "server",
  "ui",
  "api",
  "proxy",
  "embed",
  "root",
] as const;

/** Which modules each module may import (besides itself). */
export const MODULE_GRAPH: Readonly<Record<string, readonly string[]>> = {
  testing: [],
  checksum: [],
  bytes: [],
  ids: [],
  etcdserverpb: [],
  v2store: [],
  tls: [],
  metrics: [],
  pb: ["bytes"],
  raft: ["pb", "bytes"],
  backend: ["bytes", "checksum", "testing", "metrics"],
  wal: ["raft", "pb", "bytes", "checksum", "metrics"],
  snap: ["raft", "pb", "bytes", "checksum", "metrics"],
  mvcc: ["backend", "bytes", "checksum", "testing", "etcdserverpb", "metrics"],
  lease: ["backend", "bytes", "etcdserverpb", "metrics"],
  auth: ["backend", "bytes", "etcdserverpb", "metrics"],
  rafthttp: ["raft", "pb", "bytes", "tls", "metrics"],
  linearizability: ["testing"],
  server: [
    "ids",
    "raft",
    "wal",
    "snap",
    "backend",
    "mvcc",
    "lease",
    "auth",
    "rafthttp",
    "etcdserverpb",
    "pb",
    "bytes",
    "checksum",
    "v2store",
    "tls",
    "metrics",
  ],
  rpc: ["etcdserverpb"],
  client: ["rpc"],
  ui: [],
  api: ["server", "rpc", "ui", "etcdserverpb", "bytes", "tls", "metrics"],
  embed: ["api", "rpc", "server", "rafthttp", "etcdserverpb", "bytes", "tls"],
  proxy: ["api", "rpc", "client", "server", "etcdserverpb", "metrics"],
  root: ["embed", "proxy", "server", "backend", "snap", "wal"],
  bench: BUILDING,
  scripts: BUILDING,
  tests: BUILDING,
};

/** The file that is a module's public surface: `main.ts` for `root`, else `<module>/mod.ts`. */
export function surfaceOf(module: string): string {
  return module === "root" ? "main.ts" : `${module}/mod.ts`;
}
