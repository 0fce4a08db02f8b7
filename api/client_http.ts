/**
 * Everything a client listener serves over plain HTTP, in one handler: the JSON gateway under
 * `/v3/`, the console under `/ui/` (unless `--enable-ui=false`), and `/health`, `/version`,
 * `/metrics`; with etcd's access controller (Host whitelist, CORS) and detcd's refusal of
 * cross-site writes in front.
 *
 * The gateway's code loads at the first request under `/v3/` or `/v3beta/`, and the v2 API's
 * (`--enable-v2`) when the handler is made: a member that serves neither does not hold them.
 *
 * @module
 */

import type { EtcdServices, HttpHandler } from "../rpc/mod.ts";
import type { ServerApi } from "../server/mod.ts";
import { uiHandler } from "../ui/mod.ts";
import { crossSiteGuarded } from "./access.ts";
import { accessController } from "./access_control.ts";
import type { GatewayOptions } from "./gateway.ts";
import { togRPCError } from "./services/mod.ts";
import type { V2ClusterSource } from "./v2_cluster.ts";
import type { V2Server } from "../server/mod.ts";

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
export async function clientHttpHandler(
  server: ServerApi,
  services: EtcdServices,
  options: ClientHttpOptions,
): Promise<HttpHandler> {
  let plain: HttpHandler = options.endpoints;
  if (options.v2Cluster !== undefined) {
    const { v2ClusterHandler } = await import("./v2_cluster.ts");
    plain = v2ClusterHandler(server, options.v2Cluster, plain);
  }
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
          const { gatewayErrorResponse } = await import("./gateway.ts");
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
    const { v2ApiHandler } = await import("./v2_keys.ts");
    plain = v2ApiHandler(options.v2.server, plain, { timeoutMs: options.v2.timeoutMs });
  }
  const served = options.enableGateway
    ? _lazyGateway(services, plain, { maxConcurrentStreams: options.gatewayStreams })
    : plain;
  return accessController(crossSiteGuarded(served, { cors: options.cors }), {
    cors: options.cors,
    hostWhitelist: options.hostWhitelist,
    secure: options.secure,
    onRejectedHost: options.onRejectedHost,
  });
}

/**
 * `gatewayHandler`, loaded at the first request for a gateway path. Every path it serves starts
 * with `/v3/` or `/v3beta/` (it answers 404 for the unknown ones there); it hands any other to
 * `fallback`, and so does this without loading it. Its options are checked now, as it would.
 */
function _lazyGateway(
  services: EtcdServices,
  fallback: HttpHandler,
  options: GatewayOptions,
): HttpHandler {
  const limit = options.maxConcurrentStreams;
  if (limit !== undefined && !(limit >= 1)) {
    throw new RangeError(`max concurrent streams must be >= 1, not ${limit}`);
  }
  let loading: Promise<HttpHandler> | undefined;
  let gateway: HttpHandler | undefined;
  return (request) => {
    if (gateway !== undefined) return gateway(request);
    const path = new URL(request.url).pathname;
    if (!path.startsWith("/v3/") && !path.startsWith("/v3beta/")) return fallback(request);
    loading ??= import("./gateway.ts").then((loaded) =>
      gateway = loaded.gatewayHandler(services, fallback, options)
    );
    return loading.then((handler) => handler(request));
  };
}
