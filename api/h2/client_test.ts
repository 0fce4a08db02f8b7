// Goal: the lean HTTP/2 client completes unary calls, maps error statuses back to etcd's
// predefined errors, honours deadlines and stays correct with many calls in flight.
// Method: against startGrpcServer (native) on 127.0.0.1:23806 with handlers defined here.
import assert from "node:assert/strict";
import { H2GrpcClient } from "./client.ts";
import { startGrpcServer } from "../grpc_server.ts";
import { METHODS } from "../../rpc/mod.ts";
import { ErrFutureRev, EtcdError, Status } from "../../rpc/mod.ts";
import { longToNumber, numberToLong } from "../../etcdserverpb/mod.ts";

const PORT = 23806;

Deno.test("H2GrpcClient: unary calls, errors as sentinels, deadlines, 500 in flight", async () => {
  const server = await startGrpcServer({
    transport: "native",
    host: "127.0.0.1",
    port: PORT,
    services: {
      kv: {
        put: (request) =>
          Promise.resolve({ header: { revision: numberToLong(request.value.length) } }),
        range: (request) => {
          if (longToNumber(request.revision) > 0) return Promise.reject(ErrFutureRev);
          return new Promise(() => {}); // never answers: the deadline must end the call
        },
      },
    },
  });
  const client = await H2GrpcClient.connect(`127.0.0.1:${PORT}`);
  try {
    const sizes = Array.from({ length: 500 }, (_, index) => (index * 37) % 20_000);
    const responses = await Promise.all(
      sizes.map((size) =>
        client.unary(METHODS.KV.Put, { key: new Uint8Array([1]), value: new Uint8Array(size) })
      ),
    );
    assert.deepEqual(
      responses.map((response) => longToNumber(response.header?.revision ?? 0)),
      sizes,
    );
    await assert.rejects(
      client.unary(METHODS.KV.Range, { key: new Uint8Array([1]), revision: numberToLong(5) }),
      (error) => error === ErrFutureRev,
    );
    await assert.rejects(
      client.unary(METHODS.KV.Range, { key: new Uint8Array([1]) }, { timeoutMs: 100 }),
      (error) => error instanceof EtcdError && error.code === Status.DEADLINE_EXCEEDED,
    );
  } finally {
    client.close();
    await server.close();
  }
});
