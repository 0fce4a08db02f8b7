/**
 * The table of etcd's v3 gRPC methods: full path, streaming kind and codecs for each; the
 * handler type of each service is derived from it. The adapter (`grpc_server.ts`) and the client
 * (`client/grpc_client.ts`) both read this table, so a path or codec is written down only here.
 *
 * Every method path is exactly etcd 3.4's: `/etcdserverpb.<Service>/<Method>` for the six
 * services of `rpc.proto`, `/v3electionpb.Election/<Method>` and `/v3lockpb.Lock/<Method>`.
 *
 * @module
 */

import {
  encodeHeaderOnly,
  encodeMessage,
  etcdserverpb,
  v3electionpb,
  v3lockpb,
} from "../etcdserverpb/mod.ts";
import type { IConversionOptions, Writer } from "protobufjs/minimal.js";
import {
  type BidiHandler,
  EncodedMessage,
  type ServerStreamHandler,
  type UnaryHandler,
} from "./handler.ts";
import { jsonToProtobufjs, protobufjsToJson } from "./json.ts";

/** How requests and responses flow in a method. */
export type MethodKind = "unary" | "serverStream" | "bidi";

/** Encodes one message type to bytes and decodes it back; also to and from JSON. */
export interface Codec<Decoded, Properties> {
  /** Full protobuf name, e.g. `etcdserverpb.RangeRequest`. */
  readonly typeName: string;
  /**
   * Encodes a message (a decoded instance or a plain object of its properties); an
   * `EncodedMessage` is already encoded and comes back as its bytes.
   */
  encode(message: Properties | EncodedMessage): Uint8Array;
  /**
   * The message with room for gRPC's length prefix in front, filled: what the native
   * transport sends, in one allocation (an `EncodedMessage` comes back as it is).
   */
  encodeFramed(message: Properties | EncodedMessage): EncodedMessage;
  /** Decodes bytes; throws on malformed input. */
  decode(bytes: Uint8Array): Decoded;
  /**
   * Builds a message from grpc-gateway JSON: .proto or camelCase field names, base64 bytes,
   * 64-bit integers as strings or numbers, enums by name or number. Throws on bad input.
   */
  fromJson(json: unknown): Decoded;
  /**
   * The message as grpc-gateway prints it (etcd 3.4, `JSONPb{OrigName: true}`): .proto
   * field names, base64 bytes, 64-bit integers as strings, enums by name, defaults omitted.
   */
  toJson(message: Properties | EncodedMessage): Record<string, unknown>;
}

/** One gRPC method of etcd's API. */
export interface MethodDescriptor<Req, ReqProps, Resp, RespProps> {
  /** Service name without package, e.g. `KV`. */
  readonly service: ServiceName;
  /** Method name as in the .proto, e.g. `Range`. */
  readonly name: string;
  /** Full gRPC path, e.g. `/etcdserverpb.KV/Range`. */
  readonly path: string;
  /** Key of the handler in the service interface, e.g. `range`. */
  readonly handlerKey: string;
  readonly kind: MethodKind;
  readonly request: Codec<Req, ReqProps>;
  readonly response: Codec<Resp, RespProps>;
}

/** A method descriptor of any message types. */
// deno-lint-ignore no-explicit-any
export type AnyMethodDescriptor = MethodDescriptor<any, any, any, any>;

/** The generated static class of one message type. */
interface _GeneratedType<Decoded, Properties> {
  encode(message: Properties, writer?: Writer): Writer;
  decode(bytes: Uint8Array): Decoded;
  fromObject(object: { [key: string]: unknown }): Decoded;
  toObject(message: Decoded, options?: IConversionOptions): { [key: string]: unknown };
}

/** A generated class and its full name. */
interface _NamedType<Decoded, Properties> {
  type: _GeneratedType<Decoded, Properties>;
  name: string;
}

function _type<Decoded, Properties>(
  type: _GeneratedType<Decoded, Properties>,
  name: string,
  protoPackage = "etcdserverpb",
): _NamedType<Decoded, Properties> {
  return { type, name: `${protoPackage}.${name}` };
}

