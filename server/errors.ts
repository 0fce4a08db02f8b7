/**
 * The errors the server's request API throws (etcd's `etcdserver/errors.go`, together with
 * the store and lessor errors that reach a client: `mvcc.ErrCompacted`, `lease.ErrLeaseNotFound`
 * and the like). They are plain errors: one class, `ServerError`, told apart by its `code`.
 * The server knows nothing of gRPC; `api/` maps each code to a gRPC status and etcd's
 * client-visible message in one function (`togRPCError`).
 *
 * The `message` of each error is the text a client of etcd 3.4 sees for it, so that log lines
 * that print a server error and the peer HTTP bodies that carry one read as they always have.
 *
 * Throw the predefined values (`ErrTimeout`, ...), never a new `ServerError` with a known code:
 * callers compare by identity as well as by code.
 *
 * @module
 */

import { CompactedError, FutureRevisionError } from "../mvcc/mod.ts";
import { AuthError, type AuthErrorCode } from "../auth/mod.ts";
import { LeaseExistsError, LeaseNotFoundError, LeaseTtlTooLargeError } from "../lease/mod.ts";

/** Every kind of server error, named as etcd names the error value. */
export const ServerErrorCode = {
  Compacted: "Compacted",
  FutureRev: "FutureRev",
  KeyNotFound: "KeyNotFound",
  NoSpace: "NoSpace",
  Corrupt: "Corrupt",
  LeaseNotFound: "LeaseNotFound",
  LeaseExist: "LeaseExist",
  LeaseTTLTooLarge: "LeaseTTLTooLarge",
  MemberExist: "MemberExist",
  PeerURLExist: "PeerURLExist",
  MemberNotEnoughStarted: "MemberNotEnoughStarted",
  MemberNotFound: "MemberNotFound",
  MemberNotLearner: "MemberNotLearner",
  LearnerNotReady: "LearnerNotReady",
  TooManyLearners: "TooManyLearners",
  RequestTooLarge: "RequestTooLarge",
  NoLeader: "NoLeader",
  NotLeader: "NotLeader",
  NotCapable: "NotCapable",
  Stopped: "Stopped",
  Timeout: "Timeout",
  TimeoutLeaderTransfer: "TimeoutLeaderTransfer",
  Unhealthy: "Unhealthy",
  BadLeaderTransferee: "BadLeaderTransferee",
  RootUserNotExist: "RootUserNotExist",
  RootRoleNotExist: "RootRoleNotExist",
  UserAlreadyExist: "UserAlreadyExist",
  UserEmpty: "UserEmpty",
  UserNotFound: "UserNotFound",
  RoleAlreadyExist: "RoleAlreadyExist",
  RoleNotFound: "RoleNotFound",
  RoleEmpty: "RoleEmpty",
  AuthFailed: "AuthFailed",
  NoPasswordUser: "NoPasswordUser",
  PermissionDenied: "PermissionDenied",
  RoleNotGranted: "RoleNotGranted",
  PermissionNotGranted: "PermissionNotGranted",
  AuthNotEnabled: "AuthNotEnabled",
  AuthOldRevision: "AuthOldRevision",
  InvalidAuthToken: "InvalidAuthToken",
  InvalidAuthMgmt: "InvalidAuthMgmt",
  VerifyOnly: "VerifyOnly",
  RawUserEmpty: "RawUserEmpty",
  RawUserNotFound: "RawUserNotFound",
  RawPermissionDenied: "RawPermissionDenied",
  RawInvalidAuthToken: "RawInvalidAuthToken",
} as const;

/** One of the server error codes. */
export type ServerErrorCode = typeof ServerErrorCode[keyof typeof ServerErrorCode];

/** An error of the request API; `code` says which one. */
export class ServerError extends Error {
  /** Which error this is. */
  readonly code: ServerErrorCode;

  /** Makes an error; only this module does, once per code. */
  constructor(code: ServerErrorCode, message: string) {
    super(message);
    this.name = "ServerError";
    this.code = code;
  }
}

/** The one value per code, to keep each code defined once. */
const _byCode = new Map<ServerErrorCode, ServerError>();

function _define(code: ServerErrorCode, message: string): ServerError {
  if (_byCode.has(code)) throw new Error(`duplicate server error code: ${code}`);
  const error = new ServerError(code, message);
  _byCode.set(code, error);
  return error;
}

