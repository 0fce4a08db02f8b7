// Goal: the gRPC adapter speaks etcd's wire protocol well enough for the real etcdctl
// (clientv3 over grpc-go): method paths, codecs, int64 fields, error statuses and messages,
// UNIMPLEMENTED for a missing method, and plain HTTP/1.1 on the same port.
// Method: a tiny in-memory KV service (defined here, no MVCC) served by startGrpcServer on
// 127.0.0.1:23800; /usr/bin/etcdctl drives it and its JSON output is checked field by field.
import assert from "node:assert/strict";
import { startGrpcServer } from "../api/mod.ts";
import { ErrFutureRev, type KVService } from "../rpc/mod.ts";
import {
  bigintToULong,
  etcdserverpb,
  longToNumber,
  mvccpb,
  numberToLong,
  numberToULong,
} from "../etcdserverpb/mod.ts";

const PORT = 23800;
const ETCDCTL = "/usr/bin/etcdctl";
const CLUSTER_ID = 0x8e9e05c52164694dn;

/** A map of key (latin1 string of the bytes) to its KeyValue, and a revision counter. */
function fakeKv(): Pick<KVService, "put" | "range"> {
  const store = new Map<string, mvccpb.KeyValue.$Properties>();
  let revision = 1;
  const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
  const header = (): etcdserverpb.ResponseHeader.$Properties => ({
    clusterId: bigintToULong(CLUSTER_ID),
    memberId: numberToULong(1),
    revision: numberToLong(revision),
    raftTerm: numberToULong(2),
  });
  return {
    put(request) {
      revision += 1;
      const key = latin1(request.key);
      const previous = store.get(key);
      store.set(key, {
        key: request.key,
        value: request.value,
        createRevision: previous?.createRevision ?? numberToLong(revision),
        modRevision: numberToLong(revision),
        version: numberToLong(longToNumber(previous?.version ?? 0) + 1),
        lease: request.lease,
      });
      const response: etcdserverpb.PutResponse.$Properties = { header: header() };
      if (request.prevKv && previous) response.prevKv = previous;
      return Promise.resolve(response);
    },
    range(request) {
      if (longToNumber(request.revision) > revision) return Promise.reject(ErrFutureRev);
      const start = latin1(request.key);
      const end = latin1(request.rangeEnd);
      const kvs = [...store.entries()]
        .filter(([key]) => end === "" ? key === start : key >= start && (end === "\0" || key < end))
        .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
        .map(([, kv]) => kv);
      return Promise.resolve({ header: header(), kvs, count: numberToLong(kvs.length) });
    },
  };
}

