/**
 * DNS SRV discovery of the cluster's client endpoints for `grpc-proxy start` and
 * `gateway start` (`--discovery-srv`, `--discovery-srv-name`, `--insecure-discovery`): etcd
 * 3.4's `etcdmain/util.go` discoverEndpoints over `pkg/srv` GetClient.
 *
 * What etcd 3.4 does, and so this module:
 * - `_etcd-client-ssl[-name]._tcp.<domain>` records give `https://target:port` endpoints,
 *   `_etcd-client[-name]._tcp.<domain>` records `http://` ones. Both lookups failing is fatal
 *   ("dns lookup errors: ... and ...", exit status 1).
 * - With `--insecure-discovery` every endpoint is kept. Otherwise the endpoints are
 *   "validated": an `http://` one is dropped (`"..." is insecure`), an `https://` one is kept if
 *   a TCP connection to it opens within 5 s (etcd's ValidateSecureEndpoints dials with the
 *   transport's plain dialer: no TLS handshake takes place, so the certificate is not checked
 *   there). The CA file (the gateway's `--trusted-ca-file`, the grpc-proxy's `--cacert`) is
 *   only loaded: an unreadable or unparsable one makes the validation fail as a whole, which
 *   drops every endpoint.
 * - Validation errors are a warning, not a refusal; when no endpoint is left the caller falls
 *   back to `--endpoints`.
 *
 * SRV targets are absolute names with a root dot (`host.example.`), kept in the endpoints and
 * log lines as etcd prints them. Go's resolver dials such a name directly; the C library's,
 * which Deno and grpc-js use, does not find `localhost.` in /etc/hosts, so {@link dialable}
 * drops the dot before a name is dialled.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { lookup } from "node:dns/promises";
import { loadDiscovery, type Logger, type Resolver, type SrvRecord } from "../server/mod.ts";

/** etcd's ValidateSecureEndpoints dial timeout. */
const VALIDATE_DIAL_TIMEOUT_MS = 5000;

/** What discovery found: endpoint URLs and, index for index, their SRV records. */
export interface DiscoveredEndpoints {
  endpoints: string[];
  records: SrvRecord[];
}

/** Options of {@link discoverEndpoints}. */
export interface DiscoverOptions {
  /** `--discovery-srv`: the domain; empty means no discovery. */
  domain: string;
  /** `--discovery-srv-name`: the service-name suffix. */
  serviceName: string;
  /** `--insecure-discovery`: keep http endpoints and skip the dial check. */
  insecure: boolean;
  /** The CA file the validation loads (gateway `--trusted-ca-file`, grpc-proxy `--cacert`). */
  caFile: string;
  log: Logger;
  /** The DNS lookups; the system's (or `DETCD_DNS_RESOLVER`'s, in tests) by default. */
  resolver?: Resolver;
  /** Opens and closes a TCP connection (tests replace it); Deno.connect by default. */
  dial?: (hostname: string, port: number) => Promise<void>;
}

/**
 * Thrown when both SRV lookups fail (or `DETCD_DNS_RESOLVER` is malformed); etcd prints the
 * message and exits with status 1.
 */
export class DiscoveryLookupError extends Error {
  /** Process exit status, as etcd's os.Exit(1). */
  readonly exitCode = 1;
}

/**
 * etcd's discoverEndpoints: the client endpoints of `options.domain`, validated unless
 * `insecure`. Empty when `domain` is empty or nothing survived the validation.
 */
