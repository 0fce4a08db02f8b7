/**
 * The parts of server/ that a member loads only when a flag asks for them, by string-literal
 * dynamic imports (so that `deno compile` still embeds them). `server/mod.ts` exports their
 * types statically and these loaders for their values: an idle member that uses none of them
 * does not hold their source and code.
 *
 * - Discovery (`--discovery`, `--discovery-srv`, and the v2 proxy's `--discovery`): about
 *   40 KB of source, and Deno's `node:dns/promises` beneath the SRV lookups.
 * - v2 auth (`/v2/auth` and the access checks of `/v2/keys`, with `--enable-v2`): 17 KB.
 *
 * @module
 */

import type {
  discoverInitialCluster,
  fallsBackToProxy,
  reportDiscoveryFailure,
} from "./discovery_bootstrap.ts";
import type { dnsResolver, nameServerFromEnv, srvClients } from "./discovery_srv.ts";
import type { discoveryCluster } from "./discovery.ts";

/** Everything `v2_auth.ts` exports, as `loadV2Auth` returns it. */
export type V2AuthModule = typeof import("./v2_auth.ts");

/** Loads v2 auth: `V2Auth`, `V2AuthError` and the user and role helpers of the v2 HTTP API. */
export function loadV2Auth(): Promise<V2AuthModule> {
  return import("./v2_auth.ts");
}

/** Discovery by a discovery URL and by DNS SRV records, as `loadDiscovery` returns it. */
export interface Discovery {
  discoverInitialCluster: typeof discoverInitialCluster;
  fallsBackToProxy: typeof fallsBackToProxy;
  reportDiscoveryFailure: typeof reportDiscoveryFailure;
  discoveryCluster: typeof discoveryCluster;
  dnsResolver: typeof dnsResolver;
  nameServerFromEnv: typeof nameServerFromEnv;
  srvClients: typeof srvClients;
}

/** Loads discovery (once; later calls get the same modules). */
export async function loadDiscovery(): Promise<Discovery> {
  const [bootstrap, srv, discovery] = await Promise.all([
    import("./discovery_bootstrap.ts"),
    import("./discovery_srv.ts"),
    import("./discovery.ts"),
  ]);
  return {
    discoverInitialCluster: bootstrap.discoverInitialCluster,
    fallsBackToProxy: bootstrap.fallsBackToProxy,
    reportDiscoveryFailure: bootstrap.reportDiscoveryFailure,
    discoveryCluster: discovery.discoveryCluster,
    dnsResolver: srv.dnsResolver,
    nameServerFromEnv: srv.nameServerFromEnv,
    srvClients: srv.srvClients,
  };
}
