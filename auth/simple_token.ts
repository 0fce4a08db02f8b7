/**
 * Simple tokens (etcd 3.4's `auth/simple_token.go`): `<16 random letters>.<raft index>`, the
 * index being that of the Authenticate entry. Every member registers the token when it
 * applies the entry, so a client may present it to any member; a member that has not applied
 * that far yet waits until it has.
 *
 * A token lives `--auth-token-ttl` seconds from its last use (checked once a second, as etcd's
 * keeper does). Disabling auth forgets every token; deleting a user or changing its password
 * forgets that user's. Tokens are not signed and not persisted: a restarted member knows none.
 *
 * @module
 */

import type { AssignParams, AuthInfo, TokenProvider } from "./token.ts";

const _LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const _PREFIX_LENGTH = 16;
/** etcd's simpleTokenTTLResolution. */
const _SWEEP_INTERVAL_MS = 1000;
/** etcd's simpleTokenTTLDefault, for a TTL of 0. */
const _DEFAULT_TTL_MS = 300_000;
/** How far past this member's commit index a token's index may be and still be waited for. */
const _INDEX_AHEAD_MAX = 10_000;

/** What the simple provider needs of the member. */
export interface SimpleTokenOptions {
  /** `--auth-token-ttl` in milliseconds. */
  readonly ttlMs: number;
  /** Resolves once the member has applied `index` (etcd's indexWaiter). */
  readonly waitApplied: (index: number) => Promise<void>;
  /** The member's applied index: a token at or below it needs no wait. */
  readonly appliedIndex: () => number;
  /** The member's commit index: a token far past it cannot be one of ours. */
  readonly committedIndex: () => number;
  /** The clock (tests pass a fake one). */
  readonly now?: () => number;
}

interface _Entry {
  readonly username: string;
  expiresAtMs: number;
}

/** The `simple` token provider. */
export class SimpleTokenProvider implements TokenProvider {
  readonly #options: SimpleTokenOptions;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #tokens = new Map<string, _Entry>();
  #enabled = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** A provider; it issues tokens only while enabled. */
  constructor(options: SimpleTokenOptions) {
    this.#options = options;
    this.#ttlMs = options.ttlMs > 0 ? options.ttlMs : _DEFAULT_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** How many tokens are live (tests, metrics). */
  get size(): number {
    return this.#tokens.size;
  }

  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    this.#timer = setInterval(() => this.sweep(), _SWEEP_INTERVAL_MS);
    Deno.unrefTimer(this.#timer);
  }

  disable(): void {
    this.#enabled = false;
    this.#tokens.clear();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  invalidateUser(username: string): void {
    for (const [token, entry] of this.#tokens) {
      if (entry.username === username) this.#tokens.delete(token);
    }
  }

  genTokenPrefix(): string {
    const random = crypto.getRandomValues(new Uint8Array(_PREFIX_LENGTH * 2));
    let prefix = "";
    // Rejection sampling keeps the 52 letters equally likely (256 is not a multiple of 52).
    for (const byte of random) {
      if (byte >= 208) continue;
      prefix += _LETTERS[byte % _LETTERS.length];
      if (prefix.length === _PREFIX_LENGTH) return prefix;
    }
    return prefix + this.genTokenPrefix().slice(prefix.length);
  }

  assign(username: string, _revision: number, params: AssignParams): string {
    const token = `${params.simpleTokenPrefix}.${params.index}`;
    // etcd registers nothing while auth is off (Authenticate refuses before this anyway).
    if (this.#enabled) {
      this.#tokens.set(token, { username, expiresAtMs: this.#now() + this.#ttlMs });
    }
    return token;
  }

  async info(token: string, revision: number, signal: AbortSignal): Promise<AuthInfo | undefined> {
    const index = _tokenIndex(token);
    if (index === undefined) return undefined;
    if (index > this.#options.committedIndex() + _INDEX_AHEAD_MAX) return undefined;
    // Nearly every call comes after its Authenticate was applied here: no waiter, no listener.
    if (index > this.#options.appliedIndex()) {
      if (!(await _waitOrAbort(this.#options.waitApplied(index), signal))) return undefined;
    } else if (signal.aborted) {
      return undefined;
    }
    const entry = this.#tokens.get(token);
    if (entry === undefined) return undefined;
    entry.expiresAtMs = this.#now() + this.#ttlMs;
    return { username: entry.username, revision };
  }

  /** Forgets the tokens unused for a TTL (the keeper's tick; public for tests). */
  sweep(): void {
    const now = this.#now();
    for (const [token, entry] of this.#tokens) {
      if (now > entry.expiresAtMs) this.#tokens.delete(token);
    }
  }
}

/** The index of `prefix.index`, or undefined for anything else (etcd's isValidSimpleToken). */
function _tokenIndex(token: string): number | undefined {
  const parts = token.split(".");
  if (parts.length !== 2) return undefined;
  // Go's strconv.Atoi: an optional sign and decimal digits only.
  if (!/^[+-]?[0-9]+$/.test(parts[1]!)) return undefined;
  const index = Number(parts[1]);
  if (!Number.isSafeInteger(index)) return undefined;
  return index;
}

/** Whether `done` settles before `signal` aborts. */
function _waitOrAbort(done: Promise<void>, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => resolve(false);
    signal.addEventListener("abort", onAbort, { once: true });
    done.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    });
  });
}
