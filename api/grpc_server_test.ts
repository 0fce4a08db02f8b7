// Goal: the adapter's contract beyond the happy path: clean statuses for malformed input,
// unknown services and oversize requests; streaming in both directions with the end status
// a handler chooses; cancellation reaching the handler; metadata (token, hasleader); and
// HTTP/1.1 keep-alive on the gRPC port.
// Method: one server on 127.0.0.1:23801 with small handlers defined here, driven by our own
// grpc-js client (EtcdGrpcClient), raw grpc-js calls for bad bytes, and a raw TCP socket.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { EtcdGrpcClient } from "../client/mod.ts";
import { startGrpcServer } from "./grpc_server.ts";
import { METHODS } from "../rpc/mod.ts";
import { ErrCompacted, ErrNoSpace, EtcdError, Status } from "../rpc/mod.ts";
import { longToNumber, numberToLong } from "../etcdserverpb/mod.ts";
import type { etcdserverpb } from "../etcdserverpb/mod.ts";

const PORT = 23801;
const ENDPOINT = `127.0.0.1:${PORT}`;

type Transport = "grpc-js" | "native";

async function withServer(
  transport: Transport,
  fn: (observed: string[]) => Promise<void>,
): Promise<void> {
  const observed: string[] = [];
  const server = await startGrpcServer({
    transport,
    host: "127.0.0.1",
    port: PORT,
    maxRecvBytes: 2 * 1024 * 1024,
    services: {
      kv: {
        put: (request, context) => {
          observed.push(`put token=${context.token} leader=${context.requireLeader}`);
          if (request.key.length === 0) return Promise.reject(ErrNoSpace);
          return Promise.resolve({ header: { revision: numberToLong(request.value.length) } });
        },
        range: (_request, context) =>
          new Promise((_resolve, reject) => {
            // Waits until the client gives up; the handler must learn of it.
            context.signal.addEventListener("abort", () => {
              observed.push(`range aborted: ${(context.signal.reason as Error).message}`);
              reject(context.signal.reason);
            });
          }),
      },
      watch: {
        watch: async (input, sink) => {
          for await (const request of input) {
            const id = request.createRequest?.watchId ?? numberToLong(0);
            await sink.send({ watchId: id, created: true });
          }
          observed.push("watch input ended");
        },
      },
      maintenance: {
        snapshot: async (_request, sink, context) => {
          // Metadata `big: N` asks for N blobs of 512 KiB (flow control over many windows).
          const big = Number(context.metadata("big") ?? "0");
          for (let index = 0; index < big; index++) {
            const blob = new Uint8Array(512 * 1024).fill(index + 1);
            await sink.send({ remainingBytes: numberToLong(big - index - 1), blob });
          }
          if (big > 0) return;
          // Metadata `fail: now` asks for an error before any message.
          if (context.metadata("fail") === "now") throw ErrCompacted;
          for (let index = 0; index < 3; index++) {
            await sink.send({
              remainingBytes: numberToLong(2 - index),
              blob: new Uint8Array([index]),
            });
          }
        },
      },
    },
  });
  try {
    await fn(observed);
  } finally {
    await server.close();
  }
}

function rawUnary(path: string, bytes: Uint8Array): Promise<grpc.ServiceError | undefined> {
  const client = new grpc.Client(ENDPOINT, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      () => Buffer.from(bytes),
      (response: Buffer) => response,
      {},
      (error) => {
        client.close();
        resolve(error ?? undefined);
      },
    );
  });
}

