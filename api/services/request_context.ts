/**
 * The server's `RequestContext` for one call: the call's abort signal and the caller's
 * credentials — its auth token (`token` metadata, else `authorization`) and the common name of
 * its verified client certificate. The server resolves them to a user (etcd's
 * AuthInfoFromCtx): the api never decides who a caller is.
 *
 * @module
 */

import type { CallContext } from "../../rpc/mod.ts";
import type { RequestContext } from "../../server/mod.ts";

/** The request context the server API takes, for a call. */
export function requestContext(call: CallContext): RequestContext {
  return new _CallRequestContext(call);
}

/**
 * Reads through to the call, when asked: a call's signal is an AbortController made on first
 * use, and a put that gets a leader at once never needs it.
 */
class _CallRequestContext implements RequestContext {
  readonly user: undefined = undefined;
  readonly #call: CallContext;

  constructor(call: CallContext) {
    this.#call = call;
  }

  get signal(): AbortSignal {
    return this.#call.signal;
  }

  get token(): string | undefined {
    return this.#call.token;
  }

  get commonName(): string | undefined {
    return this.#call.commonName;
  }
}
