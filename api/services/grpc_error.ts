/**
 * The one mapping from the server's plain errors to what a gRPC client sees (etcd's
 * `v3rpc/util.go togRPCError`): a status code and etcd's exact message. Every service goes
 * through it: `withgRPCErrors` wraps each handler so that whatever a handler throws or
 * rejects with reaches the transport already mapped.
 *
 * @module
 */

import {
  ErrAuthFailed,
  ErrAuthNotEnabled,
  ErrAuthOldRevision,
  ErrBadLeaderTransferee,
  ErrCompacted,
  ErrCorrupt,
  ErrFutureRev,
  ErrInvalidAuthMgmt,
  ErrInvalidAuthToken,
  ErrKeyNotFound,
  ErrLeaseExist,
  ErrLeaseNotFound,
  ErrLeaseTTLTooLarge,
  ErrMemberExist,
  ErrMemberLearnerNotReady,
  ErrMemberNotEnoughStarted,
  ErrMemberNotFound,
  ErrMemberNotLearner,
  ErrNoLeader,
  ErrNoPasswordUser,
  ErrNoSpace,
  ErrNotCapable,
  ErrNotLeader,
  ErrPeerURLExist,
  ErrPermissionDenied,
  ErrPermissionNotGranted,
  ErrRawInvalidAuthToken,
  ErrRawPermissionDenied,
  ErrRawUserEmpty,
  ErrRawUserNotFound,
  ErrRequestTooLarge,
  ErrRoleAlreadyExist,
  ErrRoleEmpty,
  ErrRoleNotFound,
  ErrRoleNotGranted,
  ErrRootRoleNotExist,
  ErrRootUserNotExist,
  ErrStopped,
  ErrTimeout,
  ErrTimeoutLeaderTransfer,
  ErrTooManyLearners,
  ErrUnhealthy,
  ErrUserAlreadyExist,
  ErrUserEmpty,
  ErrUserNotFound,
  ErrVerifyOnly,
  type EtcdError,
} from "../../rpc/mod.ts";
import type { BidiHandler, ServerStreamHandler, UnaryHandler } from "../../rpc/mod.ts";
import { allMethods, type EtcdServices, SERVICE_KEYS } from "../../rpc/mod.ts";
import { ServerError, type ServerErrorCode } from "../../server/mod.ts";

/** Each server error code's client-visible error. A new code fails to compile until added. */
const _BY_CODE: Readonly<Record<ServerErrorCode, EtcdError>> = {
  Compacted: ErrCompacted,
  FutureRev: ErrFutureRev,
  KeyNotFound: ErrKeyNotFound,
  NoSpace: ErrNoSpace,
  Corrupt: ErrCorrupt,
  LeaseNotFound: ErrLeaseNotFound,
  LeaseExist: ErrLeaseExist,
  LeaseTTLTooLarge: ErrLeaseTTLTooLarge,
  MemberExist: ErrMemberExist,
  PeerURLExist: ErrPeerURLExist,
  MemberNotEnoughStarted: ErrMemberNotEnoughStarted,
  MemberNotFound: ErrMemberNotFound,
  MemberNotLearner: ErrMemberNotLearner,
  LearnerNotReady: ErrMemberLearnerNotReady,
  TooManyLearners: ErrTooManyLearners,
  RequestTooLarge: ErrRequestTooLarge,
  NoLeader: ErrNoLeader,
  NotLeader: ErrNotLeader,
  NotCapable: ErrNotCapable,
  Stopped: ErrStopped,
  Timeout: ErrTimeout,
  TimeoutLeaderTransfer: ErrTimeoutLeaderTransfer,
  Unhealthy: ErrUnhealthy,
  BadLeaderTransferee: ErrBadLeaderTransferee,
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
  RawUserEmpty: ErrRawUserEmpty,
  RawUserNotFound: ErrRawUserNotFound,
  RawPermissionDenied: ErrRawPermissionDenied,
  RawInvalidAuthToken: ErrRawInvalidAuthToken,
};

/**
 * A server error as the gRPC error a client sees; anything else is returned unchanged (an
 * `EtcdError` the api itself threw stays as it is, and the transport reports any other value
 * as UNKNOWN with its message, as grpc-go does).
 */
export function togRPCError(error: unknown): unknown {
  if (!(error instanceof ServerError)) return error;
  const mapped = _BY_CODE[error.code];
  if (mapped === undefined) throw new Error(`togRPCError: unmapped server error ${error.code}`);
  return mapped;
}

function _rethrow(error: unknown): never {
  throw togRPCError(error);
}

// deno-lint-ignore no-explicit-any
type _AnyUnary = UnaryHandler<any, any>;
// deno-lint-ignore no-explicit-any
type _AnyServerStream = ServerStreamHandler<any, any>;
// deno-lint-ignore no-explicit-any
type _AnyBidi = BidiHandler<any, any>;

/** Options of {@link withgRPCErrors}. */
export interface GrpcErrorOptions {
  /**
   * Whether unary handlers are wrapped too (default true). False when the caller maps their
   * errors itself (`instrumentServices`' `mapUnaryError`): they are then returned unwrapped.
   */
  readonly unary?: boolean;
}

/** Wraps every handler of `services` so that what it throws goes through `togRPCError`. */
export function withgRPCErrors(
  services: EtcdServices,
  options: GrpcErrorOptions = {},
): EtcdServices {
  const wrapUnary = options.unary ?? true;
  const out: Record<string, Record<string, unknown>> = {};
  for (const method of allMethods()) {
    const key = SERVICE_KEYS[method.service];
    const handler = (services[key] as Record<string, unknown> | undefined)?.[method.handlerKey];
    if (handler === undefined) continue;
    out[key] ??= {};
    out[key][method.handlerKey] = method.kind === "unary" && !wrapUnary
      ? handler
      : _wrap(method.kind, handler);
  }
  return out as EtcdServices;
}

function _wrap(kind: "unary" | "serverStream" | "bidi", handler: unknown): unknown {
  switch (kind) {
    case "unary": {
      const unary = handler as _AnyUnary;
      const wrapped: _AnyUnary = (request, context) => {
        try {
          return unary(request, context).catch(_rethrow);
        } catch (error) {
          return Promise.reject(togRPCError(error));
        }
      };
      return wrapped;
    }
    case "serverStream": {
      const stream = handler as _AnyServerStream;
      const wrapped: _AnyServerStream = (request, sink, context) => {
        try {
          return stream(request, sink, context).catch(_rethrow);
        } catch (error) {
          return Promise.reject(togRPCError(error));
        }
      };
      return wrapped;
    }
    case "bidi": {
      const bidi = handler as _AnyBidi;
      const wrapped: _AnyBidi = (input, sink, context) => {
        try {
          return bidi(input, sink, context).catch(_rethrow);
        } catch (error) {
          return Promise.reject(togRPCError(error));
        }
      };
      return wrapped;
    }
  }
}
