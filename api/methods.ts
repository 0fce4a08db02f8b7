/**
 * The table of etcd's v3 gRPC methods: full path, streaming kind and codecs for each, plus
 * one handler interface per service. The adapter (`grpc_server.ts`) and the client
 * (`grpc_client.ts`) both read this table, so a path or codec is written down only here.
 *
 * Every method path is exactly etcd 3.4's (`/etcdserverpb.<Service>/<Method>`).
 *
 * @module
 */

import { etcdserverpb } from "./gen/etcd.js";
import type { BidiHandler, ServerStreamHandler, UnaryHandler } from "./handler.ts";

/** How requests and responses flow in a method. */
export type MethodKind = "unary" | "serverStream" | "bidi";

/** Encodes one message type to bytes and decodes it back. */
export interface Codec<Decoded, Properties> {
  /** Encodes a message (a decoded instance or a plain object of its properties). */
  encode(message: Properties): Uint8Array;
  /** Decodes bytes; throws on malformed input. */
  decode(bytes: Uint8Array): Decoded;
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
  encode(message: Properties): { finish(): Uint8Array };
  decode(bytes: Uint8Array): Decoded;
}

function _codec<Decoded, Properties>(
  type: _GeneratedType<Decoded, Properties>,
): Codec<Decoded, Properties> {
  return {
    encode: (message) => type.encode(message).finish(),
    decode: (bytes) => type.decode(bytes),
  };
}

