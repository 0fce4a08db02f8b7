/**
 * The errors a client of etcd's v3 API can receive: a gRPC status code and etcd's exact
 * message. Clients (clientv3, etcdctl) recognise an error by its message text, so every
 * string here must match etcd 3.4's `etcdserver/api/v3rpc/rpctypes/error.go` byte for byte.
 *
 * A service handler throws one of the `Err*` values (or any `EtcdError`); the transport
 * adapter turns it into the gRPC status. Anything else thrown becomes `UNKNOWN`.
 *
 * @module
 */

/** gRPC status codes (grpc/codes), independent of any transport library. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** One of the gRPC status code numbers. */
export type StatusCode = typeof Status[keyof typeof Status];

/** An error with a gRPC status code; its `message` is what the client sees. */
export class EtcdError extends Error {
  /** The gRPC status code sent to the client. */
  readonly code: StatusCode;

  /** Makes an error; prefer the predefined `Err*` values where one fits. */
  constructor(code: StatusCode, message: string) {
    super(message);
    if (code === Status.OK) throw new RangeError("an EtcdError cannot carry status OK");
    this.name = "EtcdError";
    this.code = code;
  }
}

/** Every predefined error by its message, as clientv3's `rpctypes.Error` looks them up. */
const _byMessage = new Map<string, EtcdError>();

function _define(code: StatusCode, message: string): EtcdError {
  if (_byMessage.has(message)) throw new Error(`duplicate etcd error message: ${message}`);
  const error = new EtcdError(code, message);
  _byMessage.set(message, error);
  return error;
}

/**
 * The predefined error with this message, or undefined. Used by clients (the load tool) to
 * map a gRPC status received back to the sentinel value.
 */
export function errorFromMessage(message: string): EtcdError | undefined {
  return _byMessage.get(message);
}

/** Every predefined error, in etcd's order. */
export function allErrors(): EtcdError[] {
  return [..._byMessage.values()];
}

/**
 * Turns anything a handler threw into an `EtcdError`: an `EtcdError` stays as it is, any
 * other value becomes `UNKNOWN` with its message (grpc-go does the same for plain errors).
 */
export function toEtcdError(thrown: unknown): EtcdError {
  if (thrown instanceof EtcdError) return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return new EtcdError(Status.UNKNOWN, message);
}

