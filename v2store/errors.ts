/**
 * The v2 errors (etcd 3.4 `etcdserver/api/v2error`): a numeric code, its fixed message, a
 * cause and the store index at the time of the failure. The HTTP layer writes them as
 * `{"errorCode":N,"message":"...","cause":"...","index":N}` with the status of the code.
 *
 * @module
 */

/** Codes of the key space (1xx), the form (2xx), raft (3xx) and etcd (4xx). */
export const EcodeKeyNotFound = 100;
export const EcodeTestFailed = 101;
export const EcodeNotFile = 102;
export const EcodeNotDir = 104;
export const EcodeNodeExist = 105;
export const EcodeRootROnly = 107;
export const EcodeDirNotEmpty = 108;
export const EcodeUnauthorized = 110;
export const EcodeValueRequired = 200;
export const EcodePrevValueRequired = 201;
export const EcodeTTLNaN = 202;
export const EcodeIndexNaN = 203;
export const EcodeInvalidField = 209;
export const EcodeInvalidForm = 210;
export const EcodeRefreshValue = 211;
export const EcodeRefreshTTLRequired = 212;
export const EcodeRaftInternal = 300;
export const EcodeLeaderElect = 301;
export const EcodeWatcherCleared = 400;
export const EcodeEventIndexCleared = 401;

/** etcd's message for each code (the words are part of the wire format). */
const _MESSAGES: ReadonlyMap<number, string> = new Map([
  [100, "Key not found"],
  [101, "Compare failed"],
  [102, "Not a file"],
  [103, "Reached the max number of peers in the cluster"],
  [104, "Not a directory"],
  [105, "Key already exists"],
  [106, "The prefix of given key is a keyword in etcd"],
  [107, "Root is read only"],
  [108, "Directory not empty"],
  [109, "Peer address has existed"],
  [110, "The request requires user authentication"],
  [200, "Value is Required in POST form"],
  [201, "PrevValue is Required in POST form"],
  [202, "The given TTL in POST form is not a number"],
  [203, "The given index in POST form is not a number"],
  [204, "Value or TTL is required in POST form"],
  [205, "The given timeout in POST form is not a number"],
  [206, "Name is required in POST form"],
  [207, "Index or value is required"],
  [208, "Index and value cannot both be specified"],
  [209, "Invalid field"],
  [210, "Invalid POST form"],
  [211, "Value provided on refresh"],
  [212, "A TTL must be provided on refresh"],
  [300, "Raft Internal Error"],
  [301, "During Leader Election"],
  [400, "watcher is cleared due to etcd recovery"],
  [401, "The event in requested index is outdated and cleared"],
  [402, "Standby Internal Error"],
  [403, "Invalid active size"],
  [404, "Standby remove delay"],
  [500, "Client Internal Error"],
]);

/** HTTP statuses of the codes that are not 400 Bad Request. */
const _STATUSES: ReadonlyMap<number, number> = new Map([
  [EcodeKeyNotFound, 404],
  [EcodeNotFile, 403],
  [EcodeDirNotEmpty, 403],
  [EcodeUnauthorized, 401],
  [EcodeTestFailed, 412],
  [EcodeNodeExist, 412],
  [EcodeRaftInternal, 500],
  [EcodeLeaderElect, 500],
]);

/** One v2 error. `index` is the store index when it happened (0 for request errors). */
export class V2Error extends Error {
  readonly errorCode: number;
  readonly cause_: string;
  index: number;

  /** Builds the error of `errorCode` with etcd's message for it. */
  constructor(errorCode: number, cause: string, index: number) {
    const message = _MESSAGES.get(errorCode) ?? "";
    super(`${message} (${cause})`);
    this.name = "V2Error";
    this.errorCode = errorCode;
    this.cause_ = cause;
    this.index = index;
  }

  /** etcd's fixed message of the code (without the cause). */
  get codeMessage(): string {
    return _MESSAGES.get(this.errorCode) ?? "";
  }

  /** The HTTP status etcd answers with. */
  get statusCode(): number {
    return _STATUSES.get(this.errorCode) ?? 400;
  }

  /** The JSON body (without the trailing newline etcd adds), in Go's field order. */
  toJson(): string {
    const cause = this.cause_ === "" ? "" : `,"cause":${goJsonString(this.cause_)}`;
    return `{"errorCode":${this.errorCode},"message":${goJsonString(this.codeMessage)}` +
      `${cause},"index":${this.index}}`;
  }
}

/** A request-level error (index 0), as etcd's NewRequestError. */
export function requestError(errorCode: number, cause: string): V2Error {
  return new V2Error(errorCode, cause, 0);
}

/**
 * A string as Go's encoding/json writes it: HTML-safe (`<`, `>`, `&` escaped), U+2028 and
 * U+2029 escaped, other control characters as `\u00xx` except `\n`, `\r`, `\t`.
 */
export function goJsonString(value: string): string {
  // Escapes are matched whole (a backslash and its letter), so that an escaped backslash
  // followed by a `b` is left alone.
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]|\\./g, (c) => {
    if (c === "\\b") return "\\u0008";
    if (c === "\\f") return "\\u000c";
    if (c.length === 2) return c;
    return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
  });
}