function _method<Req, ReqProps, Resp, RespProps>(
  service: ServiceName,
  name: string,
  kind: MethodKind,
  request: _GeneratedType<Req, ReqProps>,
  response: _GeneratedType<Resp, RespProps>,
): MethodDescriptor<Req, ReqProps, Resp, RespProps> {
  const handlerKey = name.charAt(0).toLowerCase() + name.slice(1);
  const path = `/etcdserverpb.${service}/${name}`;
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

/** The six services of the v3 API. */
export type ServiceName = "KV" | "Watch" | "Lease" | "Cluster" | "Maintenance" | "Auth";

/** Every method of the v3 API, by service and method name. */
export const METHODS = {
  KV: {
    Range: _method("KV", "Range", "unary", etcdserverpb.RangeRequest, etcdserverpb.RangeResponse),
    Put: _method("KV", "Put", "unary", etcdserverpb.PutRequest, etcdserverpb.PutResponse),
    DeleteRange: _method(
      "KV",
      "DeleteRange",
      "unary",
      etcdserverpb.DeleteRangeRequest,
      etcdserverpb.DeleteRangeResponse,
    ),
    Txn: _method("KV", "Txn", "unary", etcdserverpb.TxnRequest, etcdserverpb.TxnResponse),
    Compact: _method(
      "KV",
      "Compact",
      "unary",
      etcdserverpb.CompactionRequest,
      etcdserverpb.CompactionResponse,
    ),
  },
  Watch: {
    Watch: _method("Watch", "Watch", "bidi", etcdserverpb.WatchRequest, etcdserverpb.WatchResponse),
  },
  Lease: {
    LeaseGrant: _method(
      "Lease",
      "LeaseGrant",
      "unary",
      etcdserverpb.LeaseGrantRequest,
      etcdserverpb.LeaseGrantResponse,
    ),
    LeaseRevoke: _method(
      "Lease",
      "LeaseRevoke",
      "unary",
      etcdserverpb.LeaseRevokeRequest,
      etcdserverpb.LeaseRevokeResponse,
    ),
    LeaseKeepAlive: _method(
      "Lease",
      "LeaseKeepAlive",
      "bidi",
      etcdserverpb.LeaseKeepAliveRequest,
      etcdserverpb.LeaseKeepAliveResponse,
    ),
    LeaseTimeToLive: _method(
      "Lease",
      "LeaseTimeToLive",
      "unary",
      etcdserverpb.LeaseTimeToLiveRequest,
      etcdserverpb.LeaseTimeToLiveResponse,
    ),
    LeaseLeases: _method(
      "Lease",
      "LeaseLeases",
      "unary",
      etcdserverpb.LeaseLeasesRequest,
      etcdserverpb.LeaseLeasesResponse,
    ),
  },
  Cluster: {
    MemberAdd: _method(
      "Cluster",
      "MemberAdd",
      "unary",
      etcdserverpb.MemberAddRequest,
      etcdserverpb.MemberAddResponse,
    ),
    MemberRemove: _method(
      "Cluster",
      "MemberRemove",
      "unary",
      etcdserverpb.MemberRemoveRequest,
      etcdserverpb.MemberRemoveResponse,
    ),
    MemberUpdate: _method(
      "Cluster",
      "MemberUpdate",
      "unary",
      etcdserverpb.MemberUpdateRequest,
      etcdserverpb.MemberUpdateResponse,
    ),
    MemberList: _method(
      "Cluster",
      "MemberList",
      "unary",
      etcdserverpb.MemberListRequest,
      etcdserverpb.MemberListResponse,
    ),
    MemberPromote: _method(
      "Cluster",
      "MemberPromote",
      "unary",
      etcdserverpb.MemberPromoteRequest,
      etcdserverpb.MemberPromoteResponse,
    ),
  },
  Maintenance: {
    Alarm: _method(
      "Maintenance",
      "Alarm",
      "unary",
      etcdserverpb.AlarmRequest,
      etcdserverpb.AlarmResponse,
    ),
    Status: _method(
      "Maintenance",
      "Status",
      "unary",
      etcdserverpb.StatusRequest,
      etcdserverpb.StatusResponse,
    ),
    Defragment: _method(
      "Maintenance",
      "Defragment",
      "unary",
      etcdserverpb.DefragmentRequest,
      etcdserverpb.DefragmentResponse,
    ),
    Hash: _method(
      "Maintenance",
      "Hash",
      "unary",
      etcdserverpb.HashRequest,
      etcdserverpb.HashResponse,
    ),
    HashKV: _method(
      "Maintenance",
      "HashKV",
      "unary",
      etcdserverpb.HashKVRequest,
      etcdserverpb.HashKVResponse,
    ),
    Snapshot: _method(
      "Maintenance",
      "Snapshot",
      "serverStream",
      etcdserverpb.SnapshotRequest,
      etcdserverpb.SnapshotResponse,
    ),
    MoveLeader: _method(
      "Maintenance",
      "MoveLeader",
      "unary",
      etcdserverpb.MoveLeaderRequest,
      etcdserverpb.MoveLeaderResponse,
    ),
  },
  Auth: {
    AuthEnable: _method(
      "Auth",
      "AuthEnable",
      "unary",
      etcdserverpb.AuthEnableRequest,
      etcdserverpb.AuthEnableResponse,
    ),
    AuthDisable: _method(
      "Auth",
      "AuthDisable",
      "unary",
      etcdserverpb.AuthDisableRequest,
      etcdserverpb.AuthDisableResponse,
    ),
    Authenticate: _method(
      "Auth",
      "Authenticate",
      "unary",
      etcdserverpb.AuthenticateRequest,
      etcdserverpb.AuthenticateResponse,
    ),
    UserAdd: _method(
      "Auth",
      "UserAdd",
      "unary",
      etcdserverpb.AuthUserAddRequest,
      etcdserverpb.AuthUserAddResponse,
    ),
    UserGet: _method(
      "Auth",
      "UserGet",
      "unary",
      etcdserverpb.AuthUserGetRequest,
      etcdserverpb.AuthUserGetResponse,
    ),
    UserList: _method(
      "Auth",
      "UserList",
      "unary",
      etcdserverpb.AuthUserListRequest,
      etcdserverpb.AuthUserListResponse,
    ),
    UserDelete: _method(
      "Auth",
      "UserDelete",
      "unary",
      etcdserverpb.AuthUserDeleteRequest,
      etcdserverpb.AuthUserDeleteResponse,
    ),
    UserChangePassword: _method(
      "Auth",
      "UserChangePassword",
      "unary",
      etcdserverpb.AuthUserChangePasswordRequest,
      etcdserverpb.AuthUserChangePasswordResponse,
    ),
    UserGrantRole: _method(
      "Auth",
      "UserGrantRole",
      "unary",
      etcdserverpb.AuthUserGrantRoleRequest,
      etcdserverpb.AuthUserGrantRoleResponse,
    ),
    UserRevokeRole: _method(
      "Auth",
      "UserRevokeRole",
      "unary",
      etcdserverpb.AuthUserRevokeRoleRequest,
      etcdserverpb.AuthUserRevokeRoleResponse,
    ),
    RoleAdd: _method(
      "Auth",
      "RoleAdd",
      "unary",
      etcdserverpb.AuthRoleAddRequest,
      etcdserverpb.AuthRoleAddResponse,
    ),
    RoleGet: _method(
      "Auth",
      "RoleGet",
      "unary",
      etcdserverpb.AuthRoleGetRequest,
      etcdserverpb.AuthRoleGetResponse,
    ),
    RoleList: _method(
      "Auth",
      "RoleList",
      "unary",
      etcdserverpb.AuthRoleListRequest,
      etcdserverpb.AuthRoleListResponse,
    ),
    RoleDelete: _method(
      "Auth",
      "RoleDelete",
      "unary",
      etcdserverpb.AuthRoleDeleteRequest,
      etcdserverpb.AuthRoleDeleteResponse,
    ),
    RoleGrantPermission: _method(
      "Auth",
      "RoleGrantPermission",
      "unary",
      etcdserverpb.AuthRoleGrantPermissionRequest,
      etcdserverpb.AuthRoleGrantPermissionResponse,
    ),
    RoleRevokePermission: _method(
      "Auth",
      "RoleRevokePermission",
      "unary",
      etcdserverpb.AuthRoleRevokePermissionRequest,
      etcdserverpb.AuthRoleRevokePermissionResponse,
    ),
  },
} as const;

/** Handlers of `etcdserverpb.KV`. */
export interface KVService {
  /** `/etcdserverpb.KV/Range` */
  range: UnaryHandler<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse.$Properties>;
  /** `/etcdserverpb.KV/Put` */
  put: UnaryHandler<etcdserverpb.PutRequest, etcdserverpb.PutResponse.$Properties>;
  /** `/etcdserverpb.KV/DeleteRange` */
  deleteRange: UnaryHandler<
    etcdserverpb.DeleteRangeRequest,
    etcdserverpb.DeleteRangeResponse.$Properties
  >;
  /** `/etcdserverpb.KV/Txn` */
  txn: UnaryHandler<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse.$Properties>;
  /** `/etcdserverpb.KV/Compact` */
  compact: UnaryHandler<
    etcdserverpb.CompactionRequest,
    etcdserverpb.CompactionResponse.$Properties
  >;
}

/** Handlers of `etcdserverpb.Watch`. */
export interface WatchService {
  /** `/etcdserverpb.Watch/Watch` */
  watch: BidiHandler<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse.$Properties>;
}

/** Handlers of `etcdserverpb.Lease`. */
export interface LeaseService {
  /** `/etcdserverpb.Lease/LeaseGrant` */
  leaseGrant: UnaryHandler<
    etcdserverpb.LeaseGrantRequest,
    etcdserverpb.LeaseGrantResponse.$Properties
  >;
  /** `/etcdserverpb.Lease/LeaseRevoke` */
  leaseRevoke: UnaryHandler<
    etcdserverpb.LeaseRevokeRequest,
    etcdserverpb.LeaseRevokeResponse.$Properties
  >;
  /** `/etcdserverpb.Lease/LeaseKeepAlive` */
  leaseKeepAlive: BidiHandler<
    etcdserverpb.LeaseKeepAliveRequest,
    etcdserverpb.LeaseKeepAliveResponse.$Properties
  >;
  /** `/etcdserverpb.Lease/LeaseTimeToLive` */
  leaseTimeToLive: UnaryHandler<
    etcdserverpb.LeaseTimeToLiveRequest,
    etcdserverpb.LeaseTimeToLiveResponse.$Properties
  >;
  /** `/etcdserverpb.Lease/LeaseLeases` */
  leaseLeases: UnaryHandler<
    etcdserverpb.LeaseLeasesRequest,
    etcdserverpb.LeaseLeasesResponse.$Properties
  >;
}

/** Handlers of `etcdserverpb.Cluster`. */
export interface ClusterService {
  /** `/etcdserverpb.Cluster/MemberAdd` */
  memberAdd: UnaryHandler<
    etcdserverpb.MemberAddRequest,
    etcdserverpb.MemberAddResponse.$Properties
  >;
  /** `/etcdserverpb.Cluster/MemberRemove` */
  memberRemove: UnaryHandler<
    etcdserverpb.MemberRemoveRequest,
    etcdserverpb.MemberRemoveResponse.$Properties
  >;
  /** `/etcdserverpb.Cluster/MemberUpdate` */
  memberUpdate: UnaryHandler<
    etcdserverpb.MemberUpdateRequest,
    etcdserverpb.MemberUpdateResponse.$Properties
  >;
  /** `/etcdserverpb.Cluster/MemberList` */
  memberList: UnaryHandler<
    etcdserverpb.MemberListRequest,
    etcdserverpb.MemberListResponse.$Properties
  >;
  /** `/etcdserverpb.Cluster/MemberPromote` */
  memberPromote: UnaryHandler<
    etcdserverpb.MemberPromoteRequest,
    etcdserverpb.MemberPromoteResponse.$Properties
  >;
}

/** Handlers of `etcdserverpb.Maintenance`. */
export interface MaintenanceService {
  /** `/etcdserverpb.Maintenance/Alarm` */
  alarm: UnaryHandler<etcdserverpb.AlarmRequest, etcdserverpb.AlarmResponse.$Properties>;
  /** `/etcdserverpb.Maintenance/Status` */
  status: UnaryHandler<etcdserverpb.StatusRequest, etcdserverpb.StatusResponse.$Properties>;
  /** `/etcdserverpb.Maintenance/Defragment` */
  defragment: UnaryHandler<
    etcdserverpb.DefragmentRequest,
    etcdserverpb.DefragmentResponse.$Properties
  >;
  /** `/etcdserverpb.Maintenance/Hash` */
  hash: UnaryHandler<etcdserverpb.HashRequest, etcdserverpb.HashResponse.$Properties>;
  /** `/etcdserverpb.Maintenance/HashKV` */
  hashKV: UnaryHandler<etcdserverpb.HashKVRequest, etcdserverpb.HashKVResponse.$Properties>;
  /** `/etcdserverpb.Maintenance/Snapshot` */
  snapshot: ServerStreamHandler<
    etcdserverpb.SnapshotRequest,
    etcdserverpb.SnapshotResponse.$Properties
  >;
  /** `/etcdserverpb.Maintenance/MoveLeader` */
  moveLeader: UnaryHandler<
    etcdserverpb.MoveLeaderRequest,
    etcdserverpb.MoveLeaderResponse.$Properties
  >;
}

/** Handlers of `etcdserverpb.Auth`. */
export interface AuthService {
  /** `/etcdserverpb.Auth/AuthEnable` */
  authEnable: UnaryHandler<
    etcdserverpb.AuthEnableRequest,
    etcdserverpb.AuthEnableResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/AuthDisable` */
  authDisable: UnaryHandler<
    etcdserverpb.AuthDisableRequest,
    etcdserverpb.AuthDisableResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/Authenticate` */
  authenticate: UnaryHandler<
    etcdserverpb.AuthenticateRequest,
    etcdserverpb.AuthenticateResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/UserAdd` */
  userAdd: UnaryHandler<
    etcdserverpb.AuthUserAddRequest,
    etcdserverpb.AuthUserAddResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/UserGet` */
  userGet: UnaryHandler<
    etcdserverpb.AuthUserGetRequest,
    etcdserverpb.AuthUserGetResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/UserList` */
  userList: UnaryHandler<
    etcdserverpb.AuthUserListRequest,
    etcdserverpb.AuthUserListResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/UserDelete` */
  userDelete: UnaryHandler<
    etcdserverpb.AuthUserDeleteRequest,
    etcdserverpb.AuthUserDeleteResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/UserChangePassword` */
  userChangePassword: UnaryHandler<
    etcdserverpb.AuthUserChangePasswordRequest,
    etcdserverpb.AuthUserChangePasswordResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/UserGrantRole` */
  userGrantRole: UnaryHandler<
    etcdserverpb.AuthUserGrantRoleRequest,
    etcdserverpb.AuthUserGrantRoleResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/UserRevokeRole` */
  userRevokeRole: UnaryHandler<
    etcdserverpb.AuthUserRevokeRoleRequest,
    etcdserverpb.AuthUserRevokeRoleResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/RoleAdd` */
  roleAdd: UnaryHandler<
    etcdserverpb.AuthRoleAddRequest,
    etcdserverpb.AuthRoleAddResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/RoleGet` */
  roleGet: UnaryHandler<
    etcdserverpb.AuthRoleGetRequest,
    etcdserverpb.AuthRoleGetResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/RoleList` */
  roleList: UnaryHandler<
    etcdserverpb.AuthRoleListRequest,
    etcdserverpb.AuthRoleListResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/RoleDelete` */
  roleDelete: UnaryHandler<
    etcdserverpb.AuthRoleDeleteRequest,
    etcdserverpb.AuthRoleDeleteResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/RoleGrantPermission` */
  roleGrantPermission: UnaryHandler<
    etcdserverpb.AuthRoleGrantPermissionRequest,
    etcdserverpb.AuthRoleGrantPermissionResponse.$Properties
  >;
  /** `/etcdserverpb.Auth/RoleRevokePermission` */
  roleRevokePermission: UnaryHandler<
    etcdserverpb.AuthRoleRevokePermissionRequest,
    etcdserverpb.AuthRoleRevokePermissionResponse.$Properties
  >;
}

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
}

/** The key of each service in `EtcdServices`. */
export const SERVICE_KEYS: Readonly<Record<ServiceName, keyof EtcdServices>> = {
  KV: "kv",
  Watch: "watch",
  Lease: "lease",
  Cluster: "cluster",
  Maintenance: "maintenance",
  Auth: "auth",
};

/** Every method descriptor in one list, in .proto order. */
export function allMethods(): AnyMethodDescriptor[] {
  const list: AnyMethodDescriptor[] = [];
  for (const service of Object.values(METHODS)) list.push(...Object.values(service));
  return list;
}