// The server-side errors of etcd 3.4, named as clientv3 names its client-side copies.
/** `ErrGRPCEmptyKey` in etcd. */
export const ErrEmptyKey: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: key is not provided",
);
/** `ErrGRPCKeyNotFound` in etcd. */
export const ErrKeyNotFound: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: key not found",
);
/** `ErrGRPCValueProvided` in etcd. */
export const ErrValueProvided: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: value is provided",
);
/** `ErrGRPCLeaseProvided` in etcd. */
export const ErrLeaseProvided: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: lease is provided",
);
/** `ErrGRPCTooManyOps` in etcd. */
export const ErrTooManyOps: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: too many operations in txn request",
);
/** `ErrGRPCDuplicateKey` in etcd. */
export const ErrDuplicateKey: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: duplicate key given in txn request",
);
/** `ErrGRPCCompacted` in etcd. */
export const ErrCompacted: EtcdError = _define(
  Status.OUT_OF_RANGE,
  "etcdserver: mvcc: required revision has been compacted",
);
/** `ErrGRPCFutureRev` in etcd. */
export const ErrFutureRev: EtcdError = _define(
  Status.OUT_OF_RANGE,
  "etcdserver: mvcc: required revision is a future revision",
);
/** `ErrGRPCNoSpace` in etcd. */
export const ErrNoSpace: EtcdError = _define(
  Status.RESOURCE_EXHAUSTED,
  "etcdserver: mvcc: database space exceeded",
);
/** `ErrGRPCLeaseNotFound` in etcd. */
export const ErrLeaseNotFound: EtcdError = _define(
  Status.NOT_FOUND,
  "etcdserver: requested lease not found",
);
/** `ErrGRPCLeaseExist` in etcd. */
export const ErrLeaseExist: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: lease already exists",
);
/** `ErrGRPCLeaseTTLTooLarge` in etcd. */
export const ErrLeaseTTLTooLarge: EtcdError = _define(
  Status.OUT_OF_RANGE,
  "etcdserver: too large lease TTL",
);
/** `ErrGRPCWatchCanceled` in etcd. */
export const ErrWatchCanceled: EtcdError = _define(Status.CANCELLED, "etcdserver: watch canceled");
/** `ErrGRPCMemberExist` in etcd. */
export const ErrMemberExist: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: member ID already exist",
);
/** `ErrGRPCPeerURLExist` in etcd. */
export const ErrPeerURLExist: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: Peer URLs already exists",
);
/** `ErrGRPCMemberNotEnoughStarted` in etcd. */
export const ErrMemberNotEnoughStarted: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: re-configuration failed due to not enough started members",
);
/** `ErrGRPCMemberBadURLs` in etcd. */
export const ErrMemberBadURLs: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: given member URLs are invalid",
);
/** `ErrGRPCMemberNotFound` in etcd. */
export const ErrMemberNotFound: EtcdError = _define(
  Status.NOT_FOUND,
  "etcdserver: member not found",
);
/** `ErrGRPCMemberNotLearner` in etcd. */
export const ErrMemberNotLearner: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: can only promote a learner member",
);
/** `ErrGRPCLearnerNotReady` in etcd. */
export const ErrMemberLearnerNotReady: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: can only promote a learner member which is in sync with leader",
);
/** `ErrGRPCTooManyLearners` in etcd. */
export const ErrTooManyLearners: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: too many learner members in cluster",
);
/** `ErrGRPCRequestTooLarge` in etcd. */
export const ErrRequestTooLarge: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: request is too large",
);
/** `ErrGRPCRequestTooManyRequests` in etcd. */
export const ErrTooManyRequests: EtcdError = _define(
  Status.RESOURCE_EXHAUSTED,
  "etcdserver: too many requests",
);
/** `ErrGRPCRootUserNotExist` in etcd. */
export const ErrRootUserNotExist: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: root user does not exist",
);
/** `ErrGRPCRootRoleNotExist` in etcd. */
export const ErrRootRoleNotExist: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: root user does not have root role",
);
/** `ErrGRPCUserAlreadyExist` in etcd. */
export const ErrUserAlreadyExist: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: user name already exists",
);
/** `ErrGRPCUserEmpty` in etcd. */
export const ErrUserEmpty: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: user name is empty",
);
/** `ErrGRPCUserNotFound` in etcd. */
export const ErrUserNotFound: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: user name not found",
);
/** `ErrGRPCRoleAlreadyExist` in etcd. */
export const ErrRoleAlreadyExist: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: role name already exists",
);
/** `ErrGRPCRoleNotFound` in etcd. */
export const ErrRoleNotFound: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: role name not found",
);
/** `ErrGRPCRoleEmpty` in etcd. */
export const ErrRoleEmpty: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: role name is empty",
);
/** `ErrGRPCAuthFailed` in etcd. */
export const ErrAuthFailed: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: authentication failed, invalid user ID or password",
);
/** `ErrGRPCPermissionDenied` in etcd. */
export const ErrPermissionDenied: EtcdError = _define(
  Status.PERMISSION_DENIED,
  "etcdserver: permission denied",
);
/** `ErrGRPCRoleNotGranted` in etcd. */
export const ErrRoleNotGranted: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: role is not granted to the user",
);
/** `ErrGRPCPermissionNotGranted` in etcd. */
export const ErrPermissionNotGranted: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: permission is not granted to the role",
);
/** `ErrGRPCAuthNotEnabled` in etcd. */
export const ErrAuthNotEnabled: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: authentication is not enabled",
);
/** `ErrGRPCInvalidAuthToken` in etcd. */
export const ErrInvalidAuthToken: EtcdError = _define(
  Status.UNAUTHENTICATED,
  "etcdserver: invalid auth token",
);
/** `ErrGRPCInvalidAuthMgmt` in etcd. */
export const ErrInvalidAuthMgmt: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: invalid auth management",
);
/** `ErrGRPCAuthOldRevision` in etcd. */
export const ErrAuthOldRevision: EtcdError = _define(
  Status.INVALID_ARGUMENT,
  "etcdserver: revision of auth store is old",
);
/** `ErrGRPCNoLeader` in etcd. */
export const ErrNoLeader: EtcdError = _define(Status.UNAVAILABLE, "etcdserver: no leader");
/** `ErrGRPCNotLeader` in etcd. */
export const ErrNotLeader: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: not leader",
);
/** `ErrGRPCLeaderChanged` in etcd. */
export const ErrLeaderChanged: EtcdError = _define(
  Status.UNAVAILABLE,
  "etcdserver: leader changed",
);
/** `ErrGRPCNotCapable` in etcd. */
export const ErrNotCapable: EtcdError = _define(Status.UNAVAILABLE, "etcdserver: not capable");
/** `ErrGRPCStopped` in etcd. */
export const ErrStopped: EtcdError = _define(Status.UNAVAILABLE, "etcdserver: server stopped");
/** `ErrGRPCTimeout` in etcd. */
export const ErrTimeout: EtcdError = _define(Status.UNAVAILABLE, "etcdserver: request timed out");
/** `ErrGRPCTimeoutDueToLeaderFail` in etcd. */
export const ErrTimeoutDueToLeaderFail: EtcdError = _define(
  Status.UNAVAILABLE,
  "etcdserver: request timed out, possibly due to previous leader failure",
);
/** `ErrGRPCTimeoutDueToConnectionLost` in etcd. */
export const ErrTimeoutDueToConnectionLost: EtcdError = _define(
  Status.UNAVAILABLE,
  "etcdserver: request timed out, possibly due to connection lost",
);
/** `ErrGRPCTimeoutWaitAppliedIndex` in etcd. */
export const ErrTimeoutWaitAppliedIndex: EtcdError = _define(
  Status.UNAVAILABLE,
  "etcdserver: request timed out, waiting for the applied index took too long",
);
/** `ErrGRPCUnhealthy` in etcd. */
export const ErrUnhealthy: EtcdError = _define(Status.UNAVAILABLE, "etcdserver: unhealthy cluster");
/** `ErrGRPCCorrupt` in etcd. */
export const ErrCorrupt: EtcdError = _define(Status.DATA_LOSS, "etcdserver: corrupt cluster");
/** `ErrGPRCNotSupportedForLearner` in etcd. */
export const ErrNotSupportedForLearner: EtcdError = _define(
  Status.UNAVAILABLE,
  "etcdserver: rpc not supported for learner",
);
/** `ErrGRPCBadLeaderTransferee` in etcd. */
export const ErrBadLeaderTransferee: EtcdError = _define(
  Status.FAILED_PRECONDITION,
  "etcdserver: bad leader transferee",
);

