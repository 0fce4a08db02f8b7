/**
 * The token scheme of `--auth-token`, built before the member starts (etcd's NewServer calls
 * `auth.NewTokenProvider`): a malformed option list, an unknown scheme or sign method, or an
 * unreadable or mismatched key refuses to start with etcd's words
 * (`auth: invalid auth options`, `auth: missing key data`, ...).
 *
 * @module
 */

import { newTokenProvider, type TokenProvider } from "../auth/mod.ts";
import type { ServerConfig } from "./config.ts";
import type { Logger } from "./log.ts";

/** What the simple scheme needs of the member it will serve (bound once it exists). */
export interface TokenIndexes {
  /** Resolves once the member has applied `index`. */
  waitApplied(index: number): Promise<void>;
  /** The member's applied index. */
  appliedIndex(): number;
  /** The member's commit index. */
  committedIndex(): number;
}

/** Builds the provider; rejects (after logging as etcd does) when it cannot. */
export async function newAuthTokenProvider(
  cfg: ServerConfig,
  log: Logger,
  indexes: TokenIndexes,
): Promise<TokenProvider> {
  try {
    return await newTokenProvider(cfg.authToken, {
      simpleTtlMs: cfg.authTokenTtlSeconds * 1000,
      waitApplied: (index) => indexes.waitApplied(index),
      appliedIndex: () => indexes.appliedIndex(),
      committedIndex: () => indexes.committedIndex(),
      warn: (msg) => log.named("auth").warn(msg),
    });
  } catch (error) {
    log.warn(`failed to create token provider,err is ${(error as Error).message}`);
    throw error;
  }
}