/** The .proto package of each service, the first part of its methods' paths. */
const _PACKAGE_OF: Readonly<Record<ServiceName, string>> = {
  KV: "etcdserverpb",
  Watch: "etcdserverpb",
  Lease: "etcdserverpb",
  Cluster: "etcdserverpb",
  Maintenance: "etcdserverpb",
  Auth: "etcdserverpb",
  Election: "v3electionpb",
  Lock: "v3lockpb",
};

/**
 * Responses that are often nothing but a header, and their other fields: those are framed by
 * `encodeHeaderOnly` when the other fields are unset (a put without `prev_kv`).
 */
const _HEADER_ONLY_WHEN_UNSET: Readonly<Record<string, readonly string[]>> = {
  "etcdserverpb.PutResponse": ["prevKv"],
};

/** grpc-gateway's output conventions, in protobufjs terms. */
const _TO_JSON: IConversionOptions = { longs: String, enums: String, bytes: String };

function _codec<Decoded, Properties>(
  named: _NamedType<Decoded, Properties>,
): Codec<Decoded, Properties> {
  const { type, name } = named;
  // A message a handler encoded itself goes out as it is; others through the shared writer
  // of etcdserverpb/writer.ts (one exact allocation, no Buffer pool).
  const encode = (message: Properties | EncodedMessage): Uint8Array =>
    message instanceof EncodedMessage ? message.bytes : encodeMessage(type, message);
  const otherFields = _HEADER_ONLY_WHEN_UNSET[name];
  const prefix = EncodedMessage.PREFIX_BYTES;
  return {
    typeName: name,
    encode,
    encodeFramed: (message) => {
      if (message instanceof EncodedMessage) return message;
      const headerOnly = otherFields === undefined
        ? undefined
        : encodeHeaderOnly(message as object, otherFields, prefix);
      return new EncodedMessage(headerOnly ?? encodeMessage(type, message, prefix));
    },
    decode: (bytes) => type.decode(bytes),
    fromJson: (json) => type.fromObject(jsonToProtobufjs(name, json)),
    // Through the wire form, so that any accepted shape (plain object, decoded instance,
    // pre-encoded bytes) prints alike.
    toJson: (message) =>
      protobufjsToJson(name, type.toObject(type.decode(encode(message)), _TO_JSON)),
  };
}

/**
 * A method descriptor whose service, name, kind and handler key are known to the type
 * system, so that the handler interfaces can be derived from `METHODS`.
 */
export interface TypedMethodDescriptor<
  S extends ServiceName,
  N extends string,
  K extends MethodKind,
  Req,
  ReqProps,
  Resp,
  RespProps,
> extends MethodDescriptor<Req, ReqProps, Resp, RespProps> {
  readonly service: S;
  readonly name: N;
  readonly handlerKey: Uncapitalize<N>;
  readonly kind: K;
}

function _method<
  S extends ServiceName,
  N extends string,
  K extends MethodKind,
  Req,
  ReqProps,
  Resp,
  RespProps,
>(
  service: S,
  name: N,
  kind: K,
  request: _NamedType<Req, ReqProps>,
  response: _NamedType<Resp, RespProps>,
): TypedMethodDescriptor<S, N, K, Req, ReqProps, Resp, RespProps> {
  const handlerKey = (name.charAt(0).toLowerCase() + name.slice(1)) as Uncapitalize<N>;
  const path = `/${_PACKAGE_OF[service]}.${service}/${name}`;
  return {
    service,
    name,
    path,
    handlerKey,
    kind,
    request: _codec(request),
    response: _codec(response),
  };
}

/** The six services of the v3 API, and the election and lock services beside them. */
export type ServiceName =
  | "KV"
  | "Watch"
  | "Lease"
  | "Cluster"
  | "Maintenance"
  | "Auth"
  | "Election"
  | "Lock";