/** Every predefined server error (tests check that each one maps to a gRPC status). */
export function allServerErrors(): ServerError[] {
  return [..._byCode.values()];
}

/** `mvcc.ErrCompacted`: the revision asked for has been compacted. */
export const ErrCompacted: ServerError = _define(
  ServerErrorCode.Compacted,
  "etcdserver: mvcc: required revision has been compacted",
);
/** `mvcc.ErrFutureRev`: the revision asked for is past the current one. */
export const ErrFutureRev: ServerError = _define(
  ServerErrorCode.FutureRev,
  "etcdserver: mvcc: required revision is a future revision",
);
/** `ErrKeyNotFound`: a put with `ignore_value`/`ignore_lease` on a key that does not exist. */
export const ErrKeyNotFound: ServerError = _define(
  ServerErrorCode.KeyNotFound,
  "etcdserver: key not found",
);
/** `ErrNoSpace`: the NOSPACE alarm is raised or the request would exceed the quota. */
export const ErrNoSpace: ServerError = _define(
  ServerErrorCode.NoSpace,
  "etcdserver: mvcc: database space exceeded",
);
/** `ErrCorrupt`: the CORRUPT alarm is raised; writes are refused (etcd applierV3Corrupt). */
export const ErrCorrupt: ServerError = _define(
  ServerErrorCode.Corrupt,
  "etcdserver: corrupt cluster",
);
/** `lease.ErrLeaseNotFound`. */
export const ErrLeaseNotFound: ServerError = _define(
  ServerErrorCode.LeaseNotFound,
  "etcdserver: requested lease not found",
);
/** `lease.ErrLeaseExists`. */
export const ErrLeaseExist: ServerError = _define(
  ServerErrorCode.LeaseExist,
  "etcdserver: lease already exists",
);
/** `lease.ErrLeaseTTLTooLarge`. */
export const ErrLeaseTTLTooLarge: ServerError = _define(
  ServerErrorCode.LeaseTTLTooLarge,
  "etcdserver: too large lease TTL",
);
/** `membership.ErrIDExists`. */
export const ErrMemberExist: ServerError = _define(
  ServerErrorCode.MemberExist,
  "etcdserver: member ID already exist",
);
/** `membership.ErrPeerURLexists`. */
export const ErrPeerURLExist: ServerError = _define(
  ServerErrorCode.PeerURLExist,
  "etcdserver: Peer URLs already exists",
);
/** `ErrNotEnoughStartedMembers`. */
export const ErrMemberNotEnoughStarted: ServerError = _define(
  ServerErrorCode.MemberNotEnoughStarted,
  "etcdserver: re-configuration failed due to not enough started members",
);
/** `membership.ErrIDNotFound` (also a removed ID). */
export const ErrMemberNotFound: ServerError = _define(
  ServerErrorCode.MemberNotFound,
  "etcdserver: member not found",
);
/** `membership.ErrMemberNotLearner`. */
export const ErrMemberNotLearner: ServerError = _define(
  ServerErrorCode.MemberNotLearner,
  "etcdserver: can only promote a learner member",
);
/** `ErrLearnerNotReady`. */
export const ErrMemberLearnerNotReady: ServerError = _define(
  ServerErrorCode.LearnerNotReady,
  "etcdserver: can only promote a learner member which is in sync with leader",
);
/** `membership.ErrTooManyLearners`. */
export const ErrTooManyLearners: ServerError = _define(
  ServerErrorCode.TooManyLearners,
  "etcdserver: too many learner members in cluster",
);
/** `ErrRequestTooLarge`: the encoded proposal passes `--max-request-bytes`. */
export const ErrRequestTooLarge: ServerError = _define(
  ServerErrorCode.RequestTooLarge,
  "etcdserver: request is too large",
);
/** `ErrNoLeader`. */
export const ErrNoLeader: ServerError = _define(ServerErrorCode.NoLeader, "etcdserver: no leader");
/** `ErrNotLeader`: an operation only the leader may do. */
export const ErrNotLeader: ServerError = _define(
  ServerErrorCode.NotLeader,
  "etcdserver: not leader",
);
/** `ErrNotCapable`: a request this member does not apply (yet). */
export const ErrNotCapable: ServerError = _define(
  ServerErrorCode.NotCapable,
  "etcdserver: not capable",
);
/** `ErrStopped`. */
export const ErrStopped: ServerError = _define(
  ServerErrorCode.Stopped,
  "etcdserver: server stopped",
);
/** `ErrTimeout`. */
export const ErrTimeout: ServerError = _define(
  ServerErrorCode.Timeout,
  "etcdserver: request timed out",
);
/** `ErrTimeoutLeaderTransfer`. */
export const ErrTimeoutLeaderTransfer: ServerError = _define(
  ServerErrorCode.TimeoutLeaderTransfer,
  "etcdserver: request timed out, leader transfer took too long",
);
/** `ErrUnhealthy`: removing the member would leave too few healthy voters. */
export const ErrUnhealthy: ServerError = _define(
  ServerErrorCode.Unhealthy,
  "etcdserver: unhealthy cluster",
);
/** `ErrBadLeaderTransferee`. */
export const ErrBadLeaderTransferee: ServerError = _define(
  ServerErrorCode.BadLeaderTransferee,
  "etcdserver: bad leader transferee",
);

