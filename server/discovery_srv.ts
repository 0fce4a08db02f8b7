/**
 * DNS SRV discovery of the initial cluster (`--discovery-srv`, `--discovery-srv-name`),
 * etcd's `pkg/srv` GetCluster and `embed.Config.GetDNSClusterNames`.
 *
 * `_etcd-server-ssl[-name]._tcp.<domain>` records give https peers and
 * `_etcd-server[-name]._tcp.<domain>` records http peers. Each record's `target:port` is
 * resolved to an IP; the record whose address is one of this member's advertised peer URLs
 * (also resolved) is this member and takes its `--name`, the others are named `0`, `1`, ...
 * The peer URL keeps the record's host name, so that member IDs agree with etcd's.
 *
 * One difference from etcd 3.4.23, on purpose: 3.4 drops the `_etcd-server._tcp` (http)
 * results by mistake (its check of the lookup's error is inverted, so a cluster of http
 * records fails with the https lookup's error); detcd combines both lists as etcd 3.5 does
 * and fails only when neither yields a member.
 *
 * The client side, `_etcd-client-ssl[-name]._tcp` and `_etcd-client[-name]._tcp` (etcd's
 * `srv.GetClient`), is here too: `grpc-proxy start` and `gateway start` find the cluster with it.
 *
 * The resolver is the system's. For tests only, `DETCD_DNS_RESOLVER=ip:port` names another
 * DNS server for the SRV lookups and the address lookups of their targets.
 *
 * @module
 */

import { lookup } from "node:dns/promises";

/** A name server to ask instead of the system's (tests: `DETCD_DNS_RESOLVER`). */
export interface NameServer {
  ipAddr: string;
  port: number;
}

/** An SRV answer as discovery uses it. */
export interface SrvRecord {
  target: string;
  port: number;
  priority: number;
  weight: number;
}

/** The DNS lookups discovery makes; tests may replace them. */
export interface Resolver {
  /** The SRV records of `_service._tcp.domain` (Go's net.LookupSRV). */
  lookupSrv(service: string, domain: string): Promise<SrvRecord[]>;
  /** `host:port` -> `ip:port` (Go's net.ResolveTCPAddr, first address, IPv4 first). */
  resolveTcpAddr(hostPort: string): Promise<string>;
}

/** Parses `DETCD_DNS_RESOLVER` (`ip:port`, test-only); undefined when unset. */
export function nameServerFromEnv(value: string | undefined): NameServer | undefined {
  if (value === undefined || value === "") return undefined;
  const match = /^\[?([0-9a-fA-F:.]+?)\]?:(\d{1,5})$/.exec(value);
  if (match === null || Number(match[2]) > 65535) {
    throw new Error(`DETCD_DNS_RESOLVER must be ip:port, got "${value}"`);
  }
  return { ipAddr: match[1]!, port: Number(match[2]) };
}

/** The resolver of the system, or of `nameServer` when given. */
export function dnsResolver(nameServer?: NameServer): Resolver {
  const options = nameServer === undefined ? undefined : { nameServer };
  return {
    async lookupSrv(service, domain) {
      const name = `_${service}._tcp.${domain}`;
      let records: Deno.SrvRecord[];
      try {
        records = await Deno.resolveDns(name, "SRV", options);
      } catch (error) {
        const where = nameServer === undefined ? "" : ` on ${nameServer.ipAddr}:${nameServer.port}`;
        throw new Error(`lookup ${name}${where}: ${_dnsReason(error as Error)}`);
      }
      // Go's LookupSRV sorts by priority, and by weight within one priority.
      return records
        .map((r) => ({ target: r.target, port: r.port, priority: r.priority, weight: r.weight }))
        .sort((a, b) => a.priority - b.priority || b.weight - a.weight);
    },
    async resolveTcpAddr(hostPort) {
      const { host, port } = _splitHostPort(hostPort);
      const bare = host.endsWith(".") ? host.slice(0, -1) : host;
      if (_isIp(bare)) return _joinHostPort(bare, port);
      const address = await _resolveHost(bare, options);
      return _joinHostPort(address, port);
    },
  };
}

async function _resolveHost(
  host: string,
  options: { nameServer: NameServer } | undefined,
): Promise<string> {
  if (options !== undefined) {
    try {
      const addresses = await Deno.resolveDns(host, "A", options);
      if (addresses[0] !== undefined) return addresses[0];
    } catch {
      // Fall through to the system's lookup (/etc/hosts included), as Go's resolver would.
    }
  }
  try {
    const found = await lookup(host, { family: 0, verbatim: false });
    return found.address;
  } catch (error) {
    throw new Error(`lookup ${host}: ${_dnsReason(error as Error)}`);
  }
}

function _dnsReason(error: Error): string {
  if (error instanceof Deno.errors.NotFound || /ENOTFOUND|no record/i.test(error.message)) {
    return "no such host";
  }
  return error.message;
}

function _isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ||
    (host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host));
}

