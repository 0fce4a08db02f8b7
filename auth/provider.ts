/**
 * `--auth-token` to a token provider (etcd 3.4's `NewTokenProvider`): `simple`, `jwt,...`, or
 * the empty string (no tokens at all: Authenticate always fails). Anything else, or a malformed
 * option list, is ErrInvalidAuthOpts, and the member does not start.
 *
 * @module
 */

import { ErrAuthFailed, ErrInvalidAuthOpts } from "./errors.ts";
import type { JwtOptions, JwtTokenProvider } from "./jwt.ts";
import { SimpleTokenProvider } from "./simple_token.ts";
import { type AuthInfo, parseTokenOptions, type TokenProvider } from "./token.ts";

/** What building a provider needs of the member. */
export interface NewTokenProviderOptions {
  /** `--auth-token-ttl` in milliseconds (simple tokens). */
  readonly simpleTtlMs: number;
  /** Resolves once the member has applied `index`. */
  readonly waitApplied: (index: number) => Promise<void>;
  /** The member's applied index. */
  readonly appliedIndex: () => number;
  /** The member's commit index. */
  readonly committedIndex: () => number;
  /** etcd's warnings: "simple token is not cryptographically signed", unknown JWT options. */
  readonly warn?: (msg: string) => void;
}

/** etcd's nop provider, for `--auth-token ""`: no token is ever issued or accepted. */
export class NopTokenProvider implements TokenProvider {
  enable(): void {}
  disable(): void {}
  invalidateUser(_username: string): void {}
  close(): void {}
  genTokenPrefix(): string {
    return "";
  }
  assign(): string {
    throw ErrAuthFailed;
  }
  info(): Promise<AuthInfo | undefined> {
    return Promise.resolve(undefined);
  }
}

/**
 * `newJwtProvider` of `jwt.ts`, loaded when called: a member without `--auth-token jwt` does not
 * hold the JWT provider's code (nor jose, which it loads in turn).
 */
export async function newJwtProvider(options: JwtOptions): Promise<JwtTokenProvider> {
  const jwt = await import("./jwt.ts");
  return await jwt.newJwtProvider(options);
}

/** Builds the provider `--auth-token` names; rejects as etcd refuses to start. */
export async function newTokenProvider(
  text: string,
  options: NewTokenProviderOptions,
): Promise<TokenProvider> {
  const parsed = parseTokenOptions(text);
  switch (parsed.type) {
    case "simple":
      options.warn?.("simple token is not cryptographically signed");
      return new SimpleTokenProvider({
        ttlMs: options.simpleTtlMs,
        waitApplied: options.waitApplied,
        appliedIndex: options.appliedIndex,
        committedIndex: options.committedIndex,
      });
    case "jwt":
      return await newJwtProvider({
        options: parsed.options,
        onUnknownOptions: (keys) => options.warn?.(`unknown JWT options: [${keys.join(" ")}]`),
      });
    case "":
      return new NopTokenProvider();
    default:
      throw ErrInvalidAuthOpts;
  }
}