/** `auth.ErrRootUserNotExist`: AuthEnable without a root user. */
export const ErrRootUserNotExist: ServerError = _define(
  ServerErrorCode.RootUserNotExist,
  "etcdserver: root user does not exist",
);
/** `auth.ErrRootRoleNotExist`: AuthEnable while root lacks the root role. */
export const ErrRootRoleNotExist: ServerError = _define(
  ServerErrorCode.RootRoleNotExist,
  "etcdserver: root user does not have root role",
);
/** `auth.ErrUserAlreadyExist`. */
export const ErrUserAlreadyExist: ServerError = _define(
  ServerErrorCode.UserAlreadyExist,
  "etcdserver: user name already exists",
);
/** `auth.ErrUserEmpty`: no user name (also an anonymous caller while auth is on). */
export const ErrUserEmpty: ServerError = _define(
  ServerErrorCode.UserEmpty,
  "etcdserver: user name is empty",
);
/** `auth.ErrUserNotFound`. */
export const ErrUserNotFound: ServerError = _define(
  ServerErrorCode.UserNotFound,
  "etcdserver: user name not found",
);
/** `auth.ErrRoleAlreadyExist`. */
export const ErrRoleAlreadyExist: ServerError = _define(
  ServerErrorCode.RoleAlreadyExist,
  "etcdserver: role name already exists",
);
/** `auth.ErrRoleNotFound`. */
export const ErrRoleNotFound: ServerError = _define(
  ServerErrorCode.RoleNotFound,
  "etcdserver: role name not found",
);
/** `auth.ErrRoleEmpty`. */
export const ErrRoleEmpty: ServerError = _define(
  ServerErrorCode.RoleEmpty,
  "etcdserver: role name is empty",
);
/** `auth.ErrAuthFailed`. */
export const ErrAuthFailed: ServerError = _define(
  ServerErrorCode.AuthFailed,
  "etcdserver: authentication failed, invalid user ID or password",
);
/** `auth.ErrNoPasswordUser`: etcd 3.4 has no gRPC error for it; clients see its own words. */
export const ErrNoPasswordUser: ServerError = _define(
  ServerErrorCode.NoPasswordUser,
  "auth: authentication failed, password was given for no password user",
);
/** `auth.ErrPermissionDenied`. */
export const ErrPermissionDenied: ServerError = _define(
  ServerErrorCode.PermissionDenied,
  "etcdserver: permission denied",
);
/** `auth.ErrRoleNotGranted`. */
export const ErrRoleNotGranted: ServerError = _define(
  ServerErrorCode.RoleNotGranted,
  "etcdserver: role is not granted to the user",
);
/** `auth.ErrPermissionNotGranted`. */
export const ErrPermissionNotGranted: ServerError = _define(
  ServerErrorCode.PermissionNotGranted,
  "etcdserver: permission is not granted to the role",
);
/** `auth.ErrAuthNotEnabled`. */
export const ErrAuthNotEnabled: ServerError = _define(
  ServerErrorCode.AuthNotEnabled,
  "etcdserver: authentication is not enabled",
);
/** `auth.ErrAuthOldRevision`. */
export const ErrAuthOldRevision: ServerError = _define(
  ServerErrorCode.AuthOldRevision,
  "etcdserver: revision of auth store is old",
);
/** `auth.ErrInvalidAuthToken`. */
export const ErrInvalidAuthToken: ServerError = _define(
  ServerErrorCode.InvalidAuthToken,
  "etcdserver: invalid auth token",
);
/** `auth.ErrInvalidAuthMgmt`. */
export const ErrInvalidAuthMgmt: ServerError = _define(
  ServerErrorCode.InvalidAuthMgmt,
  "etcdserver: invalid auth management",
);
/** `auth.ErrVerifyOnly`: Authenticate on a JWT member given only a public key. */
export const ErrVerifyOnly: ServerError = _define(
  ServerErrorCode.VerifyOnly,
  "auth: token signing attempted with verify-only key",
);

