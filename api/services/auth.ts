/**
 * The Auth service (etcd's `etcdserver/api/v3rpc/auth.go`): every method straight to the
 * server's request API, which proposes it through raft with the caller in the entry header;
 * the applier decides (admin-only changes, a user reading itself, a role holder reading its
 * role). Errors are etcd's (`etcdserver: root user does not exist`, ...).
 *
 * @module
 */

import type { AuthService } from "../../rpc/mod.ts";
import type { ServerApi } from "../../server/mod.ts";
import { requestContext } from "./request_context.ts";

/** Builds the Auth handlers over `server`. */
export function authService(server: ServerApi): AuthService {
  return {
    authEnable: (_r, ctx) => server.authEnable(requestContext(ctx)),
    authDisable: (_r, ctx) => server.authDisable(requestContext(ctx)),
    authenticate: (r, ctx) => server.authenticate(r, requestContext(ctx)),
    userAdd: (r, ctx) => server.userAdd(r, requestContext(ctx)),
    userGet: (r, ctx) => server.userGet(r, requestContext(ctx)),
    userList: (_r, ctx) => server.userList(requestContext(ctx)),
    userDelete: (r, ctx) => server.userDelete(r, requestContext(ctx)),
    userChangePassword: (r, ctx) => server.userChangePassword(r, requestContext(ctx)),
    userGrantRole: (r, ctx) => server.userGrantRole(r, requestContext(ctx)),
    userRevokeRole: (r, ctx) => server.userRevokeRole(r, requestContext(ctx)),
    roleAdd: (r, ctx) => server.roleAdd(r, requestContext(ctx)),
    roleGet: (r, ctx) => server.roleGet(r, requestContext(ctx)),
    roleList: (_r, ctx) => server.roleList(requestContext(ctx)),
    roleDelete: (r, ctx) => server.roleDelete(r, requestContext(ctx)),
    roleGrantPermission: (r, ctx) => server.roleGrantPermission(r, requestContext(ctx)),
    roleRevokePermission: (r, ctx) => server.roleRevokePermission(r, requestContext(ctx)),
  };
}
