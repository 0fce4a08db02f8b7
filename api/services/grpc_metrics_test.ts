// Goal: the gRPC counters behave as go-grpc-prometheus's server interceptors: every method
// starts with zero series, a unary call counts started, received, sent and handled with its
// code, a stream counts each message, and a call whose client went away is Canceled. Method:
// fake handlers wrapped by instrumentServices, the registry read before and after each call.
import { strictEqual } from "node:assert/strict";
import { register } from "prom-client";
import { ErrKeyNotFound, Status } from "../../rpc/mod.ts";
import type { CallContext, EtcdServices, StreamSink } from "../../rpc/mod.ts";
import { instrumentServices } from "./grpc_metrics.ts";

function context(signal = new AbortController().signal): CallContext {
  return {
    method: "",
    token: undefined,
    requireLeader: false,
    commonName: undefined,
    peer: "127.0.0.1:1",
    signal,
    get cancelled() {
      return signal.aborted;
    },
    metadata: () => undefined,
  };
}

async function count(name: string, labels: Record<string, string>): Promise<number> {
  const values = (await register.getSingleMetric(name)!.get()).values;
  const match = values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return match?.value ?? NaN;
}

const put = { grpc_service: "etcdserverpb.KV", grpc_method: "Put", grpc_type: "unary" };
const watch = {
  grpc_service: "etcdserverpb.Watch",
  grpc_method: "Watch",
  grpc_type: "bidi_stream",
};

const services: EtcdServices = {
  kv: {
    put: (request: { fail?: boolean }) =>
      request.fail ? Promise.reject(ErrKeyNotFound) : Promise.resolve({}),
  },
  watch: {
    watch: async (input: AsyncIterable<unknown>, sink: StreamSink<unknown>) => {
      for await (const _ of input) await sink.send({});
    },
  },
} as unknown as EtcdServices;

Deno.test("grpc metrics: series of every method start at zero, Auth included", async () => {
  instrumentServices({} as EtcdServices);
  const authenticate = {
    grpc_service: "etcdserverpb.Auth",
    grpc_method: "Authenticate",
    grpc_type: "unary",
  };
  strictEqual(await count("grpc_server_started_total", authenticate), 0);
  strictEqual(
    await count("grpc_server_handled_total", { ...authenticate, grpc_code: "Unavailable" }),
    0,
  );
});

Deno.test("grpc metrics: unary calls count started, messages and the code they ended with", async () => {
  const wrapped = instrumentServices(services);
  const ok = { ...put, grpc_code: "OK" };
  // etcd's ErrGRPCKeyNotFound is InvalidArgument.
  const failed = { ...put, grpc_code: "InvalidArgument" };
  const before = [
    await count("grpc_server_started_total", put),
    await count("grpc_server_msg_received_total", put),
    await count("grpc_server_msg_sent_total", put),
    await count("grpc_server_handled_total", ok),
    await count("grpc_server_handled_total", failed),
  ];
  // deno-lint-ignore no-explicit-any
  const handler = (wrapped.kv as any).put;
  await handler({}, context());
  await handler({ fail: true }, context()).catch(() => {});
  strictEqual(ErrKeyNotFound.code, Status.INVALID_ARGUMENT);
  strictEqual(await count("grpc_server_started_total", put), before[0]! + 2);
  strictEqual(await count("grpc_server_msg_received_total", put), before[1]! + 2);
  strictEqual(await count("grpc_server_msg_sent_total", put), before[2]! + 1);
  strictEqual(await count("grpc_server_handled_total", ok), before[3]! + 1);
  strictEqual(await count("grpc_server_handled_total", failed), before[4]! + 1);
});

Deno.test("grpc metrics: a stream counts each message; a cancelled one ends Canceled", async () => {
  const wrapped = instrumentServices(services);
  const canceled = { ...watch, grpc_code: "Canceled" };
  const received = await count("grpc_server_msg_received_total", watch);
  const sent = await count("grpc_server_msg_sent_total", watch);
  const before = await count("grpc_server_handled_total", canceled);
  const abort = new AbortController();
  async function* input() {
    yield {};
    yield {};
    abort.abort(); // the client goes away
  }
  const sink: StreamSink<unknown> = { send: () => Promise.resolve(), closed: false };
  // deno-lint-ignore no-explicit-any
  await (wrapped.watch as any).watch(input(), sink, context(abort.signal));
  strictEqual(await count("grpc_server_msg_received_total", watch), received + 2);
  strictEqual(await count("grpc_server_msg_sent_total", watch), sent + 2);
  strictEqual(await count("grpc_server_handled_total", canceled), before + 1);
});

Deno.test("grpc metrics: mapUnaryError maps a unary handler's throw and rejection before counting", async () => {
  // Goal: the fused error mapping (togRPCError in the counters' `then`) counts and passes on
  // the mapped error, for a rejection and for a synchronous throw alike. Method: a handler
  // that fails with a plain server-side error mapped to a gRPC one; the code counted is the
  // mapped error's, and the caller receives the very object the map returned.
  const serverError = new Error("not a gRPC error");
  const mapped = Object.assign(new Error("mapped"), { code: Status.FAILED_PRECONDITION });
  const seen: unknown[] = [];
  const mapUnaryError = (error: unknown) => {
    seen.push(error);
    return error === serverError ? mapped : error;
  };
  const failing = {
    kv: {
      put: (request: { sync?: boolean }) => {
        if (request.sync) throw serverError;
        return Promise.reject(serverError);
      },
    },
  } as unknown as EtcdServices;
  const wrapped = instrumentServices(failing, { mapUnaryError });
  const precondition = { ...put, grpc_code: "FailedPrecondition" };
  const unknown = { ...put, grpc_code: "Unknown" };
  const before = await count("grpc_server_handled_total", precondition);
  const unknownBefore = await count("grpc_server_handled_total", unknown);
  // deno-lint-ignore no-explicit-any
  const handler = (wrapped.kv as any).put;
  for (const request of [{}, { sync: true }]) {
    let caught: unknown;
    await handler(request, context()).catch((error: unknown) => caught = error);
    strictEqual(caught, mapped);
  }
  strictEqual(seen.length, 2);
  strictEqual(await count("grpc_server_handled_total", precondition), before + 2);
  strictEqual(await count("grpc_server_handled_total", unknown), unknownBefore);
});
