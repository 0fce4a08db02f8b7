/**
 * The server's `RequestContext` for one call: the call's abort signal and the caller's
 * identity.
 *
 * This is where authentication will resolve the caller: the auth token (`context.token`) or
 * the client certificate's common name (`context.commonName`) becomes the user name the
 * server checks permissions against. Auth is not served yet, so the user is undefined.
 *
 * @module
 */

import type { CallContext } from "../../rpc/mod.ts";
import type { RequestContext } from "../../server/mod.ts";

/** The request context the server API takes, for a call. */
export function requestContext(call: CallContext): RequestContext {
  return { signal: call.signal, user: undefined };
}
