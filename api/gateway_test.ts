// Goal: the JSON gateway answers as etcd 3.4's grpc-gateway does: .proto field names,
// base64 bytes, int64 as strings, defaults omitted; errors as {error, message, code} with
// the mapped HTTP status; streams as chunked {"result": ...} lines until the client leaves;
// the Authorization header as the token; /v3beta/ as an alias; other paths to the fallback.
// Method: handlers defined here behind startGrpcServer on 127.0.0.1:23804 with the gateway
// as its HTTP handler, driven with fetch (and curl for one request, as etcd's e2e tests do).
import assert from "node:assert/strict";
import { startGrpcServer } from "./grpc_server.ts";
import { gatewayHandler } from "./gateway.ts";
import { ErrFutureRev, Status } from "../rpc/mod.ts";
import { bigintToULong, longToNumber, numberToLong } from "../etcdserverpb/mod.ts";
import type { EtcdServices } from "../rpc/mod.ts";

const PORT = 23804;
const BASE = `http://127.0.0.1:${PORT}`;

function services(observed: string[]): EtcdServices {
  return {
    kv: {
      put: (request, context) => {
        observed.push(
          `put ${new TextDecoder().decode(request.key)} lease=${request.lease} ` +
            `prev=${request.prevKv} token=${context.token}`,
        );
        return Promise.resolve({
          header: { clusterId: bigintToULong(0x8e9e05c52164694dn), revision: numberToLong(2) },
        });
      },
      range: (request) => {
        if (longToNumber(request.revision) > 2) return Promise.reject(ErrFutureRev);
        return Promise.resolve({
          header: { revision: numberToLong(2) },
          kvs: [{
            key: request.key,
            value: new TextEncoder().encode("bar"),
            createRevision: numberToLong(2),
            modRevision: numberToLong(2),
            version: numberToLong(1),
          }],
          count: numberToLong(1),
        });
      },
    },
    watch: {
      watch: async (input, sink, context) => {
        for await (const request of input) {
          const key = request.createRequest?.key ?? new Uint8Array();
          await sink.send({ created: true });
          await sink.send({
            events: [{ kv: { key, value: new Uint8Array([0x76]), modRevision: numberToLong(3) } }],
          });
        }
        // Like etcd: a half-closed watch stream lives until the client goes away.
        await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
        observed.push("watch ended");
      },
    },
  };
}

