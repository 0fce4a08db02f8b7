/**
 * etcdserverpb/: the ground floor of detcd's client protocol, as etcd keeps
 * `etcdserver/etcdserverpb` below `v3rpc`. It owns etcd 3.4's `.proto` files (`proto/`), the
 * static protobufjs code generated from them (`gen/`, rebuilt by `deno task gen:proto`), the
 * JSON field-name table the gateway uses, and the int64 helpers that convert between protobuf
 * `Long`s, bigints and numbers.
 *
 * Every module may import this one; it imports nothing of detcd's.
 *
 * @module
 */

export { authpb, etcdserverpb, leasepb, mvccpb, v3electionpb, v3lockpb } from "./gen/etcd.js";
export * from "./int64.ts";
export { encodeV2Request } from "./v2_request.ts";
export { type EncodableType, encodeMessage } from "./writer.ts";
export { encodeHeaderOnly } from "./header_response.ts";
export { decodePutProposal, encodePutProposal } from "./put_proposal.ts";
export { default as jsonFieldNames } from "./gen/json_names.json" with { type: "json" };
export type * from "./types.ts";
