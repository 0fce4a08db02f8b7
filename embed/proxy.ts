/**
 * Starts etcd 3.4's v2 proxy (etcdmain/etcd.go startProxy) in place of a member: with
 * `--proxy on|readonly`, when the data dir holds a `proxy` directory already, or when
 * `--discovery` found the cluster full and `--discovery-fallback` is `proxy`.
 *
 * The proxy keeps `<data-dir>/proxy/cluster` (`{"PeerURLs":[...]}`): on its first start the
 * peer URLs come from `--initial-cluster` or the discovery service; after that from the file,
 * which every refresh rewrites with the peer URLs the cluster reports (`GET <peer>/members`).
 * The client URLs of those members are the endpoints the HTTP handler ({@link V2Proxy}) sends
 * requests to. It serves HTTP/1.1 on every `--listen-client-urls` address (https with the
 * client TLS files or `--auto-tls`); gRPC is not proxied, as in etcd.
 *
 * @module
 */

import { type HttpServer, startHttpServer, startV2Proxy, type V2Proxy } from "../api/mod.ts";
import {
  fetchRemoteCluster,
  goUrlString,
  loadDiscovery,
  type Logger,
  parseInitialCluster,
  peerClientFor,
  selfSignedCert,
  type ServerConfig,
} from "../server/mod.ts";

/** A running proxy. */
export interface Proxy {
  /** `host:port` actually listened on, one per client URL. */
  readonly clientAddrs: string[];
  readonly proxy: V2Proxy;
  stop(): Promise<void>;
}

/** etcd's timeout for asking a peer for the member list (GetClusterFromRemotePeers). */
const _MEMBERS_TIMEOUT_MS = 10_000;

/** The proxy's directory under the data dir. */
export function proxyDir(cfg: Pick<ServerConfig, "dataDir">): string {
  return `${cfg.dataDir}/proxy`;
}