function _splitHostPort(hostPort: string): { host: string; port: string } {
  const bracket = /^\[([^\]]+)\]:(\d*)$/.exec(hostPort);
  if (bracket !== null) return { host: bracket[1]!, port: bracket[2]! };
  const colon = hostPort.lastIndexOf(":");
  if (colon < 0) throw new Error(`address ${hostPort}: missing port in address`);
  return { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
}

function _joinHostPort(host: string, port: string | number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * etcd's srv.GetCluster: the members named by the `_service._tcp.domain` records as
 * `name=scheme://host:port` entries; the record that resolves to one of `advertisedPeerUrls`
 * takes `name`. Throws etcd's "error querying DNS SRV records for _service ..." error.
 */
export async function srvCluster(
  resolver: Resolver,
  query: { scheme: "http" | "https"; service: string; name: string; domain: string },
  advertisedPeerUrls: URL[],
): Promise<string[]> {
  const { scheme, service, name, domain } = query;
  const addressToUrl = new Map<string, URL>();
  for (const url of advertisedPeerUrls) {
    addressToUrl.set(await resolver.resolveTcpAddr(url.host), url);
  }
  let records: SrvRecord[];
  try {
    records = await resolver.lookupSrv(service, domain);
  } catch (error) {
    throw new Error(`error querying DNS SRV records for _${service} ${(error as Error).message}`);
  }
  const entries: string[] = [];
  let lastError: Error | undefined;
  let tempName = 0;
  for (const record of records) {
    let address: string;
    try {
      address = await resolver.resolveTcpAddr(_joinHostPort(record.target, record.port));
    } catch (error) {
      lastError = error as Error;
      continue;
    }
    const own = addressToUrl.get(address);
    const memberName = own !== undefined ? name : String(tempName++);
    // SRV targets end with a dot; the URL does not.
    const host = _joinHostPort(record.target.replace(/\.$/, ""), record.port);
    if (own !== undefined && own.protocol !== `${scheme}:`) {
      lastError = new Error(
        `bootstrap at ${scheme}://${host} from DNS for ${service} has scheme mismatch with expected peer ${
          own.href.replace(/\/$/, "")
        }`,
      );
      continue;
    }
    entries.push(`${memberName}=${scheme}://${host}`);
  }
  if (entries.length === 0 && lastError !== undefined) {
    throw new Error(
      `error querying DNS SRV records for _${service} ${lastError.message}`,
    );
  }
  return entries;
}

/**
 * etcd's GetDNSClusterNames (with the http results kept, see the module comment): the
 * initial cluster entries from the https and http records, and the errors of the lookups
 * that failed.
 */
export async function dnsClusterNames(
  resolver: Resolver,
  query: { name: string; domain: string; serviceName: string },
  advertisedPeerUrls: URL[],
): Promise<{ entries: string[]; errors: Error[] }> {
  const suffix = query.serviceName === "" ? "" : `-${query.serviceName}`;
  const entries: string[] = [];
  const errors: Error[] = [];
  for (
    const [scheme, service] of [["https", "etcd-server-ssl"], ["http", "etcd-server"]] as const
  ) {
    try {
      entries.push(
        ...await srvCluster(resolver, {
          scheme,
          service: `${service}${suffix}`,
          name: query.name,
          domain: query.domain,
        }, advertisedPeerUrls),
      );
    } catch (error) {
      errors.push(error as Error);
    }
  }
  return { entries, errors };
}

/** etcd's GetSRVService: `service[-ssl][-serviceName]` for the scheme. */
export function srvService(
  service: string,
  serviceName: string,
  scheme: "http" | "https",
): string {
  const base = scheme === "https" ? `${service}-ssl` : service;
  return serviceName === "" ? base : `${base}-${serviceName}`;
}

/** Client endpoints found in DNS: URLs, and the SRV records they came from, index for index. */
export interface SrvClients {
  /** `https://target:port` then `http://target:port`; the target keeps its root dot. */
  endpoints: string[];
  records: SrvRecord[];
}

/**
 * etcd's srv.GetClient: the https records of `_<service>-ssl[-serviceName]._tcp.domain`, then
 * the http records of `_<service>[-serviceName]._tcp.domain`. Throws etcd's
 * "dns lookup errors: <https error> and <http error>" only when both lookups fail.
 */
export async function srvClients(
  resolver: Resolver,
  query: { service: string; domain: string; serviceName: string },
): Promise<SrvClients> {
  const found: SrvClients = { endpoints: [], records: [] };
  const errors: Error[] = [];
  for (const scheme of ["https", "http"] as const) {
    let records: SrvRecord[];
    try {
      records = await resolver.lookupSrv(
        srvService(query.service, query.serviceName, scheme),
        query.domain,
      );
    } catch (error) {
      errors.push(error as Error);
      continue;
    }
    for (const record of records) {
      found.endpoints.push(`${scheme}://${_joinHostPort(record.target, record.port)}`);
      found.records.push(record);
    }
  }
  if (errors.length === 2) {
    throw new Error(`dns lookup errors: ${errors[0]!.message} and ${errors[1]!.message}`);
  }
  return found;
}
