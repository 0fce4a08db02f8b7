/**
 * Everything a client listener serves over plain HTTP, in one handler: the JSON gateway under
 * `/v3/`, the console under `/ui/` (unless `--enable-ui=false`), and `/health`, `/version`,
 * `/metrics`; with etcd's access controller (Host whitelist, CORS) and detcd's refusal of
 * cross-site writes in front.
 *
 * @module
 */

import type { EtcdServices, HttpHandler } from "../rpc/mod.ts";
import type { ServerApi } from "../server/mod.ts";
import { uiHandler } from "../ui/mod.ts";
import { crossSiteGuarded } from "./access.ts";
import { accessController } from "./access_control.ts";
import { gatewayErrorResponse, gatewayHandler } from "./gateway.ts";
import { togRPCError } from "./services/mod.ts";
import { v2ClusterHandler, type V2ClusterSource } from "./v2_cluster.ts";
import type { V2Server } from "../server/mod.ts";
import { v2ApiHandler } from "./v2_keys.ts";

/** Options of {@link clientHttpHandler}. */
export interface ClientHttpOptions {
  /** /health, /version, /metrics (and /debug/pprof/ with `--enable-pprof`). */
  endpoints: HttpHandler;
  /** `--cors`. */
  cors: readonly string[];
  /** `--host-whitelist`, checked on plain listeners. */
  hostWhitelist: readonly string[];
  /** Whether the listener is TLS. */
  secure: boolean;
  /** Called when a request is refused for its Host. */
  onRejectedHost: (host: string) => void;
  /** `--enable-ui`. */
  enableUi: boolean;
  /** `--enable-grpc-gateway`: false serves no `/v3/` path. */
  enableGateway: boolean;
  /** Gateway calls in flight at once on this listener (`--max-concurrent-streams`). */
  gatewayStreams: number | undefined;
  /** `--enable-v2`: the v2 cluster endpoints (`/v2/members`, `/v2/machines`, `/v2/stats/`). */
  v2Cluster?: V2ClusterSource;
  /** `--enable-v2`: the v2 API (`/v2/keys`, `/v2/auth/*`) and its request timeout. */
  v2?: { server: V2Server; timeoutMs: number } | undefined;
}

/** The HTTP handler of a client listener. */
export function clientHttpHandler(
  server: ServerApi,
  services: EtcdServices,
  options: ClientHttpOptions,
): HttpHandler {
  let plain: HttpHandler = options.endpoints;
  if (options.v2Cluster !== undefined) plain = v2ClusterHandler(server, options.v2Cluster, plain);
  if (options.enableUi) {
    plain = uiHandler({
      storage: () => server.storage({ signal: new AbortController().signal, user: undefined }),
      storageGeneration: () => server.storageGeneration(),
      defrag: () => {
        const progress = server.defragProgress({
          signal: new AbortController().signal,
          user: undefined,
        });
        return progress === undefined ? { running: false } : { running: true, ...progress };
      },
      // The token as the gateway takes it (Authorization header), checked as for Defragment.
      authorize: async (request) => {
        const token = request.headers.get("grpc-metadata-token") ??
          request.headers.get("authorization") ?? undefined;
        try {
          await server.authorizeStorage({ signal: request.signal, user: undefined, token });
          return undefined;
        } catch (error) {
          return gatewayErrorResponse(togRPCError(error));
        }
      },
      clientUrls: async (signal) => {
        const members = await server.memberList({ signal, user: undefined });
        return members.flatMap((member) => member.clientUrls);
      },
    }, plain);
  }
  if (options.v2 !== undefined) {
    plain = v2ApiHandler(options.v2.server, plain, { timeoutMs: options.v2.timeoutMs });
  }
  const served = options.enableGateway
    ? gatewayHandler(services, plain, { maxConcurrentStreams: options.gatewayStreams })
    : plain;
  return accessController(crossSiteGuarded(served, { cors: options.cors }), {
    cors: options.cors,
    hostWhitelist: options.hostWhitelist,
    secure: options.secure,
    onRejectedHost: options.onRejectedHost,
  });
}