// etcd's authMaintenanceServer (Defragment, Hash, HashKV, Snapshot) returns the auth store's
// errors without togRPCError: a client sees them as UNKNOWN, in the store's words.

/** `auth.ErrUserEmpty`, unmapped (a maintenance call by an anonymous caller). */
export const ErrRawUserEmpty: ServerError = _define(
  ServerErrorCode.RawUserEmpty,
  "auth: user name is empty",
);
/** `auth.ErrUserNotFound`, unmapped. */
export const ErrRawUserNotFound: ServerError = _define(
  ServerErrorCode.RawUserNotFound,
  "auth: user not found",
);
/** `auth.ErrPermissionDenied`, unmapped (a maintenance call by a user without root). */
export const ErrRawPermissionDenied: ServerError = _define(
  ServerErrorCode.RawPermissionDenied,
  "auth: permission denied",
);
/** `auth.ErrInvalidAuthToken`, unmapped. */
export const ErrRawInvalidAuthToken: ServerError = _define(
  ServerErrorCode.RawInvalidAuthToken,
  "auth: invalid auth token",
);

/** The unmapped form of an auth error, as the maintenance service reports it. */
export function rawAuthError(error: ServerError): ServerError {
  switch (error.code) {
    case ServerErrorCode.UserEmpty:
      return ErrRawUserEmpty;
    case ServerErrorCode.UserNotFound:
      return ErrRawUserNotFound;
    case ServerErrorCode.PermissionDenied:
      return ErrRawPermissionDenied;
    case ServerErrorCode.InvalidAuthToken:
      return ErrRawInvalidAuthToken;
    default:
      return error;
  }
}

/** The server error of each auth store error a request can meet. */
const _AUTH_ERRORS: Partial<Record<AuthErrorCode, ServerError>> = {
  RootUserNotExist: ErrRootUserNotExist,
  RootRoleNotExist: ErrRootRoleNotExist,
  UserAlreadyExist: ErrUserAlreadyExist,
  UserEmpty: ErrUserEmpty,
  UserNotFound: ErrUserNotFound,
  RoleAlreadyExist: ErrRoleAlreadyExist,
  RoleNotFound: ErrRoleNotFound,
  RoleEmpty: ErrRoleEmpty,
  AuthFailed: ErrAuthFailed,
  NoPasswordUser: ErrNoPasswordUser,
  PermissionDenied: ErrPermissionDenied,
  RoleNotGranted: ErrRoleNotGranted,
  PermissionNotGranted: ErrPermissionNotGranted,
  AuthNotEnabled: ErrAuthNotEnabled,
  AuthOldRevision: ErrAuthOldRevision,
  InvalidAuthToken: ErrInvalidAuthToken,
  InvalidAuthMgmt: ErrInvalidAuthMgmt,
  VerifyOnly: ErrVerifyOnly,
};

/**
 * Turns a store or lessor error into the server error a client sees; a `ServerError` stays
 * as it is. Anything else is a fault, not a request-level failure, and is thrown again.
 */
export function toServerError(error: unknown): ServerError {
  if (error instanceof ServerError) return error;
  if (error instanceof CompactedError) return ErrCompacted;
  if (error instanceof FutureRevisionError) return ErrFutureRev;
  if (error instanceof LeaseNotFoundError) return ErrLeaseNotFound;
  if (error instanceof LeaseExistsError) return ErrLeaseExist;
  if (error instanceof LeaseTtlTooLargeError) return ErrLeaseTTLTooLarge;
  if (error instanceof AuthError) {
    const mapped = _AUTH_ERRORS[error.code];
    if (mapped !== undefined) return mapped;
  }
  throw error;
}