for (const transport of ["grpc-js", "native"] as const) {
  Deno.test(`malformed protobuf gets INTERNAL, unknown methods UNIMPLEMENTED, server lives on (${transport})`, async () => {
    await withServer(transport, async () => {
      const malformed = await rawUnary("/etcdserverpb.KV/Put", new Uint8Array([0x0a, 0xff, 0xff]));
      assert.equal(malformed?.code, Status.INTERNAL);
      assert.match(malformed?.details ?? "", /deserializ|unmarshal/i);
      const unknownService = await rawUnary("/etcdserverpb.Nope/Get", new Uint8Array());
      assert.equal(unknownService?.code, Status.UNIMPLEMENTED);
      const unknownMethod = await rawUnary("/etcdserverpb.KV/Txn", new Uint8Array());
      assert.equal(unknownMethod?.code, Status.UNIMPLEMENTED);
      const client = new EtcdGrpcClient(ENDPOINT);
      try {
        const response = await client.unary(METHODS.KV.Put, {
          key: new Uint8Array([1]),
          value: new Uint8Array(5),
        });
        assert.equal(longToNumber(response.header?.revision ?? 0), 5);
      } finally {
        client.close();
      }
    });
  });

  Deno.test(`an EtcdError reaches the client as the same predefined error; metadata reaches ctx (${transport})`, async () => {
    await withServer(transport, async (observed) => {
      const client = new EtcdGrpcClient(ENDPOINT, {
        metadata: { token: "abc.123", hasleader: "true" },
      });
      try {
        await assert.rejects(
          client.unary(METHODS.KV.Put, { key: new Uint8Array(), value: new Uint8Array() }),
          (error) => error === ErrNoSpace,
        );
        assert.deepEqual(observed, ["put token=abc.123 leader=true"]);
      } finally {
        client.close();
      }
    });
  });

  Deno.test(`a request over maxRecvBytes fails with RESOURCE_EXHAUSTED (${transport})`, async () => {
    await withServer(transport, async (observed) => {
      const client = new EtcdGrpcClient(ENDPOINT);
      try {
        await assert.rejects(
          client.unary(METHODS.KV.Put, {
            key: new Uint8Array(1),
            value: new Uint8Array(3 * 1024 * 1024),
          }),
          (error) => error instanceof EtcdError && error.code === Status.RESOURCE_EXHAUSTED,
        );
        assert.deepEqual(observed, []);
      } finally {
        client.close();
      }
    });
  });

  Deno.test(`a client deadline aborts the handler's signal (${transport})`, async () => {
    await withServer(transport, async (observed) => {
      const client = new EtcdGrpcClient(ENDPOINT);
      try {
        await assert.rejects(
          client.unary(METHODS.KV.Range, { key: new Uint8Array([1]) }, { timeoutMs: 200 }),
          (error) => error instanceof EtcdError && error.code === Status.DEADLINE_EXCEEDED,
        );
        // The server sees the cancellation after the client does; wait for it, bounded.
        for (let tries = 0; tries < 50 && observed.length === 0; tries++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(observed.length, 1);
        assert.match(observed[0] ?? "", /^range aborted: context (canceled|deadline exceeded)$/);
      } finally {
        client.close();
      }
    });
  });

  Deno.test(`bidi: responses follow requests, and half-close ends the handler with OK (${transport})`, async () => {
    await withServer(transport, async (observed) => {
      const client = new EtcdGrpcClient(ENDPOINT);
      try {
        const call = client.bidi(METHODS.Watch.Watch);
        const ids: number[] = [];
        for (const id of [7, 8, 9]) {
          call.send({ createRequest: { key: new Uint8Array([1]), watchId: numberToLong(id) } });
        }
        call.end();
        for await (const response of call.responses) {
          const watch = response as etcdserverpb.WatchResponse;
          assert.equal(watch.created, true);
          ids.push(longToNumber(watch.watchId));
        }
        assert.deepEqual(ids, [7, 8, 9]);
        assert.deepEqual(observed, ["watch input ended"]);
      } finally {
        client.close();
      }
    });
  });

  Deno.test(`server stream: messages arrive in order, then OK; a handler error ends it with its status (${transport})`, async () => {
    // grpc-js as a client under Deno drops messages still unread when an error status arrives
    // right behind them (grpc-js under Node receives them all from this same server), so the
    // error case is checked on a stream that fails before its first message.
    await withServer(transport, async () => {
      const client = new EtcdGrpcClient(ENDPOINT);
      try {
        const blobs: number[] = [];
        for await (const response of client.serverStream(METHODS.Maintenance.Snapshot, {})) {
          blobs.push(response.blob[0] ?? -1);
          assert.equal(longToNumber(response.remainingBytes), 2 - blobs.length + 1);
        }
        assert.deepEqual(blobs, [0, 1, 2]);
      } finally {
        client.close();
      }
      const failingClient = new EtcdGrpcClient(ENDPOINT, { metadata: { fail: "now" } });
      try {
        const failing = failingClient.serverStream(METHODS.Maintenance.Snapshot, {});
        await assert.rejects(failing.next(), (error) => error === ErrCompacted);
      } finally {
        failingClient.close();
      }
    });
  });

  Deno.test(`large messages both ways and many concurrent calls on one connection (${transport})`, async () => {
    await withServer(transport, async () => {
      const client = new EtcdGrpcClient(ENDPOINT, { metadata: { big: "8" } });
      try {
        // 8 x 512 KiB down: far beyond the first flow-control windows.
        const seen: number[] = [];
        for await (const response of client.serverStream(METHODS.Maintenance.Snapshot, {})) {
          assert.equal(response.blob.length, 512 * 1024);
          assert.ok(response.blob.every((byte) => byte === seen.length + 1));
          seen.push(longToNumber(response.remainingBytes));
        }
        assert.deepEqual(seen, [7, 6, 5, 4, 3, 2, 1, 0]);
        // 1.5 MiB up, 200 calls at once.
        const big = await client.unary(METHODS.KV.Put, {
          key: new Uint8Array([1]),
          value: new Uint8Array(1536 * 1024),
        });
        assert.equal(longToNumber(big.header?.revision ?? 0), 1536 * 1024);
        const sizes = Array.from({ length: 200 }, (_, index) => index * 7);
        const responses = await Promise.all(
          sizes.map((size) =>
            client.unary(METHODS.KV.Put, { key: new Uint8Array([1]), value: new Uint8Array(size) })
          ),
        );
        assert.deepEqual(responses.map((r) => longToNumber(r.header?.revision ?? 0)), sizes);
      } finally {
        client.close();
      }
    });
  });

  Deno.test(`HTTP/1.1 on the gRPC port: keep-alive serves two requests on one connection (${transport})`, async () => {
    await withServer(transport, async () => {
      const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
      try {
        const request = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        // Two requests in one write: pipelined, answered in order, 404 without an http handler.
        await connection.write(new TextEncoder().encode(request + request));
        let text = "";
        const buffer = new Uint8Array(4096);
        while ((text.match(/HTTP\/1\.1 404/g) ?? []).length < 2) {
          const count = await connection.read(buffer);
          if (count === null) break;
          text += new TextDecoder().decode(buffer.subarray(0, count));
        }
        assert.equal((text.match(/HTTP\/1\.1 404 Not Found\r\n/g) ?? []).length, 2);
        assert.match(text, /connection: keep-alive/);
      } finally {
        connection.close();
      }
    });
  });
}

Deno.test("grpc-js transport: an idle connection gets the keepalive PING and is closed when it goes unanswered", async () => {
  const server = await startGrpcServer({
    transport: "grpc-js",
    host: "127.0.0.1",
    port: PORT,
    services: {},
    keepAlive: { intervalMs: 200, timeoutMs: 200, minTimeMs: 5000 },
  });
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
  try {
    const started = Date.now();
    await connection.write(new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    await connection.write(new Uint8Array([0, 0, 0, 0x4, 0, 0, 0, 0, 0])); // empty SETTINGS
    // Frame headers as they arrive; the server's PING (type 6, no ACK flag) is what we wait for.
    let pingAt = 0;
    let buffered = new Uint8Array(0);
    const chunk = new Uint8Array(65536);
    for (;;) {
      const count = await connection.read(chunk).catch(() => null);
      if (count === null) break;
      const joined = new Uint8Array(buffered.length + count);
      joined.set(buffered);
      joined.set(chunk.subarray(0, count), buffered.length);
      buffered = joined;
      while (buffered.length >= 9) {
        const length = (buffered[0]! << 16) | (buffered[1]! << 8) | buffered[2]!;
        if (buffered.length < 9 + length) break;
        if (buffered[3] === 0x6 && (buffered[4]! & 0x1) === 0 && pingAt === 0) pingAt = Date.now();
        buffered = buffered.slice(9 + length);
      }
      assert.ok(Date.now() - started < 10_000, "closed within bounds");
    }
    const closedAt = Date.now();
    assert.ok(pingAt > 0, "the server pinged the idle connection");
    assert.ok(pingAt - started >= 150, `pinged after the interval (${pingAt - started} ms)`);
    assert.ok(closedAt - pingAt >= 150, `closed after the timeout (${closedAt - pingAt} ms)`);
  } finally {
    connection.close();
    await server.close();
  }
});

Deno.test("grpc-js transport: a client ping policy it cannot enforce is refused at start", async () => {
  await assert.rejects(
    () =>
      startGrpcServer({
        transport: "grpc-js",
        host: "127.0.0.1",
        port: PORT,
        services: {},
        keepAlive: { intervalMs: 7_200_000, timeoutMs: 20_000, minTimeMs: 10_000 },
      }),
    /--grpc-keepalive-min-time=10000ms: the grpc-js transport/,
  );
});