async function etcdctl(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(ETCDCTL, {
    args: [`--endpoints=127.0.0.1:${PORT}`, "--dial-timeout=3s", "--command-timeout=5s", ...args],
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

for (const transport of ["grpc-js", "native"] as const) {
  Deno.test({
    name: `etcdctl put/get/errors against the ${transport} transport, HTTP on the same port`,
    ignore: !(await Deno.stat(ETCDCTL).then(() => true, () => false)),
    async fn() {
      const server = await startGrpcServer({
        transport,
        host: "127.0.0.1",
        port: PORT,
        services: { kv: fakeKv() },
        http: (request) => {
          const path = new URL(request.url).pathname;
          if (path === "/health") return Response.json({ health: "true" });
          return new Response("404 page not found\n", { status: 404 });
        },
      });
      try {
        assert.equal(server.port, PORT);

        const put = await etcdctl("put", "a", "b");
        assert.equal(put.code, 0, put.stderr);
        assert.equal(put.stdout.trim(), "OK");
        assert.equal((await etcdctl("put", "a", "c")).code, 0);
        assert.equal((await etcdctl("put", "ab", "d")).code, 0);

        const get = await etcdctl("get", "a", "-w", "json");
        assert.equal(get.code, 0, get.stderr);
        const json = JSON.parse(get.stdout);
        // grpc-go's JSON printer writes uint64 fields as numbers; the cluster ID passes 2^53,
        // so compare it in its decimal text.
        assert.match(get.stdout, new RegExp(`"cluster_id":${CLUSTER_ID}`));
        assert.equal(json.header.member_id, 1);
        assert.equal(json.header.revision, 4);
        assert.equal(json.header.raft_term, 2);
        assert.equal(json.count, 1);
        assert.equal(json.kvs.length, 1);
        assert.equal(atob(json.kvs[0].key), "a");
        assert.equal(atob(json.kvs[0].value), "c");
        assert.equal(json.kvs[0].create_revision, 2);
        assert.equal(json.kvs[0].mod_revision, 3);
        assert.equal(json.kvs[0].version, 2);

        const prefix = await etcdctl("get", "a", "--prefix");
        assert.equal(prefix.code, 0, prefix.stderr);
        assert.equal(prefix.stdout, "a\nc\nab\nd\n");

        // An EtcdError reaches clientv3 with its code and exact message.
        const future = await etcdctl("get", "a", "--rev=99");
        assert.notEqual(future.code, 0);
        assert.match(future.stderr, /etcdserver: mvcc: required revision is a future revision/);

        // A method without a handler answers UNIMPLEMENTED, and the server keeps serving.
        const del = await etcdctl("del", "a");
        assert.notEqual(del.code, 0);
        assert.match(del.stderr, /Unimplemented/);
        assert.equal((await etcdctl("get", "a", "--print-value-only")).stdout, "c\n");

        // Plain HTTP/1.1 on the gRPC port.
        const health = await fetch(`http://127.0.0.1:${PORT}/health`);
        assert.equal(health.status, 200);
        assert.deepEqual(await health.json(), { health: "true" });
        const missing = await fetch(`http://127.0.0.1:${PORT}/nothing`);
        assert.equal(missing.status, 404);
        await missing.body?.cancel();
      } finally {
        await server.close();
      }
    },
  });
}

const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const TLS_PORT = 23803;

for (const transport of ["grpc-js", "native"] as const) {
  Deno.test({
    name: `etcdctl over TLS (${transport}) with --client-cert-auth; HTTPS on the same port`,
    ignore: !(await Deno.stat(`${FIXTURES}/ca.crt`).then(() => true, () => false)) ||
      !(await Deno.stat(ETCDCTL).then(() => true, () => false)),
    async fn() {
      // etcd's e2e fixtures: server.crt (CN example.com, SAN 127.0.0.1) serves as both the
      // server and the client certificate, signed by ca.crt.
      const caPem = await Deno.readTextFile(`${FIXTURES}/ca.crt`);
      const commonNames: (string | undefined)[] = [];
      const kv = fakeKv();
      const server = await startGrpcServer({
        transport,
        host: "127.0.0.1",
        port: TLS_PORT,
        services: {
          kv: {
            range: kv.range,
            put: (request, context) => {
              commonNames.push(context.commonName);
              return kv.put(request, context);
            },
          },
        },
        http: () => new Response("tls ok"),
        tls: {
          certPem: await Deno.readTextFile(`${FIXTURES}/server.crt`),
          keyPem: await Deno.readTextFile(`${FIXTURES}/server.key.insecure`),
          caPem,
          clientCertAuth: true,
        },
      });
      const endpoint = `--endpoints=https://127.0.0.1:${TLS_PORT}`;
      const withCert = [
        `--cacert=${FIXTURES}/ca.crt`,
        `--cert=${FIXTURES}/server.crt`,
        `--key=${FIXTURES}/server.key.insecure`,
      ];
      try {
        const put = await etcdctl(endpoint, ...withCert, "put", "k", "v");
        assert.equal(put.code, 0, put.stderr);
        const get = await etcdctl(endpoint, ...withCert, "get", "k", "--print-value-only");
        assert.equal(get.stdout, "v\n", get.stderr);
        assert.deepEqual(commonNames, ["example.com"]);

        // Without a client certificate the handshake is refused.
        const refused = await etcdctl(
          endpoint,
          `--cacert=${FIXTURES}/ca.crt`,
          "--dial-timeout=1s",
          "--command-timeout=1s",
          "put",
          "k",
          "w",
        );
        assert.notEqual(refused.code, 0);
        assert.deepEqual(commonNames, ["example.com"]);

        // HTTPS (ALPN http/1.1) on the same port, with a client certificate.
        const client = Deno.createHttpClient({
          caCerts: [caPem],
          cert: await Deno.readTextFile(`${FIXTURES}/server.crt`),
          key: await Deno.readTextFile(`${FIXTURES}/server.key.insecure`),
        });
        try {
          const response = await fetch(`https://127.0.0.1:${TLS_PORT}/health`, { client });
          assert.equal(await response.text(), "tls ok");
        } finally {
          client.close();
        }
      } finally {
        await server.close();
      }
    },
  });
}
