/**
 * JWT tokens (etcd 3.4's `auth/jwt.go` and `auth/options.go`), signed and checked with
 * `jose`. `--auth-token jwt,pub-key=FILE,priv-key=FILE,sign-method=ALG,ttl=DURATION`:
 *
 * - `sign-method`: RS256/384/512, PS256/384/512, ES256/384/512 (a key pair in PEM files, in
 *   any of the forms Go's jwt library reads: PKCS#1, SEC 1, PKCS#8, SPKI or a certificate) or
 *   HS256/384/512 (the secret is the content of `priv-key`).
 * - With a private key the member signs and checks with it (the public key only has to match
 *   it); with a public key alone it only checks tokens (ErrVerifyOnly on Authenticate).
 * - `ttl` is a Go duration (`5m` by default).
 *
 * A token's claims are etcd's: `username`, `revision` (the auth revision when it was issued)
 * and `exp` (seconds since the epoch). A token is accepted when its header names the
 * configured algorithm, its signature verifies, and `exp`, when present, is in the future.
 * Nothing a token needs is kept per member: any member with the key accepts any member's
 * tokens, and a token stays valid across restarts until it expires or the auth revision moves
 * past it.
 *
 * Checking a signature is the cost of a JWT request (about 0.5 ms for RS256 here, on the
 * event loop). So a token whose signature verified is remembered, string to claims, in a
 * bounded cache: a later request with the same string skips the signature but not the clock
 * (`exp` is checked against the current time on every use, as jose checks it). Only tokens that
 * verified are cached, keyed by the whole string, signature included, so a forged or altered
 * token never matches an entry. Nothing else about a token changes while it is valid: claims are
 * signed, the key is fixed for the life of the provider.
 *
 * `jose` is loaded by `newJwtProvider`, not with this module: a member without
 * `--auth-token jwt` never holds it (docs/memory.md, 2026-12-07 round 4).
 *
 * @module
 */

import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import type * as Jose from "jose";
import { ErrInvalidAuthOpts, ErrKeyMismatch, ErrMissingKey, ErrVerifyOnly } from "./errors.ts";
import type { AuthInfo, TokenProvider } from "./token.ts";

/** etcd's DefaultTTL for JWT tokens. */
const _DEFAULT_TTL_MS = 5 * 60 * 1000;
const _KNOWN_OPTIONS = new Set(["sign-method", "pub-key", "priv-key", "ttl"]);
const _ALGORITHMS = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
]);

/** Verified tokens remembered at most; the oldest entry leaves when a new one comes. */
export const JWT_CACHE_ENTRIES_MAX = 4096;

/** Claims of a token whose signature verified, and when it stops being valid. */
interface _Verified {
  readonly info: AuthInfo;
  /** `exp` in seconds since the epoch; Infinity when the token has none. */
  readonly expSeconds: number;
}

/** A key as jose takes it (its CryptoKey type is node's, not the DOM's). */
type _Key = Awaited<ReturnType<typeof Jose.importJWK>>;

/** jose, once loaded. */
let _joseModule: Promise<typeof Jose> | undefined;

/** Loads jose at the first call (a string-literal import, so that `deno compile` has it). */
function _jose(): Promise<typeof Jose> {
  _joseModule ??= import("jose");
  return _joseModule;
}

/** What the JWT provider is built from. */
export interface JwtOptions {
  /** The `key=value` options of `--auth-token jwt,...`. */
  readonly options: ReadonlyMap<string, string>;
  /** Called with the names of options etcd does not know (it warns and goes on). */
  readonly onUnknownOptions?: (keys: string[]) => void;
  /** The clock (tests pass a fake one). */
  readonly now?: () => number;
}

const _DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's `time.ParseDuration`, in milliseconds; undefined when it does not parse. */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest[0] === "-" ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let total = 0;
  const part = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (match === null || match[1] === "" || match[1] === ".") return undefined;
    total += Number(match[1]) * _DURATION_UNITS_MS[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return sign * total;
}

