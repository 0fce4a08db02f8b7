/**
 * The auth store's errors (etcd 3.4's `auth/store.go`): one class, `AuthError`, told apart by
 * its `code`. The server maps each code to its own error and `api/` to the gRPC status and
 * etcd's client-visible words; the `message` here is the store's own text (`auth: ...`), which
 * is what a client sees for the codes etcd does not map (they reach it as UNKNOWN).
 *
 * @module
 */

/** Every auth error, named as etcd names the error value (without the `Err`). */
export const AuthErrorCode = {
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
  InvalidAuthOpts: "InvalidAuthOpts",
  InvalidAuthMgmt: "InvalidAuthMgmt",
  InvalidAuthMethod: "InvalidAuthMethod",
  MissingKey: "MissingKey",
  KeyMismatch: "KeyMismatch",
  VerifyOnly: "VerifyOnly",
} as const;

/** One of the auth error codes. */
export type AuthErrorCode = typeof AuthErrorCode[keyof typeof AuthErrorCode];

/** An error of the auth store; `code` says which one. */
export class AuthError extends Error {
  /** Which error this is. */
  readonly code: AuthErrorCode;

  /** Makes an error; only this module does, once per code. */
  constructor(code: AuthErrorCode, message: string) {
    super(message);
    this.name = "AuthError";
    this.code = code;
  }
}

function _define(code: AuthErrorCode, message: string): AuthError {
  return new AuthError(code, message);
}

/** `ErrRootUserNotExist`. */
export const ErrRootUserNotExist: AuthError = _define(
  "RootUserNotExist",
  "auth: root user does not exist",
);
/** `ErrRootRoleNotExist`. */
export const ErrRootRoleNotExist: AuthError = _define(
  "RootRoleNotExist",
  "auth: root user does not have root role",
);
/** `ErrUserAlreadyExist`. */
export const ErrUserAlreadyExist: AuthError = _define(
  "UserAlreadyExist",
  "auth: user already exists",
);
/** `ErrUserEmpty`: no user name where one is needed (also an anonymous caller). */
export const ErrUserEmpty: AuthError = _define("UserEmpty", "auth: user name is empty");
/** `ErrUserNotFound`. */
export const ErrUserNotFound: AuthError = _define("UserNotFound", "auth: user not found");
/** `ErrRoleAlreadyExist`. */
export const ErrRoleAlreadyExist: AuthError = _define(
  "RoleAlreadyExist",
  "auth: role already exists",
);
/** `ErrRoleNotFound`. */
export const ErrRoleNotFound: AuthError = _define("RoleNotFound", "auth: role not found");
/** `ErrRoleEmpty`. */
export const ErrRoleEmpty: AuthError = _define("RoleEmpty", "auth: role name is empty");
/** `ErrAuthFailed`: unknown user or wrong password. */
export const ErrAuthFailed: AuthError = _define(
  "AuthFailed",
  "auth: authentication failed, invalid user ID or password",
);
/** `ErrNoPasswordUser`: a password was given for a user added with `--no-password`. */
export const ErrNoPasswordUser: AuthError = _define(
  "NoPasswordUser",
  "auth: authentication failed, password was given for no password user",
);
/** `ErrPermissionDenied`. */
export const ErrPermissionDenied: AuthError = _define(
  "PermissionDenied",
  "auth: permission denied",
);
/** `ErrRoleNotGranted`. */
export const ErrRoleNotGranted: AuthError = _define(
  "RoleNotGranted",
  "auth: role is not granted to the user",
);
/** `ErrPermissionNotGranted`. */
export const ErrPermissionNotGranted: AuthError = _define(
  "PermissionNotGranted",
  "auth: permission is not granted to the role",
);
/** `ErrAuthNotEnabled`. */
export const ErrAuthNotEnabled: AuthError = _define(
  "AuthNotEnabled",
  "auth: authentication is not enabled",
);
/** `ErrAuthOldRevision`: the request was authorised against an older auth revision. */
export const ErrAuthOldRevision: AuthError = _define(
  "AuthOldRevision",
  "auth: revision in header is old",
);
/** `ErrInvalidAuthToken`. */
export const ErrInvalidAuthToken: AuthError = _define(
  "InvalidAuthToken",
  "auth: invalid auth token",
);
/** `ErrInvalidAuthOpts`: a malformed `--auth-token`. */
export const ErrInvalidAuthOpts: AuthError = _define(
  "InvalidAuthOpts",
  "auth: invalid auth options",
);
/** `ErrInvalidAuthMgmt`: deleting root, or revoking root's root role, while auth is on. */
export const ErrInvalidAuthMgmt: AuthError = _define(
  "InvalidAuthMgmt",
  "auth: invalid auth management",
);
/** `ErrInvalidAuthMethod`: an unknown JWT `sign-method`. */
export const ErrInvalidAuthMethod: AuthError = _define(
  "InvalidAuthMethod",
  "auth: invalid auth signature method",
);
/** `ErrMissingKey`: a JWT provider without key files. */
export const ErrMissingKey: AuthError = _define("MissingKey", "auth: missing key data");
/** `ErrKeyMismatch`: JWT public and private keys that are not a pair. */
export const ErrKeyMismatch: AuthError = _define(
  "KeyMismatch",
  "auth: public and private keys don't match",
);
/** `ErrVerifyOnly`: a JWT provider given only a public key cannot issue tokens. */
export const ErrVerifyOnly: AuthError = _define(
  "VerifyOnly",
  "auth: token signing attempted with verify-only key",
);