/** Starts the proxy; throws (a discovery or listen error) when it cannot. */
export async function startProxy(cfg: ServerConfig, log: Logger): Promise<Proxy> {
  const main = log.named("etcdmain");
  const zap = log.format === "zap";
  if (zap) main.info("v2 API proxy starting");
  else main.info("proxy: this proxy supports v2 API only!");
  // etcd's old behaviour: without client TLS files, the peer ones are used toward members.
  const clientTls = cfg.clientTls.certFile === "" && cfg.clientTls.keyFile === "" &&
      cfg.clientTls.trustedCaFile === ""
    ? cfg.peerTls
    : cfg.clientTls;
  const dir = proxyDir(cfg);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const clusterFile = `${dir}/cluster`;
  let peerUrls: string[];
  let saved: string | undefined;
  try {
    saved = Deno.readTextFileSync(clusterFile);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (saved !== undefined) {
    if (cfg.discovery !== "") {
      if (zap) {
        main.warn(
          "discovery token ignored since the proxy has already been initialized; valid cluster file found",
          { "cluster-file": clusterFile },
        );
      } else {
        main.warn(
          `discovery token ignored since the proxy has already been initialized. Valid cluster file found at "${clusterFile}"`,
        );
      }
    }
    peerUrls = (JSON.parse(saved) as { PeerURLs?: string[] | null }).PeerURLs ?? [];
    if (zap) {
      main.info("proxy using peer URLS from cluster file", {
        "peer-urls": peerUrls,
        "cluster-file": clusterFile,
      });
    } else {
      main.info(`proxy: using peer urls ${_goList(peerUrls)} from cluster file "${clusterFile}"`);
    }
  } else {
    let cluster = cfg.initialCluster;
    if (cfg.discovery !== "") {
      const { discoveryCluster } = await loadDiscovery();
      const text = await discoveryCluster({ url: cfg.discovery, proxy: cfg.discoveryProxy, log });
      cluster = parseInitialCluster(text);
    }
    peerUrls = [...cluster.values()].flat().map(goUrlString).sort();
    if (zap) main.info("proxy using peer URLS", { "peer-urls": peerUrls });
    else main.info(`proxy: using peer urls ${_goList(peerUrls)} `);
  }

  const peers = peerClientFor(cfg);
  const refresh = async (): Promise<string[]> => {
    const remote = await fetchRemoteCluster(peerUrls, _MEMBERS_TIMEOUT_MS, peers);
    if (remote === undefined) {
      const error = "could not retrieve cluster information from the given URLs";
      if (zap) {
        main.warn("failed to get cluster from remote peers", { "peer-urls": peerUrls, error });
      } else main.warn(`proxy: ${error}`);
      return [];
    }
    const clientUrls = remote.members.flatMap((m) => m.clientUrls).sort();
    const latest = remote.members.flatMap((m) => m.peerUrls).sort();
    try {
      Deno.writeTextFileSync(`${clusterFile}.bak`, JSON.stringify({ PeerURLs: latest }), {
        mode: 0o600,
      });
      Deno.renameSync(`${clusterFile}.bak`, clusterFile);
    } catch (error) {
      if (zap) main.warn("proxy failed to write cluster file", { error: String(error) });
      else main.warn(`proxy: error on writing urls ${(error as Error).message}`);
      return clientUrls;
    }
    if (latest.join(",") !== peerUrls.join(",")) {
      if (zap) main.info("proxy updated peer URLs", { from: peerUrls, to: latest });
      else {
        main.info(
          `proxy: updated peer urls in cluster file from ${_goList(peerUrls)} to ${
            _goList(latest)
          }`,
        );
      }
    }
    peerUrls = latest;
    return clientUrls;
  };
  const upstreamTls = {
    caPem: clientTls.trustedCaFile === ""
      ? undefined
      : Deno.readTextFileSync(clientTls.trustedCaFile),
    certPem: clientTls.certFile === "" ? undefined : Deno.readTextFileSync(clientTls.certFile),
    keyPem: clientTls.keyFile === "" ? undefined : Deno.readTextFileSync(clientTls.keyFile),
  };
  const proxy = await startV2Proxy({
    refresh,
    failureWaitMs: cfg.proxyFailureWaitMs,
    refreshIntervalMs: cfg.proxyRefreshIntervalMs,
    dialTimeoutMs: cfg.proxyDialTimeoutMs,
    writeTimeoutMs: cfg.proxyWriteTimeoutMs,
    readTimeoutMs: cfg.proxyReadTimeoutMs,
    readonly: cfg.proxy === "readonly",
    cors: cfg.cors,
    tls: upstreamTls,
    log,
  });

  // The listeners' TLS: the client files, or `--auto-tls` certificates under proxy/clientCerts.
  let certFile = cfg.clientTls.certFile;
  let keyFile = cfg.clientTls.keyFile;
  const anyHttps = [...cfg.listenClientUrls, ...cfg.advertiseClientUrls].some((url) =>
    url.protocol === "https:"
  );
  if (cfg.clientTls.autoTls && anyHttps) {
    const hosts = [...cfg.listenClientUrls, ...cfg.advertiseClientUrls].map((url) => url.host);
    const files = await selfSignedCert(`${dir}/clientCerts`, hosts);
    certFile = files.certFile;
    keyFile = files.keyFile;
  }
  const servers: HttpServer[] = [];
  const clientAddrs: string[] = [];
  try {
    for (const url of cfg.listenClientUrls) {
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new Error(`the v2 proxy listens on http and https URLs only (${goUrlString(url)})`);
      }
      const secure = url.protocol === "https:";
      if (secure && (certFile === "" || keyFile === "")) {
        throw new Error(
          "TLS key/cert (--cert-file, --key-file) must be provided for client URLs with https",
        );
      }
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
      const clientCertAuth = cfg.clientTls.clientCertAuth || cfg.clientTls.trustedCaFile !== "";
      const server = await startHttpServer({
        host,
        port,
        http: proxy.handler,
        tls: secure
          ? {
            certPem: Deno.readTextFileSync(certFile),
            keyPem: Deno.readTextFileSync(keyFile),
            caPem: cfg.clientTls.trustedCaFile === ""
              ? undefined
              : Deno.readTextFileSync(cfg.clientTls.trustedCaFile),
            clientCertAuth,
          }
          : undefined,
      });
      servers.push(server);
      clientAddrs.push(`${host}:${server.port}`);
      const text = goUrlString(url);
      if (zap) {
        main.info("v2 proxy started listening on client requests", { host: text });
      } else {
        main.info(`v2 proxy started listening on client requests on "${text}"`);
      }
    }
  } catch (error) {
    proxy.close();
    for (const server of servers) await server.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    clientAddrs,
    proxy,
    stop() {
      stopping ??= (async () => {
        proxy.close();
        for (const server of servers) await server.close();
      })();
      return stopping;
    },
  };
}

/** Go's %v of a []string: `[a b]`. */
function _goList(items: readonly string[]): string {
  return `[${items.join(" ")}]`;
}
