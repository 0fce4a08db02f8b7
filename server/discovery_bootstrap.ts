/**
 * The initial cluster of a member bootstrapped by discovery: `--discovery` (the v2 discovery
 * protocol, {@link joinCluster}) or `--discovery-srv` (DNS SRV records,
 * {@link dnsClusterNames}). etcd does this in `embed.Config.PeerURLsMapAndToken` (SRV) and
 * `etcdserver.NewServer` (URL); here it runs once before the member bootstraps, and its
 * result is the `--initial-cluster` the rest of the server sees.
 *
 * A member that has a WAL already is past bootstrap: discovery is skipped (with etcd's
 * warning for `--discovery`).
 *
 * @module
 */

import type { ServerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { computeMemberId, goUrlString } from "../ids/mod.ts";
import { parseInitialCluster, verifyBootstrap } from "./config_flags.ts";
import {
  DiscoveryError,
  DiscoveryProtocolError,
  joinCluster,
  type JoinOptions,
} from "./discovery.ts";
import { dnsClusterNames, dnsResolver, nameServerFromEnv, type Resolver } from "./discovery_srv.ts";
import { Wal } from "../wal/mod.ts";

/** The exit status of a failed discovery, as etcd exits (1), or 2 for what detcd refuses. */
export const DISCOVERY_FAILED_EXIT = 1;

/** What {@link discoverInitialCluster} may be given instead of the real world (tests). */
export interface DiscoveryHooks {
  resolver?: Resolver;
  sleep?: JoinOptions["sleep"];
  maxRetries?: number;
}

/**
 * `cfg` with the initial cluster found by discovery (and, for `--discovery`, the discovery
 * URL as the cluster token, as etcd uses it for member IDs). Unchanged when the member
 * bootstraps statically or has a WAL. Throws a {@link DiscoveryError} for a failed
 * `--discovery`, an `Error` with etcd's words otherwise.
 */
export async function discoverInitialCluster(
  cfg: ServerConfig,
  log: Logger,
  hooks: DiscoveryHooks = {},
): Promise<ServerConfig> {
  if (cfg.discovery === "" && cfg.discoverySrv === "") return cfg;
  if (Wal.exists(cfg.walDir)) {
    if (cfg.discovery !== "" && log.format === "zap") {
      log.named("etcdserver").warn(
        "discovery token is ignored since cluster already initialized; valid logs are found",
        { "wal-dir": cfg.walDir },
      );
    } else if (cfg.discovery !== "") {
      log.named("etcdserver").warn(
        `discovery token ignored since a cluster has already been initialized. Valid log found at "${cfg.walDir}"`,
      );
    }
    return cfg;
  }
  if (cfg.discovery !== "") return await _discoverByUrl(cfg, log, hooks);
  return await _discoverBySrv(cfg, log, hooks);
}

async function _discoverByUrl(
  cfg: ServerConfig,
  log: Logger,
  hooks: DiscoveryHooks,
): Promise<ServerConfig> {
  if (cfg.initialClusterState === "existing") {
    throw new Error("discovery URL should not be set when joining existing initial cluster");
  }
  // etcd bootstraps with a temporary cluster of this member alone, the token being the
  // discovery URL: the member's ID comes from its own peer URLs and that URL.
  const peerUrls = cfg.initialAdvertisePeerUrls.map(goUrlString);
  const memberId = computeMemberId(peerUrls, cfg.discovery);
  const config = peerUrls.map((url) => `${cfg.name}=${url}`).sort().join(",");
  const options: JoinOptions = {
    url: cfg.discovery,
    proxy: cfg.discoveryProxy,
    memberId,
    config,
    log: log.named("discovery"),
  };
  if (hooks.sleep !== undefined) options.sleep = hooks.sleep;
  if (hooks.maxRetries !== undefined) options.maxRetries = hooks.maxRetries;
  let text: string;
  try {
    text = await joinCluster(options);
  } catch (error) {
    throw new DiscoveryError("join", error as Error);
  }
  const initialCluster = parseInitialCluster(text);
  const urls = [...initialCluster.values()].flat().map(goUrlString);
  if (new Set(urls).size !== urls.length) {
    throw new Error(`discovery cluster ${_urlsMapText(initialCluster)} has duplicate url`);
  }
  return { ...cfg, initialCluster, initialClusterToken: cfg.discovery };
}

async function _discoverBySrv(
  cfg: ServerConfig,
  log: Logger,
  hooks: DiscoveryHooks,
): Promise<ServerConfig> {
  const resolver = hooks.resolver ??
    dnsResolver(nameServerFromEnv(Deno.env.get("DETCD_DNS_RESOLVER")));
  const embed = log.named("embed");
  const { entries, errors } = await dnsClusterNames(resolver, {
    name: cfg.name,
    domain: cfg.discoverySrv,
    serviceName: cfg.discoverySrvName,
  }, cfg.initialAdvertisePeerUrls);
  const zap = log.format === "zap";
  if (entries.length === 0) {
    const reason = errors.map((error) => error.message).join("; ");
    if (zap) embed.warn("failed to resolve during SRV discovery", { error: reason });
    else embed.error(`couldn't resolve during SRV discovery (${reason})`);
    throw new Error(`error setting up initial cluster: ${reason}`);
  }
  for (const entry of entries) {
    if (zap) embed.info("got bootstrap from DNS for etcd-server", { node: entry });
    else embed.info(`got bootstrap from DNS for etcd-server at ${entry}`);
  }
  const initialCluster = parseInitialCluster(entries.join(","));
  if (!initialCluster.has(cfg.name)) {
    throw new Error(
      `error setting up initial cluster: cannot find local etcd member "${cfg.name}" in SRV records`,
    );
  }
  const found: ServerConfig = { ...cfg, initialCluster };
  // etcd compares the advertised peer URLs with the cluster's entry after resolving both
  // (netutil.URLStringsEqual): a record naming this member by host name matches an
  // advertised IP. Only when they differ does the text comparison give the error.
  if (await _resolvedEqual(resolver, initialCluster.get(cfg.name)!, cfg.initialAdvertisePeerUrls)) {
    return found;
  }
  const problem = verifyBootstrap(found);
  if (problem !== undefined) throw new Error(problem);
  return found;
}

async function _resolvedEqual(resolver: Resolver, a: URL[], b: URL[]): Promise<boolean> {
  if (a.length !== b.length) return false;
  const resolve = async (urls: URL[]) => {
    const out: string[] = [];
    for (const url of urls) out.push(`${url.protocol}//${await resolver.resolveTcpAddr(url.host)}`);
    return out.sort();
  };
  try {
    return (await resolve(a)).join(",") === (await resolve(b)).join(",");
  } catch {
    return false;
  }
}

/** Go's URLsMap.String(): sorted `name=url` pairs. */
function _urlsMapText(cluster: Map<string, URL[]>): string {
  const pairs: string[] = [];
  for (const [name, urls] of cluster) {
    for (const url of urls) pairs.push(`${name}=${goUrlString(url)}`);
  }
  return pairs.sort().join(",");
}

/**
 * Whether a failed discovery makes this member a v2 proxy instead (the cluster is full and
 * `--discovery-fallback` is `proxy`); logs etcd's line when it does.
 */
export function fallsBackToProxy(cfg: ServerConfig, log: Logger, error: Error): boolean {
  const full = error instanceof DiscoveryError && error.cause instanceof DiscoveryProtocolError &&
    error.cause.code === "full-cluster";
  if (!full || cfg.discoveryFallback !== "proxy") return false;
  const main = log.named("etcdmain");
  if (log.format === "zap") {
    main.warn("discovery cluster is full, falling back to proxy", {
      "fallback-proxy": "proxy",
      error: error.message,
    });
  } else {
    main.info("discovery cluster full, falling back to proxy");
  }
  return true;
}

/**
 * Logs a failed discovery with etcd's lines (etcdmain/etcd.go startEtcdOrProxyV2), in the
 * words of the configured logger, and returns the exit status.
 */
export function reportDiscoveryFailure(cfg: ServerConfig, log: Logger, error: Error): number {
  const main = log.named("etcdmain");
  const zap = log.format === "zap";
  if (!(error instanceof DiscoveryError)) {
    if (zap) main.error("discovery failed", { error: error.message });
    else main.error(error.message);
    return DISCOVERY_FAILED_EXIT;
  }
  const code = error.cause instanceof DiscoveryProtocolError ? error.cause.code : undefined;
  const lines = zap ? _zapLines(cfg, error, code) : _capnslogLines(cfg, error, code);
  for (const [level, text, fields] of lines) main[level](text, fields);
  return DISCOVERY_FAILED_EXIT;
}

type _Line = ["warn" | "error" | "info", string, Record<string, string>?];

function _zapLines(cfg: ServerConfig, error: DiscoveryError, code: string | undefined): _Line[] {
  switch (code) {
    case "duplicate-id":
      return [
        ["warn", "member has been registered with discovery service", {
          name: cfg.name,
          "discovery-token": cfg.discovery,
          error: error.cause.message,
        }],
        ["warn", "but could not find valid cluster configuration", { "data-dir": cfg.dataDir }],
        ["warn", "check data dir if previous bootstrap succeeded"],
        ["warn", "or use a new discovery token if previous bootstrap failed"],
      ];
    case "duplicate-name":
      return [
        ["warn", "member with duplicated name has already been registered", {
          "discovery-token": cfg.discovery,
          error: error.cause.message,
        }],
        ["warn", "cURL the discovery token URL for details"],
        ["warn", "do not reuse discovery token; generate a new one to bootstrap a cluster"],
      ];
    default:
      return [
        ["warn", "failed to bootstrap; discovery token was already used", {
          "discovery-token": cfg.discovery,
          error: error.message,
        }],
        ["warn", "do not reuse discovery token; generate a new one to bootstrap a cluster"],
      ];
  }
}

function _capnslogLines(
  cfg: ServerConfig,
  error: DiscoveryError,
  code: string | undefined,
): _Line[] {
  const token = cfg.discovery;
  switch (code) {
    case "duplicate-id":
      return [
        [
          "error",
          `member "${cfg.name}" has previously registered with discovery service token (${token}).`,
        ],
        [
          "error",
          `But etcd could not find valid cluster configuration in the given data dir (${cfg.dataDir}).`,
        ],
        ["info", "Please check the given data dir path if the previous bootstrap succeeded"],
        ["info", "or use a new discovery token if the previous bootstrap failed."],
      ];
    case "duplicate-name":
      return [
        [
          "error",
          `member with duplicated name has registered with discovery service token(${token}).`,
        ],
        ["error", "please check (cURL) the discovery token for more information."],
        [
          "error",
          "please do not reuse the discovery token and generate a new one to bootstrap the cluster.",
        ],
      ];
    default:
      return [
        ["error", error.message],
        ["info", `discovery token ${token} was used, but failed to bootstrap the cluster.`],
        ["info", "please generate a new discovery token and try to bootstrap again."],
      ];
  }
}