/** Every method of the v3 API, by service and method name. */
export const METHODS = {
  KV: {
    Range: _method(
      "KV",
      "Range",
      "unary",
      _type(etcdserverpb.RangeRequest, "RangeRequest"),
      _type(etcdserverpb.RangeResponse, "RangeResponse"),
    ),
    Put: _method(
      "KV",
      "Put",
      "unary",
      _type(etcdserverpb.PutRequest, "PutRequest"),
      _type(etcdserverpb.PutResponse, "PutResponse"),
    ),
    DeleteRange: _method(
      "KV",
      "DeleteRange",
      "unary",
      _type(etcdserverpb.DeleteRangeRequest, "DeleteRangeRequest"),
      _type(etcdserverpb.DeleteRangeResponse, "DeleteRangeResponse"),
    ),
    Txn: _method(
      "KV",
      "Txn",
      "unary",
      _type(etcdserverpb.TxnRequest, "TxnRequest"),
      _type(etcdserverpb.TxnResponse, "TxnResponse"),
    ),
    Compact: _method(
      "KV",
      "Compact",
      "unary",
      _type(etcdserverpb.CompactionRequest, "CompactionRequest"),
      _type(etcdserverpb.CompactionResponse, "CompactionResponse"),
    ),
  },
  Watch: {
    Watch: _method(
      "Watch",
      "Watch",
      "bidi",
      _type(etcdserverpb.WatchRequest, "WatchRequest"),
      _type(etcdserverpb.WatchResponse, "WatchResponse"),
    ),
  },
  Lease: {
    LeaseGrant: _method(
      "Lease",
      "LeaseGrant",
      "unary",
      _type(etcdserverpb.LeaseGrantRequest, "LeaseGrantRequest"),
      _type(etcdserverpb.LeaseGrantResponse, "LeaseGrantResponse"),
    ),
    LeaseRevoke: _method(
      "Lease",
      "LeaseRevoke",
      "unary",
      _type(etcdserverpb.LeaseRevokeRequest, "LeaseRevokeRequest"),
      _type(etcdserverpb.LeaseRevokeResponse, "LeaseRevokeResponse"),
    ),
    LeaseKeepAlive: _method(
      "Lease",
      "LeaseKeepAlive",
      "bidi",
      _type(etcdserverpb.LeaseKeepAliveRequest, "LeaseKeepAliveRequest"),
      _type(etcdserverpb.LeaseKeepAliveResponse, "LeaseKeepAliveResponse"),
    ),
    LeaseTimeToLive: _method(
      "Lease",
      "LeaseTimeToLive",
      "unary",
      _type(etcdserverpb.LeaseTimeToLiveRequest, "LeaseTimeToLiveRequest"),
      _type(etcdserverpb.LeaseTimeToLiveResponse, "LeaseTimeToLiveResponse"),
    ),
    LeaseLeases: _method(
      "Lease",
      "LeaseLeases",
      "unary",
      _type(etcdserverpb.LeaseLeasesRequest, "LeaseLeasesRequest"),
      _type(etcdserverpb.LeaseLeasesResponse, "LeaseLeasesResponse"),
    ),
  },
  Cluster: {
    MemberAdd: _method(
      "Cluster",
      "MemberAdd",
      "unary",
      _type(etcdserverpb.MemberAddRequest, "MemberAddRequest"),
      _type(etcdserverpb.MemberAddResponse, "MemberAddResponse"),
    ),
    MemberRemove: _method(
      "Cluster",
      "MemberRemove",
      "unary",
      _type(etcdserverpb.MemberRemoveRequest, "MemberRemoveRequest"),
      _type(etcdserverpb.MemberRemoveResponse, "MemberRemoveResponse"),
    ),
    MemberUpdate: _method(
      "Cluster",
      "MemberUpdate",
      "unary",
      _type(etcdserverpb.MemberUpdateRequest, "MemberUpdateRequest"),
      _type(etcdserverpb.MemberUpdateResponse, "MemberUpdateResponse"),
    ),
    MemberList: _method(
      "Cluster",
      "MemberList",
      "unary",
      _type(etcdserverpb.MemberListRequest, "MemberListRequest"),
      _type(etcdserverpb.MemberListResponse, "MemberListResponse"),
    ),
    MemberPromote: _method(
      "Cluster",
      "MemberPromote",
      "unary",
      _type(etcdserverpb.MemberPromoteRequest, "MemberPromoteRequest"),
      _type(etcdserverpb.MemberPromoteResponse, "MemberPromoteResponse"),
    ),
  },
  Maintenance: {
    Alarm: _method(
      "Maintenance",
      "Alarm",
      "unary",
      _type(etcdserverpb.AlarmRequest, "AlarmRequest"),
      _type(etcdserverpb.AlarmResponse, "AlarmResponse"),
    ),
    Status: _method(
      "Maintenance",
      "Status",
      "unary",
      _type(etcdserverpb.StatusRequest, "StatusRequest"),
      _type(etcdserverpb.StatusResponse, "StatusResponse"),
    ),
    Defragment: _method(
      "Maintenance",
      "Defragment",
      "unary",
      _type(etcdserverpb.DefragmentRequest, "DefragmentRequest"),
      _type(etcdserverpb.DefragmentResponse, "DefragmentResponse"),
    ),
    Hash: _method(
      "Maintenance",
      "Hash",
      "unary",
      _type(etcdserverpb.HashRequest, "HashRequest"),
      _type(etcdserverpb.HashResponse, "HashResponse"),
    ),
    HashKV: _method(
      "Maintenance",
      "HashKV",
      "unary",
      _type(etcdserverpb.HashKVRequest, "HashKVRequest"),
      _type(etcdserverpb.HashKVResponse, "HashKVResponse"),
    ),
    Snapshot: _method(
      "Maintenance",
      "Snapshot",
      "serverStream",
      _type(etcdserverpb.SnapshotRequest, "SnapshotRequest"),
      _type(etcdserverpb.SnapshotResponse, "SnapshotResponse"),
    ),
    MoveLeader: _method(
      "Maintenance",
      "MoveLeader",
      "unary",
      _type(etcdserverpb.MoveLeaderRequest, "MoveLeaderRequest"),
      _type(etcdserverpb.MoveLeaderResponse, "MoveLeaderResponse"),
    ),
  },
  Auth: {
    AuthEnable: _method(
      "Auth",
      "AuthEnable",
      "unary",
      _type(etcdserverpb.AuthEnableRequest, "AuthEnableRequest"),
      _type(etcdserverpb.AuthEnableResponse, "AuthEnableResponse"),
    ),
    AuthDisable: _method(
      "Auth",
      "AuthDisable",
      "unary",
      _type(etcdserverpb.AuthDisableRequest, "AuthDisableRequest"),
      _type(etcdserverpb.AuthDisableResponse, "AuthDisableResponse"),
    ),
    Authenticate: _method(
      "Auth",
      "Authenticate",
      "unary",
      _type(etcdserverpb.AuthenticateRequest, "AuthenticateRequest"),
      _type(etcdserverpb.AuthenticateResponse, "AuthenticateResponse"),
    ),
    UserAdd: _method(
      "Auth",
      "UserAdd",
      "unary",
      _type(etcdserverpb.AuthUserAddRequest, "AuthUserAddRequest"),
      _type(etcdserverpb.AuthUserAddResponse, "AuthUserAddResponse"),
    ),
    UserGet: _method(
      "Auth",
      "UserGet",
      "unary",
      _type(etcdserverpb.AuthUserGetRequest, "AuthUserGetRequest"),
      _type(etcdserverpb.AuthUserGetResponse, "AuthUserGetResponse"),
    ),
    UserList: _method(
      "Auth",
      "UserList",
      "unary",
      _type(etcdserverpb.AuthUserListRequest, "AuthUserListRequest"),
      _type(etcdserverpb.AuthUserListResponse, "AuthUserListResponse"),
    ),
    UserDelete: _method(
      "Auth",
      "UserDelete",
      "unary",
      _type(etcdserverpb.AuthUserDeleteRequest, "AuthUserDeleteRequest"),
      _type(etcdserverpb.AuthUserDeleteResponse, "AuthUserDeleteResponse"),
    ),
    UserChangePassword: _method(
      "Auth",
      "UserChangePassword",
      "unary",
      _type(etcdserverpb.AuthUserChangePasswordRequest, "AuthUserChangePasswordRequest"),
      _type(etcdserverpb.AuthUserChangePasswordResponse, "AuthUserChangePasswordResponse"),
    ),
    UserGrantRole: _method(
      "Auth",
      "UserGrantRole",
      "unary",
      _type(etcdserverpb.AuthUserGrantRoleRequest, "AuthUserGrantRoleRequest"),
      _type(etcdserverpb.AuthUserGrantRoleResponse, "AuthUserGrantRoleResponse"),
    ),
    UserRevokeRole: _method(
      "Auth",
      "UserRevokeRole",
      "unary",
      _type(etcdserverpb.AuthUserRevokeRoleRequest, "AuthUserRevokeRoleRequest"),
      _type(etcdserverpb.AuthUserRevokeRoleResponse, "AuthUserRevokeRoleResponse"),
    ),
    RoleAdd: _method(
      "Auth",
      "RoleAdd",
      "unary",
      _type(etcdserverpb.AuthRoleAddRequest, "AuthRoleAddRequest"),
      _type(etcdserverpb.AuthRoleAddResponse, "AuthRoleAddResponse"),
    ),
    RoleGet: _method(
      "Auth",
      "RoleGet",
      "unary",
      _type(etcdserverpb.AuthRoleGetRequest, "AuthRoleGetRequest"),
      _type(etcdserverpb.AuthRoleGetResponse, "AuthRoleGetResponse"),
    ),
    RoleList: _method(
      "Auth",
      "RoleList",
      "unary",
      _type(etcdserverpb.AuthRoleListRequest, "AuthRoleListRequest"),
      _type(etcdserverpb.AuthRoleListResponse, "AuthRoleListResponse"),
    ),
    RoleDelete: _method(
      "Auth",
      "RoleDelete",
      "unary",
      _type(etcdserverpb.AuthRoleDeleteRequest, "AuthRoleDeleteRequest"),
      _type(etcdserverpb.AuthRoleDeleteResponse, "AuthRoleDeleteResponse"),
    ),
    RoleGrantPermission: _method(
      "Auth",
      "RoleGrantPermission",
      "unary",
      _type(etcdserverpb.AuthRoleGrantPermissionRequest, "AuthRoleGrantPermissionRequest"),
      _type(etcdserverpb.AuthRoleGrantPermissionResponse, "AuthRoleGrantPermissionResponse"),
    ),
    RoleRevokePermission: _method(
      "Auth",
      "RoleRevokePermission",
      "unary",
      _type(etcdserverpb.AuthRoleRevokePermissionRequest, "AuthRoleRevokePermissionRequest"),
      _type(etcdserverpb.AuthRoleRevokePermissionResponse, "AuthRoleRevokePermissionResponse"),
    ),
  },
  Election: {
    Campaign: _method(
      "Election",
      "Campaign",
      "unary",
      _type(v3electionpb.CampaignRequest, "CampaignRequest", "v3electionpb"),
      _type(v3electionpb.CampaignResponse, "CampaignResponse", "v3electionpb"),
    ),
    Proclaim: _method(
      "Election",
      "Proclaim",
      "unary",
      _type(v3electionpb.ProclaimRequest, "ProclaimRequest", "v3electionpb"),
      _type(v3electionpb.ProclaimResponse, "ProclaimResponse", "v3electionpb"),
    ),
    Leader: _method(
      "Election",
      "Leader",
      "unary",
      _type(v3electionpb.LeaderRequest, "LeaderRequest", "v3electionpb"),
      _type(v3electionpb.LeaderResponse, "LeaderResponse", "v3electionpb"),
    ),
    Observe: _method(
      "Election",
      "Observe",
      "serverStream",
      _type(v3electionpb.LeaderRequest, "LeaderRequest", "v3electionpb"),
      _type(v3electionpb.LeaderResponse, "LeaderResponse", "v3electionpb"),
    ),
    Resign: _method(
      "Election",
      "Resign",
      "unary",
      _type(v3electionpb.ResignRequest, "ResignRequest", "v3electionpb"),
      _type(v3electionpb.ResignResponse, "ResignResponse", "v3electionpb"),
    ),
  },
  Lock: {
    Lock: _method(
      "Lock",
      "Lock",
      "unary",
      _type(v3lockpb.LockRequest, "LockRequest", "v3lockpb"),
      _type(v3lockpb.LockResponse, "LockResponse", "v3lockpb"),
    ),
    Unlock: _method(
      "Lock",
      "Unlock",
      "unary",
      _type(v3lockpb.UnlockRequest, "UnlockRequest", "v3lockpb"),
      _type(v3lockpb.UnlockResponse, "UnlockResponse", "v3lockpb"),
    ),
  },
} as const;

