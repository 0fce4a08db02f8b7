/**
 * What a token provider does for the auth store (etcd 3.4's `TokenProvider` in
 * `auth/store.go`), and the parser of `--auth-token` (`decomposeOpts` and `NewTokenProvider`).
 *
 * @module
 */

import { ErrInvalidAuthOpts } from "./errors.ts";

/** Who a request comes from: the user and the auth revision its check is made against. */
export interface AuthInfo {
  readonly username: string;
  /** The auth revision the token carries (JWT) or the current one (simple, certificates). */
  readonly revision: number;
}

/** What an Authenticate entry gives the provider when it is applied. */
export interface AssignParams {
  /** The raft index of the Authenticate entry (the suffix of a simple token). */
  readonly index: number;
  /** The random prefix the proposing member chose (simple tokens). */
  readonly simpleTokenPrefix: string;
}

/** A token scheme: `simple`, `jwt`, or none. */
export interface TokenProvider {
  /** Auth was enabled (or found enabled at start). */
  enable(): void;
  /** Auth was disabled: every token issued so far stops working. */
  disable(): void;
  /** The user was deleted or its password changed: its tokens stop working. */
  invalidateUser(username: string): void;
  /** A random prefix for the next simple token ("" for other schemes). */
  genTokenPrefix(): string;
  /**
   * Issues a token at apply time. A simple token is registered before this returns, on every
   * member alike; a signed one may take a moment, so the result may be a promise.
   */
  assign(username: string, revision: number, params: AssignParams): string | Promise<string>;
  /**
   * Who a token stands for; undefined when it is unknown, expired, forged or malformed.
   * `revision` is the store's current auth revision (what a simple token reports).
   */
  info(token: string, revision: number, signal: AbortSignal): Promise<AuthInfo | undefined>;
  /** Stops timers. */
  close(): void;
}

/** `--auth-token`, split as etcd's decomposeOpts does: the type, then `key=value` options. */
export interface TokenOptions {
  readonly type: string;
  readonly options: ReadonlyMap<string, string>;
}

/** Splits `--auth-token`; a malformed or repeated option is ErrInvalidAuthOpts. */
export function parseTokenOptions(text: string): TokenOptions {
  const parts = text.split(",");
  const options = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const pair = part.split("=");
    if (pair.length !== 2) throw ErrInvalidAuthOpts;
    const [key, value] = pair as [string, string];
    if (options.has(key)) throw ErrInvalidAuthOpts;
    options.set(key, value);
  }
  return { type: parts[0] ?? "", options };
}