/**
 * `etcdserver: request timed out, leader transfer took too long` (DEADLINE_EXCEEDED): a
 * MoveLeader that did not finish within the request timeout. etcd 3.4's rpctypes has no
 * entry for it, so it stays out of the table that clients look messages up in.
 */
export const ErrTimeoutLeaderTransfer: EtcdError = new EtcdError(
  Status.DEADLINE_EXCEEDED,
  "etcdserver: request timed out, leader transfer took too long",
);

// The auth store's own errors that etcd 3.4 does not map to a gRPC error: clients see them as
// UNKNOWN with the store's words. They are not rpctypes errors (not in the table above).

/**
 * `auth.ErrNoPasswordUser`: etcd 3.4's togRPCError has no entry for it, so a client sees the
 * store's own words with code UNKNOWN (Authenticate as a `--no-password` user).
 */
export const ErrNoPasswordUser: EtcdError = new EtcdError(
  Status.UNKNOWN,
  "auth: authentication failed, password was given for no password user",
);
/** `auth.ErrVerifyOnly`, unmapped in etcd 3.4 as well: UNKNOWN with the store's words. */
export const ErrVerifyOnly: EtcdError = new EtcdError(
  Status.UNKNOWN,
  "auth: token signing attempted with verify-only key",
);
/**
 * The auth store's own errors, which etcd 3.4's maintenance service (Defragment, Hash,
 * HashKV, Snapshot) returns without mapping: clients see UNKNOWN and the store's words.
 */
export const ErrRawUserEmpty: EtcdError = new EtcdError(Status.UNKNOWN, "auth: user name is empty");
/** As above: `auth.ErrUserNotFound`. */
export const ErrRawUserNotFound: EtcdError = new EtcdError(Status.UNKNOWN, "auth: user not found");
/** As above: `auth.ErrPermissionDenied`. */
export const ErrRawPermissionDenied: EtcdError = new EtcdError(
  Status.UNKNOWN,
  "auth: permission denied",
);
/** As above: `auth.ErrInvalidAuthToken`. */
export const ErrRawInvalidAuthToken: EtcdError = new EtcdError(
  Status.UNKNOWN,
  "auth: invalid auth token",
);
