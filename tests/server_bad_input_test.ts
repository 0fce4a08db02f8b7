/**
 * Bad input: each gets a clear error and nothing already stored is lost.
 *
 * Goal: oversized requests, a txn with 129 operations, duplicate keys in a txn, an empty key,
 * a malformed protobuf frame, an unknown flag and a data directory that cannot be used are
 * refused with etcd's error (or a clear message and exit status), and the member keeps
 * serving what it stored.
 * Method: one detcd child with a small `--max-request-bytes`; the requests go through
 * etcdctl, the gRPC client, and grpc-js with a serializer that sends garbage bytes.
 */

import { match, notStrictEqual, ok, strictEqual } from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { EtcdGrpcClient } from "../client/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { detcdArgs, etcdctl, etcdctlOk, startDetcd } from "./_server_process.ts";

const _opts = { sanitizeResources: false, sanitizeOps: false };
const _encoder = new TextEncoder();
const _MAIN = new URL("../main.ts", import.meta.url).pathname;

async function _rejects(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to fail");
}

Deno.test({
  name: "bad requests get etcd's errors and leave stored data intact",
  ..._opts,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "detcd_bad_" });
    const proc = await startDetcd({
      dataDir,
      clientPort: 23932,
      peerPort: 23933,
      fast: true,
      flags: ["--max-request-bytes", "20000"],
    });
    const ep = proc.endpoint;
    const client = new EtcdGrpcClient(ep);
    try {
      await etcdctlOk(ep, ["put", "keep", "me"]);

      // Too large for --max-request-bytes (but within gRPC's own limit).
      const large = await etcdctl(ep, ["put", "big", "x".repeat(30_000)]);
      strictEqual(large.code, 1);
      match(large.stderr, /etcdserver: request is too large/);

      // Far beyond the gRPC receive limit: refused by the transport, cleanly.
      const huge = await _rejects(client.unary(METHODS.KV.Put, {
        key: _encoder.encode("huge"),
        value: new Uint8Array(3 * 1024 * 1024),
      }));
      ok(huge.message.length > 0);

      // 129 operations in one txn.
      const ops = Array.from({ length: 129 }, (_, i) => `put t${i} v`).join("\n");
      const many = await etcdctl(ep, ["txn"], `\n${ops}\n\n\n`);
      match(many.stderr, /etcdserver: too many operations in txn request/);

      // The same key twice in one branch.
      const duplicate = await etcdctl(ep, ["txn"], "\nput d 1\nput d 2\n\n\n");
      match(duplicate.stderr, /etcdserver: duplicate key given in txn request/);

      // No key.
      const empty = await _rejects(client.unary(METHODS.KV.Put, { value: _encoder.encode("v") }));
      match(empty.message, /etcdserver: key is not provided/);
      const emptyRange = await _rejects(client.unary(METHODS.KV.Range, {}));
      match(emptyRange.message, /etcdserver: key is not provided/);

      // A malformed protobuf frame: a length-delimited field that runs past the end.
      const raw = new grpc.Client(ep, grpc.credentials.createInsecure());
      const malformed = await new Promise<grpc.ServiceError | null>((resolve) => {
        raw.makeUnaryRequest(
          "/etcdserverpb.KV/Put",
          (bytes: Uint8Array) => Buffer.from(bytes),
          (bytes: Buffer) => bytes,
          new Uint8Array([0x0a, 0x7f, 0x01, 0x02]),
          (error) => resolve(error),
        );
      });
      raw.close();
      notStrictEqual(malformed, null, "a malformed frame must fail");
      notStrictEqual(malformed!.code, grpc.status.OK);

      // Nothing that was stored is lost, and the member still takes writes.
      strictEqual(await etcdctlOk(ep, ["get", "keep", "--print-value-only"]), "me\n");
      strictEqual(await etcdctlOk(ep, ["get", "big"]), "");
      strictEqual(await etcdctlOk(ep, ["get", "t", "--prefix", "--keys-only"]), "");
      strictEqual(await etcdctlOk(ep, ["put", "after", "ok"]), "OK\n");
    } finally {
      client.close();
      await proc.kill();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an unknown flag and an unusable data directory are clear errors; the data survives",
  ..._opts,
  fn: async () => {
    const run = async (args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--quiet", _MAIN, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, text: new TextDecoder().decode(out.stderr) };
    };
    const unknown = await run(["--no-such-flag"]);
    strictEqual(unknown.code, 2);
    match(unknown.text, /no-such-flag/);

    const dataDir = await Deno.makeTempDir({ prefix: "detcd_baddir_" });
    try {
      // A data directory that is a file.
      const file = `${dataDir}/not-a-dir`;
      await Deno.writeTextFile(file, "x");
      const asFile = await run(detcdArgs({ dataDir: file, clientPort: 23934, peerPort: 23935 }));
      strictEqual(asFile.code, 1);
      match(asFile.text, /not-a-dir/);

      // A member whose WAL directory cannot be read (a file stands in its place) refuses to
      // start and keeps the data; put back, it serves the keys it had.
      const member = `${dataDir}/m`;
      const proc = await startDetcd({
        dataDir: member,
        clientPort: 23934,
        peerPort: 23935,
        fast: true,
      });
      await etcdctlOk(proc.endpoint, ["put", "survivor", "yes"]);
      await proc.stop();
      await Deno.rename(`${member}/member/wal`, `${member}/wal.moved`);
      await Deno.writeTextFile(`${member}/member/wal`, "not a directory");
      const broken = await run(detcdArgs({ dataDir: member, clientPort: 23934, peerPort: 23935 }));
      strictEqual(broken.code, 1);
      match(broken.text, /wal/);
      await Deno.remove(`${member}/member/wal`);
      await Deno.rename(`${member}/wal.moved`, `${member}/member/wal`);
      const again = await startDetcd({
        dataDir: member,
        clientPort: 23934,
        peerPort: 23935,
        fast: true,
      });
      try {
        strictEqual(
          await etcdctlOk(again.endpoint, ["get", "survivor", "--print-value-only"]),
          "yes\n",
        );
      } finally {
        await again.kill();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