async function withGateway(fn: (observed: string[]) => Promise<void>): Promise<void> {
  const observed: string[] = [];
  const serviceTable = services(observed);
  const fallback = () => new Response("fallback", { status: 404 });
  const server = await startGrpcServer({
    host: "127.0.0.1",
    port: PORT,
    services: serviceTable,
    http: gatewayHandler(serviceTable, fallback),
  });
  try {
    await fn(observed);
  } finally {
    await server.close();
  }
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${BASE}${path}`, { method: "POST", body: JSON.stringify(body), headers });
}

Deno.test("gateway: put and range in grpc-gateway JSON, token from Authorization", async () => {
  await withGateway(async (observed) => {
    const put = await post(
      "/v3/kv/put",
      { key: btoa("foo"), value: btoa("bar"), lease: "7587869437063342084", prevKv: true },
      { authorization: "tok.1" },
    );
    assert.equal(put.status, 200);
    assert.deepEqual(await put.json(), {
      header: { cluster_id: "10276657743932975437", revision: "2" },
    });
    assert.deepEqual(observed, ["put foo lease=7587869437063342084 prev=true token=tok.1"]);

    const range = await post("/v3beta/kv/range", { key: btoa("foo") });
    assert.deepEqual(await range.json(), {
      header: { revision: "2" },
      kvs: [{
        key: btoa("foo"),
        value: btoa("bar"),
        create_revision: "2",
        mod_revision: "2",
        version: "1",
      }],
      count: "1",
    });
  });
});

Deno.test("gateway: errors, unknown fields, GET, missing methods and other paths", async () => {
  await withGateway(async () => {
    const future = await post("/v3/kv/range", { key: btoa("foo"), revision: 9 });
    assert.equal(future.status, 400);
    assert.deepEqual(await future.json(), {
      error: ErrFutureRev.message,
      message: ErrFutureRev.message,
      code: Status.OUT_OF_RANGE,
    });
    // Unknown fields are ignored, as by etcd 3.4's gateway.
    const unknown = await post("/v3/kv/range", { key: btoa("foo"), nonsense: 1 });
    assert.equal(unknown.status, 200);
    assert.equal((await unknown.json()).count, "1");
    const get = await fetch(`${BASE}/v3/kv/range`);
    assert.equal(get.status, 405);
    assert.equal(await get.text(), "Method Not Allowed\n");
    const broken = await fetch(`${BASE}/v3/kv/put`, { method: "POST", body: "{" });
    assert.equal(broken.status, 400);
    await broken.body?.cancel();
    const missing = await post("/v3/lease/grant", { TTL: 5 });
    assert.equal(missing.status, 501);
    assert.equal((await missing.json()).code, Status.UNIMPLEMENTED);
    const other = await fetch(`${BASE}/health`);
    assert.equal(other.status, 404);
    assert.equal(await other.text(), "fallback");
  });
});

Deno.test("gateway: watch streams result lines until the client disconnects", async () => {
  await withGateway(async (observed) => {
    const abort = new AbortController();
    const response = await fetch(`${BASE}/v3/watch`, {
      method: "POST",
      body: JSON.stringify({ create_request: { key: btoa("foo") } }),
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (text.split("\n").length < 3) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
    const [created, event] = text.split("\n").map((line) => line === "" ? {} : JSON.parse(line));
    assert.deepEqual(created, { result: { created: true } });
    assert.deepEqual(event, {
      result: { events: [{ kv: { key: btoa("foo"), value: btoa("v"), mod_revision: "3" } }] },
    });
    abort.abort();
    await reader.cancel().catch(() => {});
    for (let tries = 0; tries < 50 && observed.length === 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(observed, ["watch ended"]);
  });
});

Deno.test({
  name: "gateway: curl put as etcd's e2e tests send it",
  ignore: !(await Deno.stat("/usr/bin/curl").then(() => true, () => false)),
  async fn() {
    await withGateway(async (observed) => {
      const output = await new Deno.Command("/usr/bin/curl", {
        args: [
          "-sS",
          "-L",
          `${BASE}/v3/kv/put`,
          "-X",
          "POST",
          "-d",
          '{"key":"Zm9v","value":"YmFy"}',
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      const body = JSON.parse(new TextDecoder().decode(output.stdout));
      assert.equal(body.header.revision, "2");
      assert.equal(observed.length, 1);
    });
  },
});

// Goal: with --max-concurrent-streams N, the gateway runs at most N calls at once (etcd's
// gateway shares one gRPC connection with that stream limit): a range behind N open watches
// waits, and runs once a watch ends; a waiting client that leaves does not hold the queue.
// Method: a limit of 2 on port 35061, two watch streams held open with fetch.
Deno.test("gateway: --max-concurrent-streams makes calls past the limit wait", async () => {
  const observed: string[] = [];
  const serviceTable = services(observed);
  const port = 35061;
  const server = await startGrpcServer({
    host: "127.0.0.1",
    port,
    services: serviceTable,
    http: gatewayHandler(serviceTable, () => new Response("", { status: 404 }), {
      maxConcurrentStreams: 2,
    }),
  });
  const watches: AbortController[] = [];
  try {
    const openWatch = async () => {
      const abort = new AbortController();
      watches.push(abort);
      const response = await fetch(`http://127.0.0.1:${port}/v3/watch`, {
        method: "POST",
        body: JSON.stringify({ create_request: { key: btoa("foo") } }),
        signal: abort.signal,
      });
      const reader = response.body!.getReader();
      await reader.read(); // the created line: the stream holds its slot
      return abort;
    };
    const range = (signal?: AbortSignal) =>
      fetch(`http://127.0.0.1:${port}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: btoa("foo") }),
        ...(signal === undefined ? {} : { signal }),
      }).then((response) => response.text());
    const first = await openWatch();
    assert.match(await range(), /"revision":"2"/); // one slot left: a range runs at once
    await openWatch();
    // A waiter that leaves must not keep a place in the queue.
    const leaving = new AbortController();
    const left = range(leaving.signal).catch((error) => String(error));
    let settled = false;
    const waiting = range().then((text) => {
      settled = true;
      return text;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(settled, false, "a range behind two open watches must wait");
    leaving.abort();
    await left;
    first.abort();
    assert.match(await waiting, /"revision":"2"/);
  } finally {
    for (const watch of watches) watch.abort();
    await server.close();
  }
});
