/**
 * Test helper: one gRPC call reduced to its outcome, for tests that compare etcd and detcd
 * answer by answer: `OK`, or `CODE: message` exactly as the server sent them (no mapping back
 * to predefined errors); a stream's first response (`created`, `canceled: reason`, `OK`).
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";

/** A decoded message (the generated codecs' plain objects). */
// deno-lint-ignore no-explicit-any
export type Message = any;

/** The part of a method descriptor (rpc/ METHODS) a call needs. */
export interface RpcMethod {
  path: string;
  kind: string;
  request: { encode(message: Message): Uint8Array };
  response: { decode(bytes: Uint8Array): Message };
}

/** Calls `method` once; the outcome as a cell of the matrix. */
export async function callOutcome(
  client: grpc.Client,
  method: RpcMethod,
  request: Message,
  token: string | undefined,
): Promise<{ cell: string; response?: Message }> {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set("token", token);
  const deadline = Date.now() + 10_000;
  const serialize = (message: Message) => Buffer.from(method.request.encode(message));
  const deserialize = (bytes: Buffer) => method.response.decode(bytes);
  const failed = (error: unknown) => {
    const status = error as grpc.ServiceError;
    return { cell: `${grpc.status[status.code] ?? status.code}: ${status.details}` };
  };
  if (method.kind === "unary") {
    return await new Promise((resolve) => {
      client.makeUnaryRequest(
        method.path,
        serialize,
        deserialize,
        request,
        metadata,
        { deadline },
        (error, response) => resolve(error ? failed(error) : { cell: "OK", response }),
      );
    });
  }
  const call = method.kind === "serverStream"
    ? client.makeServerStreamRequest(method.path, serialize, deserialize, request, metadata, {
      deadline,
    })
    : client.makeBidiStreamRequest(method.path, serialize, deserialize, metadata, { deadline });
  if (method.kind === "bidi") (call as grpc.ClientDuplexStream<Message, Message>).write(request);
  return await new Promise((resolve) => {
    let done = false;
    const finish = (result: { cell: string; response?: Message }) => {
      if (done) return;
      done = true;
      call.cancel();
      resolve(result);
    };
    call.on("data", (response: Message) => {
      if (response.canceled) finish({ cell: `canceled: ${response.cancelReason}` });
      else if (response.created) finish({ cell: "created" });
      else if (method.kind === "bidi" && response.TTL !== undefined) {
        finish({ cell: Number(response.TTL) > 0 ? "OK (TTL > 0)" : "OK (TTL <= 0)" });
      } else finish({ cell: "OK", response });
    });
    call.on("error", (error: unknown) => finish(failed(error)));
    call.on("end", () => finish({ cell: "ended without a response" }));
  });
}