/**
 * The handler of one method, by its kind: it takes the decoded request and answers the
 * response properties (unary), or sends them into a sink (streams).
 */
export type HandlerOf<M> = M extends
  TypedMethodDescriptor<ServiceName, string, infer K, infer Req, unknown, unknown, infer Resp>
  ? K extends "unary" ? UnaryHandler<Req, Resp>
  : K extends "serverStream" ? ServerStreamHandler<Req, Resp>
  : BidiHandler<Req, Resp>
  : never;

/**
 * The handlers of one service, derived from `METHODS`: one per method, keyed by the
 * method's handler key (`Range` -> `range`), so the method list is written down only once.
 */
export type ServiceHandlers<S extends ServiceName> = {
  [N in keyof typeof METHODS[S] as Uncapitalize<N & string>]: HandlerOf<typeof METHODS[S][N]>;
};

/** Handlers of `etcdserverpb.KV`. */
export type KVService = ServiceHandlers<"KV">;
/** Handlers of `etcdserverpb.Watch`. */
export type WatchService = ServiceHandlers<"Watch">;
/** Handlers of `etcdserverpb.Lease`. */
export type LeaseService = ServiceHandlers<"Lease">;
/** Handlers of `etcdserverpb.Cluster`. */
export type ClusterService = ServiceHandlers<"Cluster">;
/** Handlers of `etcdserverpb.Maintenance`. */
export type MaintenanceService = ServiceHandlers<"Maintenance">;
/** Handlers of `etcdserverpb.Auth`. */
export type AuthService = ServiceHandlers<"Auth">;
/** Handlers of `v3electionpb.Election`. */
export type ElectionService = ServiceHandlers<"Election">;
/** Handlers of `v3lockpb.Lock`. */
export type LockService = ServiceHandlers<"Lock">;

/**
 * The handlers a server provides. A missing service or method answers UNIMPLEMENTED, as
 * grpc-go does for a method nobody registered.
 */
export interface EtcdServices {
  kv?: Partial<KVService>;
  watch?: Partial<WatchService>;
  lease?: Partial<LeaseService>;
  cluster?: Partial<ClusterService>;
  maintenance?: Partial<MaintenanceService>;
  auth?: Partial<AuthService>;
  election?: Partial<ElectionService>;
  lock?: Partial<LockService>;
}

/** The key of each service in `EtcdServices`. */
export const SERVICE_KEYS: Readonly<Record<ServiceName, keyof EtcdServices>> = {
  KV: "kv",
  Watch: "watch",
  Lease: "lease",
  Cluster: "cluster",
  Maintenance: "maintenance",
  Auth: "auth",
  Election: "election",
  Lock: "lock",
};

/** Every method descriptor in one list, in .proto order. */
export function allMethods(): AnyMethodDescriptor[] {
  const list: AnyMethodDescriptor[] = [];
  for (const service of Object.values(METHODS)) list.push(...Object.values(service));
  return list;
}