/** The `jwt` token provider. Build it with `newJwtProvider`. */
export class JwtTokenProvider implements TokenProvider {
  readonly #algorithm: string;
  readonly #signKey: _Key | undefined;
  readonly #verifyKey: _Key;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** token -> verified claims; a Map iterates in insertion order, so the first is the oldest. */
  readonly #verified = new Map<string, _Verified>();

  /** Use `newJwtProvider`, which reads and checks the keys. */
  constructor(
    options: { algorithm: string; signKey: _Key | undefined; verifyKey: _Key; ttlMs: number },
    now: () => number = Date.now,
  ) {
    this.#algorithm = options.algorithm;
    this.#signKey = options.signKey;
    this.#verifyKey = options.verifyKey;
    this.#ttlMs = options.ttlMs;
    this.#now = now;
  }

  /** The signing algorithm (`sign-method`). */
  get algorithm(): string {
    return this.#algorithm;
  }

  /** Whether only a public key was given. */
  get verifyOnly(): boolean {
    return this.#signKey === undefined;
  }

  enable(): void {}
  disable(): void {}
  invalidateUser(_username: string): void {}
  close(): void {}

  genTokenPrefix(): string {
    return "";
  }

  async assign(username: string, revision: number): Promise<string> {
    const signKey = this.#signKey;
    if (signKey === undefined) throw ErrVerifyOnly;
    const exp = Math.floor((this.#now() + this.#ttlMs) / 1000);
    const { SignJWT } = await _jose();
    return await new SignJWT({ exp, revision, username })
      .setProtectedHeader({ alg: this.#algorithm, typ: "JWT" })
      .sign(signKey);
  }

  async info(token: string, _revision: number): Promise<AuthInfo | undefined> {
    const nowSeconds = Math.floor(this.#now() / 1000);
    const cached = this.#verified.get(token);
    if (cached !== undefined) {
      // jose refuses a token when exp <= now (no clock tolerance): the same rule here.
      if (cached.expSeconds > nowSeconds) return cached.info;
      this.#verified.delete(token);
      return undefined;
    }
    const verified = await this.#verify(token);
    if (verified === undefined) return undefined;
    if (this.#verified.size >= JWT_CACHE_ENTRIES_MAX) {
      const oldest = this.#verified.keys().next().value;
      if (oldest !== undefined) this.#verified.delete(oldest);
    }
    this.#verified.set(token, verified);
    return verified.info;
  }

  /** Tokens whose verified claims are remembered (tests). */
  get cachedTokens(): number {
    return this.#verified.size;
  }

  /** Checks the signature, algorithm and times of `token`; its claims when it is valid. */
  async #verify(token: string): Promise<_Verified | undefined> {
    const { jwtVerify } = await _jose();
    try {
      const { payload } = await jwtVerify(token, this.#verifyKey, {
        algorithms: [this.#algorithm],
        currentDate: new Date(this.#now()),
      });
      const { username, revision } = payload as { username?: unknown; revision?: unknown };
      if (typeof username !== "string" || typeof revision !== "number") return undefined;
      if (!Number.isSafeInteger(revision) || revision < 0) return undefined;
      // jwtVerify has checked that exp, when present, is a number in the future.
      const expSeconds = typeof payload.exp === "number" ? payload.exp : Infinity;
      return { info: { username, revision }, expSeconds };
    } catch {
      return undefined;
    }
  }
}

/**
 * Builds the JWT provider from `--auth-token`'s options, as etcd's newTokenProviderJWT: an
 * unknown sign method, an unreadable key file or a bad ttl is ErrInvalidAuthOpts; no key is
 * ErrMissingKey; keys that are not a pair are ErrKeyMismatch; a key that does not parse fails
 * with the parser's words.
 */
export async function newJwtProvider(options: JwtOptions): Promise<JwtTokenProvider> {
  const opts = options.options;
  const ttlText = opts.get("ttl") ?? "";
  const ttlMs = ttlText === "" ? _DEFAULT_TTL_MS : parseGoDuration(ttlText);
  if (ttlMs === undefined) throw ErrInvalidAuthOpts;
  const readFile = (name: string): Uint8Array | undefined => {
    const path = opts.get(name) ?? "";
    if (path === "") return undefined;
    try {
      return Deno.readFileSync(path);
    } catch {
      throw ErrInvalidAuthOpts;
    }
  };
  const publicPem = readFile("pub-key");
  const privatePem = readFile("priv-key");
  const algorithm = opts.get("sign-method") ?? "";
  if (!_ALGORITHMS.has(algorithm)) {
    // etcd's option parser turns every failure, an unknown method (ErrInvalidAuthMethod)
    // too, into ErrInvalidAuthOpts.
    throw ErrInvalidAuthOpts;
  }
  const unknown = [...opts.keys()].filter((key) => !_KNOWN_OPTIONS.has(key));
  if (unknown.length > 0) options.onUnknownOptions?.(unknown);
  const keys = algorithm.startsWith("HS")
    ? _hmacKeys(privatePem)
    : await _asymmetricKeys(algorithm, publicPem, privatePem);
  // Loaded here at the latest, so that the provider's first token does not wait for it.
  await _jose();
  return new JwtTokenProvider({ algorithm, ...keys, ttlMs }, options.now);
}

function _hmacKeys(secret: Uint8Array | undefined): { signKey: _Key; verifyKey: _Key } {
  if (secret === undefined || secret.length === 0) throw ErrMissingKey;
  return { signKey: secret, verifyKey: secret };
}

async function _asymmetricKeys(
  algorithm: string,
  publicPem: Uint8Array | undefined,
  privatePem: Uint8Array | undefined,
): Promise<{ signKey: _Key | undefined; verifyKey: _Key }> {
  const family = algorithm.startsWith("ES") ? "ec" : "rsa";
  const text = new TextDecoder();
  const privateKey = privatePem === undefined
    ? undefined
    : _checkType(createPrivateKey(text.decode(privatePem)), family);
  const publicKey = publicPem === undefined
    ? undefined
    : _checkType(createPublicKey(text.decode(publicPem)), family);
  if (privateKey === undefined) {
    if (publicKey === undefined) throw ErrMissingKey;
    const jwk = publicKey.export({ format: "jwk" }) as Jose.JWK;
    return { signKey: undefined, verifyKey: await _import(jwk, algorithm) };
  }
  const privateJwk = privateKey.export({ format: "jwk" }) as Jose.JWK;
  const derivedPublic = createPublicKey(privateKey).export({ format: "jwk" }) as Jose.JWK;
  if (publicKey !== undefined) {
    const given = publicKey.export({ format: "jwk" }) as Jose.JWK;
    // etcd 3.4 refuses a pair only when every part differs (its check joins them with &&).
    const mismatch = family === "rsa"
      ? given.e !== derivedPublic.e && given.n !== derivedPublic.n
      : given.crv !== derivedPublic.crv && given.x !== derivedPublic.x &&
        given.y !== derivedPublic.y;
    if (mismatch) throw ErrKeyMismatch;
  }
  return {
    signKey: await _import(privateJwk, algorithm),
    verifyKey: await _import(derivedPublic, algorithm),
  };
}

function _checkType(key: KeyObject, family: "rsa" | "ec"): KeyObject {
  const type = key.asymmetricKeyType;
  const ok = family === "ec" ? type === "ec" : type === "rsa" || type === "rsa-pss";
  if (!ok) {
    throw new Error(
      family === "ec" ? "Key is not a valid ECDSA key" : "Key is not a valid RSA key",
    );
  }
  return key;
}

async function _import(jwk: Jose.JWK, algorithm: string): Promise<_Key> {
  const { importJWK } = await _jose();
  const key = await importJWK(jwk, algorithm);
  if (key instanceof Uint8Array) throw new Error(`jwt: ${algorithm} needs an asymmetric key`);
  return key;
}