export async function discoverEndpoints(options: DiscoverOptions): Promise<DiscoveredEndpoints> {
  if (options.domain === "") return { endpoints: [], records: [] };
  let found: DiscoveredEndpoints;
  const { dnsResolver, nameServerFromEnv, srvClients } = await loadDiscovery();
  try {
    const resolver = options.resolver ??
      dnsResolver(nameServerFromEnv(Deno.env.get("DETCD_DNS_RESOLVER")));
    found = await srvClients(resolver, {
      service: "etcd-client",
      domain: options.domain,
      serviceName: options.serviceName,
    });
  } catch (error) {
    throw new DiscoveryLookupError((error as Error).message);
  }
  const log = options.log;
  log.info("discovered cluster from SRV", {
    "srv-server": options.domain,
    endpoints: found.endpoints,
  });
  if (options.insecure) return found;
  log.info("validating discovered SRV endpoints", {
    "srv-server": options.domain,
    endpoints: found.endpoints,
  });
  const { valid, error } = await _validateSecureEndpoints(
    found.endpoints,
    options.caFile,
    options.dial ?? _dialTcp,
  );
  if (error !== undefined) {
    log.warn("failed to validate discovered endpoints", {
      "srv-server": options.domain,
      endpoints: valid,
      error,
    });
  } else {
    log.info("using validated discovered SRV endpoints", {
      "srv-server": options.domain,
      endpoints: valid,
    });
  }
  // Keep the records of the endpoints that passed, in the order discovery found them.
  const kept = new Set(valid);
  const result: DiscoveredEndpoints = { endpoints: [], records: [] };
  found.endpoints.forEach((endpoint, index) => {
    if (!kept.has(endpoint)) return;
    result.endpoints.push(endpoint);
    result.records.push(found.records[index]!);
  });
  return result;
}

/**
 * etcd's ValidateSecureEndpoints: https endpoints that accept a TCP connection; the joined
 * reasons of the others. A CA file that cannot be loaded fails everything (etcd's NewTransport).
 */
async function _validateSecureEndpoints(
  endpoints: string[],
  caFile: string,
  dial: (hostname: string, port: number) => Promise<void>,
): Promise<{ valid: string[]; error?: string }> {
  if (caFile !== "") {
    const problem = _loadCaProblem(caFile);
    if (problem !== undefined) return { valid: [], error: problem };
  }
  const valid: string[] = [];
  const reasons: string[] = [];
  for (const endpoint of endpoints) {
    if (!endpoint.startsWith("https://")) {
      reasons.push(`${JSON.stringify(endpoint)} is insecure`);
      continue;
    }
    const { hostname, port } = _splitHostPort(dialable(endpoint.slice("https://".length)));
    try {
      await dial(hostname, port);
    } catch (error) {
      reasons.push(`${JSON.stringify(endpoint)} failed to dial (${(error as Error).message})`);
      continue;
    }
    valid.push(endpoint);
  }
  return reasons.length === 0 ? { valid } : { valid, error: reasons.join(",") };
}

/** Why etcd's tlsutil.NewCertPool would refuse `caFile`, or undefined if it loads. */
function _loadCaProblem(caFile: string): string | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(caFile);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `open ${caFile}: no such file or directory`;
    }
    return `open ${caFile}: ${(error as Error).message}`;
  }
  // Go decodes PEM blocks until none is left and parses each as a certificate; a file with no
  // block at all loads as an empty pool.
  const blocks = text.match(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g) ?? [];
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return `x509: ${(error as Error).message}`;
    }
  }
  return undefined;
}

/**
 * Opens a TCP connection to check the endpoint listens, then closes it. Fails with Go's
 * wording, which names the address dialled: `dial tcp 127.0.0.1:2379: connect: connection
 * refused`.
 */
async function _dialTcp(hostname: string, port: number): Promise<void> {
  let address = hostname;
  try {
    address = (await lookup(hostname, { family: 0, verbatim: false })).address;
  } catch {
    throw new Error(`dial tcp: lookup ${hostname}: no such host`);
  }
  const shown = address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
  try {
    const signal = AbortSignal.timeout(VALIDATE_DIAL_TIMEOUT_MS);
    const conn = await Deno.connect({ hostname: address, port, signal });
    conn.close();
  } catch (error) {
    const reason = error instanceof Deno.errors.ConnectionRefused
      ? "connect: connection refused"
      : error instanceof DOMException && error.name === "TimeoutError"
      ? "i/o timeout"
      : (error as Error).message;
    throw new Error(`dial tcp ${shown}: ${reason}`);
  }
}

function _splitHostPort(address: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(address);
  if (match === null) throw new Error(`address ${address}: missing port in address`);
  return { hostname: match[1] ?? match[2] ?? "", port: Number(match[3]) };
}

/**
 * An endpoint (`scheme://host:port` or `host:port`) with the root dot of its host name
 * dropped, so that the C library's resolver finds it (see the module comment).
 */
export function dialable(endpoint: string): string {
  return endpoint.replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?[^\/\[\]:]+)\.(:\d+)$/i, "$1$2");
}
