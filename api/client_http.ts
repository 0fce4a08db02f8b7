/**
 * Everything a client listener serves over plain HTTP, in one handler: the JSON gateway under
 * `/v3/`, the console under `/ui/` (unless `--enable-ui=false`), and `/health`, `/version`,
 * `/metrics`; with etcd's CORS headers and detcd's refusal of cross-site writes in front.
 *
 * @module
 */

import type { EtcdServices, HttpHandler } from "../rpc/mod.ts";
import type { ServerApi } from "../server/mod.ts";
import { uiHandler } from "../ui/mod.ts";
import { accessControlled } from "./access.ts";
import { etcdHttpHandler } from "./etcdhttp.ts";
import { gatewayHandler } from "./gateway.ts";

/** Options of {@link clientHttpHandler}. */
export interface ClientHttpOptions {
  /** `--cors`. */
  cors: readonly string[];
  /** `--enable-ui`. */
  enableUi: boolean;
  /** `--enable-grpc-gateway`: false serves no `/v3/` path. */
  enableGateway: boolean;
  /** Gateway calls in flight at once on this listener (`--max-concurrent-streams`). */
  gatewayStreams: number | undefined;
}

/** The HTTP handler of a client listener. */
export function clientHttpHandler(
  server: ServerApi,
  services: EtcdServices,
  options: ClientHttpOptions,
): HttpHandler {
  let plain: HttpHandler = etcdHttpHandler(server);
  if (options.enableUi) {
    plain = uiHandler({
      storage: () => server.storage({ signal: new AbortController().signal, user: undefined }),
      clientUrls: async (signal) => {
        const members = await server.memberList({ signal, user: undefined });
        return members.flatMap((member) => member.clientUrls);
      },
    }, plain);
  }
  const served = options.enableGateway
    ? gatewayHandler(services, plain, { maxConcurrentStreams: options.gatewayStreams })
    : plain;
  return accessControlled(served, { cors: options.cors });
}
