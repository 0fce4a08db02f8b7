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
  return {
    signal: call.signal,
    user: undefined,
    token: call.token,
    commonName: call.commonName,
  };
}
