/**
 * `detcd grpc-proxy start` (etcd 3.4's etcdmain/grpc_proxy.go): a stateless gRPC proxy in
 * front of a cluster. It serves etcd's eight v3 services on `--listen-addr` and, on the same
 * port (cmux in etcd), plain HTTP: `/metrics` (the cluster's, fetched from one endpoint, as
 * etcd 3.4's proxy serves it), `/proxy/metrics` (the proxy's own `etcd_grpc_proxy_*` and gRPC
 * server metrics; the path etcd 3.5 gave them), `/health` and, with `--enable-pprof`,
 * `/debug/pprof/`. etcd 3.4's proxy serves no JSON gateway (`/v3/...`). detcd's own
 * `--enable-ui` (default true) adds the web console under `/ui/`, whose gateway calls
 * (`/v3/...`), `/ui/api/*` and `/version` are forwarded to the members' client URLs with
 * failover (api/ui_proxy.ts); with `--namespace` the console is refused (501), since forwarded
 * gateway calls would not be confined to the namespace.
 *
 * `--discovery-srv` finds the cluster's client endpoints in DNS (proxy/discovery.ts). The one
 * flag not implemented, `--experimental-leasing-prefix`, is refused at start with exit status 2.
 *
 * @module
 */

import { register as defaultRegistry } from "../metrics/mod.ts";
import {
  type ConsoleProxy,
  type GrpcServer,
  type GrpcTlsOptions,
  instrumentServices,
  pprofHandler,
  startConsoleProxy,
  startGrpcServer,
  startHttpServer,
} from "../api/mod.ts";
import {
  cipherSuiteNames,
  createLogger,
  type Logger,
  rejectedConnectionFields,
  selfSignedCert,
  tlsPolicy,
} from "../server/mod.ts";
import { ErrPermissionDenied, type HttpHandler, METHODS } from "../rpc/mod.ts";
import { RangeCache } from "./cache.ts";
import { clusterProxy, register } from "./cluster.ts";
import { dialable, discoverEndpoints, DiscoveryLookupError } from "./discovery.ts";
import { type FlagSpec, type FlagValues, parseFlags, parseStartCommand } from "./flags.ts";
import { forwardService } from "./forward.ts";
import { splitHostPort, untilSignal } from "./gateway.ts";
import { kvProxy } from "./kv.ts";
import { leaseProxy } from "./lease.ts";
import { Namespace } from "./namespace.ts";
import { orderedKv } from "./ordering.ts";
import { checkEmptyCommonName, Upstream, type UpstreamTls } from "./upstream.ts";
import { watchProxy } from "./watch.ts";

const _s = (value: string, usage: string): FlagSpec => ({ kind: "string", default: value, usage });
const _b = (usage: string): FlagSpec => ({ kind: "bool", default: "false", usage });

/** The flags of `grpc-proxy start`, with etcd 3.4's defaults. */
export const GRPC_PROXY_FLAGS: Readonly<Record<string, FlagSpec>> = {
  "listen-addr": _s("127.0.0.1:23790", "listen address"),
  "discovery-srv": _s("", "domain name to query for SRV records describing cluster endpoints"),
  "discovery-srv-name": _s("", "service name to query when using DNS discovery"),
  "metrics-addr": _s("", "listen for endpoint /metrics requests on an additional interface"),
  "insecure-discovery": _b("accept insecure SRV records"),
  endpoints: {
    kind: "list",
    default: "127.0.0.1:2379",
    usage: "comma separated etcd cluster endpoints",
  },
  "advertise-client-url": _s(
    "127.0.0.1:23790",
    "advertise address to register (must be reachable by client)",
  ),
  "resolver-prefix": _s(
    "",
    "prefix to use for registering proxy (must be shared with other grpc-proxy members)",
  ),
  "resolver-ttl": {
    kind: "int",
    default: "0",
    usage: "specify TTL, in seconds, when registering proxy endpoints",
  },
  namespace: _s("", "string to prefix to all keys for namespacing requests"),
  "enable-pprof": _b(
    'Enable runtime profiling data via HTTP server. Address is at client URL + "/debug/pprof/"',
  ),
  "data-dir": _s("default.proxy", "Data directory for persistent data"),
  "max-send-bytes": {
    kind: "int",
    default: String(1.5 * 1024 * 1024),
    usage: "message send limits in bytes (default value is 1.5 MiB)",
  },
  "max-recv-bytes": {
    kind: "int",
    default: String(2 ** 31 - 1),
    usage: "message receive limits in bytes (default value is math.MaxInt32)",
  },
  cert: _s("", "identify secure connections with etcd servers using this TLS certificate file"),
  key: _s("", "identify secure connections with etcd servers using this TLS key file"),
  cacert: _s("", "verify certificates of TLS-enabled secure etcd servers using this CA bundle"),
  "insecure-skip-tls-verify": _b(
    "skip authentication of etcd server TLS certificates (CAUTION: this option should be " +
      "enabled only for testing purposes)",
  ),
  "cert-file": _s("", "identify secure connections to the proxy using this TLS certificate file"),
  "key-file": _s("", "identify secure connections to the proxy using this TLS key file"),
  "trusted-ca-file": _s("", "verify certificates of TLS-enabled secure proxy using this CA bundle"),
  "listen-cipher-suites": {
    kind: "list",
    default: "",
    usage: "Comma-separated list of supported TLS cipher suites between client/proxy " +
      "(empty will be auto-populated by Go).",
  },
  "auto-tls": _b("proxy TLS using generated certificates"),
  "client-crl-file": _s("", "proxy client certificate revocation list file."),
  "experimental-serializable-ordering": _b(
    "Ensure serializable reads have monotonically increasing store revisions across endpoints.",
  ),
  "experimental-leasing-prefix": _s(
    "",
    "leasing metadata prefix for disconnected linearized reads.",
  ),
  debug: _b("Enable debug-level logging for grpc-proxy."),
  "max-concurrent-streams": {
    kind: "uint",
    default: "4294967295",
    usage: "Maximum concurrent streams that each client can open at a time.",
  },
  "enable-ui": {
    kind: "bool",
    default: "true",
    usage: "detcd: serve the web console under /ui/ (its calls are forwarded to the cluster).",
  },
};

/** Highest stream count the HTTP/2 layer takes (SETTINGS_MAX_CONCURRENT_STREAMS is 31 bits). */
const STREAMS_MAX = 2 ** 31 - 1;
/** How long a stop waits for connections and registrations to close. */
const CLOSE_TIMEOUT_MS = 3000;
/** How long /health waits for its read (etcd's one second). */
const HEALTH_TIMEOUT_MS = 1000;

/** A refusal at start: message and exit status. */
class _StartError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** etcd's checkArgs, and the refusals of what is not implemented. */
function _checkArgs(values: FlagValues): void {
  const prefix = values.text("resolver-prefix");
  const ttl = values.int("resolver-ttl");
  if (prefix !== "" && ttl < 1) throw new _StartError(`invalid resolver-ttl ${ttl}`, 1);
  if (prefix === "" && ttl > 0) {
    throw new _StartError(`invalid resolver-prefix ${JSON.stringify(prefix)}`, 1);
  }
  if (prefix !== "" && ttl > 0 && values.text("advertise-client-url") === "") {
    throw new _StartError(`invalid advertise-client-url ""`, 1);
  }
  if (values.text("experimental-leasing-prefix") !== "") {
    throw new _StartError(
      "detcd grpc-proxy: --experimental-leasing-prefix (leasing KV) is not supported",
      2,
    );
  }
}

/** TLS towards the cluster (etcd's newClientCfg), with its empty-CN rule. */
function _upstreamTls(values: FlagValues, log: Logger): UpstreamTls | undefined {
  const [ca, cert, key] = [values.text("cacert"), values.text("cert"), values.text("key")];
  const skip = values.bool("insecure-skip-tls-verify");
  if (ca === "" && cert === "" && key === "" && !skip) return undefined;
  const tls: UpstreamTls = { insecureSkipVerify: skip };
  if (cert !== "") {
    tls.certPem = Deno.readTextFileSync(cert);
    checkEmptyCommonName(tls.certPem, cert);
  }
  if (key !== "") tls.keyPem = Deno.readTextFileSync(key);
  if (ca !== "") tls.caPem = Deno.readTextFileSync(ca);
  if (skip) {
    log.warn(
      "--insecure-skip-tls-verify was given, this grpc proxy process skips authentication of " +
        "etcd server TLS certificates. This option should be enabled only for testing purposes.",
    );
  }
  log.info("gRPC proxy client TLS", { "tls-info": `cert = ${cert}, key = ${key}, ca = ${ca}` });
  return tls;
}

/** TLS of the proxy's own listener (`--cert-file` and friends, or `--auto-tls`). */
async function _listenTls(values: FlagValues, log: Logger): Promise<GrpcTlsOptions | undefined> {
  let [ca, cert, key] = [
    values.text("trusted-ca-file"),
    values.text("cert-file"),
    values.text("key-file"),
  ];
  const suites = values.list("listen-cipher-suites");
  try {
    cipherSuiteNames(suites);
  } catch (error) {
    throw new _StartError((error as Error).message, 1);
  }
  if (ca === "" && cert === "" && key === "") {
    if (suites.length > 0 && !values.bool("auto-tls")) {
      // etcd 3.4 dereferences the absent TLS info here and panics (exit 2); say why instead.
      throw new _StartError(
        "--listen-cipher-suites needs TLS on the proxy's listener (--cert-file and " +
          "--key-file, or --auto-tls)",
        2,
      );
    }
    if (!values.bool("auto-tls")) return undefined;
    const dir = `${values.text("data-dir")}/fixtures/proxy`;
    ({ certFile: cert, keyFile: key } = await selfSignedCert(dir, [values.text("listen-addr")]));
  }
  if (cert === "" || key === "") {
    throw new _StartError("TLS key/cert (--cert-file, --key-file) must be provided", 1);
  }
  const policy = tlsPolicy({
    certFile: cert,
    keyFile: key,
    trustedCaFile: ca,
    clientCertAuth: ca !== "",
    autoTls: false,
    crlFile: values.text("client-crl-file"),
    allowedCn: "",
    allowedHostname: "",
  }, suites);
  log.info("gRPC proxy server TLS", { "tls-info": `cert = ${cert}, key = ${key}, ca = ${ca}` });
  return {
    certPem: Deno.readTextFileSync(cert),
    keyPem: Deno.readTextFileSync(key),
    caPem: ca === "" ? undefined : Deno.readTextFileSync(ca),
    clientCertAuth: ca !== "",
    verifyConnection: policy.active
      ? (socket, requested) => policy.checkAccepted(socket, requested)
      : undefined,
    onRejected: (socket, error) =>
      log.warn("rejected connection", rejectedConnectionFields(socket, error)),
  };
}

/** `/health`: a read of key "a" within a second; permission denied counts as healthy. */
async function _health(upstream: Upstream): Promise<Response> {
  let healthy = false;
  try {
    await upstream.unary(METHODS.KV.Range, { key: new TextEncoder().encode("a") }, {
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    });
    healthy = true;
  } catch (error) {
    healthy = error === ErrPermissionDenied ||
      (error as Error).message === ErrPermissionDenied.message;
  }
  const body = JSON.stringify({ health: String(healthy) });
  return new Response(healthy ? body : body + "\n", {
    status: healthy ? 200 : 503,
    headers: {
      "content-type": healthy ? "text/plain; charset=utf-8" : "text/plain; charset=utf-8",
    },
  });
}

/** The HTTP side of the proxy's port and of `--metrics-addr`. */
function _httpHandler(
  options: {
    upstream: Upstream;
    clusterTls: UpstreamTls | undefined;
    listenerTls: boolean;
    pprof: boolean;
    console?: ConsoleProxy | undefined;
  },
): HttpHandler {
  // etcd shuffles the endpoints once and always asks the first for /metrics; detcd asks the
  // others when that one cannot be reached (etcd answers 500), so the console's charts go on.
  const endpoints = [...options.upstream.endpoints];
  const first = endpoints[Math.floor(Math.random() * endpoints.length)]!;
  const metricsOrder = [first, ...endpoints.filter((endpoint) => endpoint !== first)];
  const client = options.clusterTls === undefined ? undefined : Deno.createHttpClient({
    ...(options.clusterTls.caPem !== undefined ? { caCerts: [options.clusterTls.caPem] } : {}),
    ...(options.clusterTls.certPem !== undefined && options.clusterTls.keyPem !== undefined
      ? { cert: options.clusterTls.certPem, key: options.clusterTls.keyPem }
      : {}),
  });
  const handler: HttpHandler = async (request) => {
    const path = new URL(request.url, "http://localhost").pathname;
    if (path === "/health") {
      if (request.method !== "GET") {
        return new Response("Method Not Allowed\n", { status: 405, headers: { allow: "GET" } });
      }
      return await _health(options.upstream);
    }
    if (path === "/metrics") {
      const scheme = options.listenerTls ? "https" : "http";
      const init = client === undefined ? {} : { client };
      for (const endpoint of metricsOrder) {
        try {
          const fetched = await fetch(`${scheme}://${endpoint}/metrics`, init);
          return new Response(await fetched.text(), {
            headers: { "content-type": "text/plain; version=0.0.4" },
          });
        } catch {
          // Unreachable: the next endpoint.
        }
      }
      return new Response("Internal server error\n", { status: 500 });
    }
    if (path === "/proxy/metrics") {
      return new Response(await defaultRegistry.metrics(), {
        headers: { "content-type": defaultRegistry.contentType },
      });
    }
    return new Response("404 page not found\n", { status: 404 });
  };
  const served = options.console === undefined ? handler : options.console.wrap(handler);
  return options.pprof ? pprofHandler(served) : served;
}

/**
 * The console (`--enable-ui`): its calls go to the endpoints' client URLs (`https` with
 * cluster TLS, unless an endpoint names its scheme). Refused with `--namespace`.
 */
async function _consoleProxy(
  endpoints: readonly string[],
  upstream: Upstream,
  clusterTls: UpstreamTls | undefined,
  namespace: string,
  log: Logger,
): Promise<ConsoleProxy> {
  const scheme = clusterTls === undefined ? "http" : "https";
  return await startConsoleProxy({
    endpoints: endpoints.map((endpoint) =>
      /^https?:\/\//.test(endpoint) ? endpoint : `${scheme}://${endpoint}`
    ),
    tls: clusterTls,
    clientUrls: async (signal) => {
      const list = await upstream.unary(METHODS.Cluster.MemberList, {}, { signal });
      return (list.members ?? []).flatMap((member) =>
        (member.clientURLs ?? []).filter((url): url is string => typeof url === "string")
      );
    },
    refusal: namespace === "" ? undefined : "detcd grpc-proxy: the web console is not served " +
      `with --namespace ${JSON.stringify(namespace)}: its JSON gateway calls would reach the ` +
      "whole keyspace, not the namespace. Open the console on a member, or on a grpc-proxy " +
      "without --namespace (or start this one with --enable-ui=false).",
    log,
  });
}

/** A started proxy. */
export interface GrpcProxy {
  readonly port: number;
  /** How many upstream watchers the watch proxy holds (one per broadcast). */
  upstreamWatchers(): number;
  close(): Promise<void>;
}

/** Starts the proxy from parsed flags. */
async function _start(values: FlagValues): Promise<GrpcProxy> {
  _checkArgs(values);
  const log = createLogger({
    logger: "zap",
    level: values.bool("debug") ? "debug" : "info",
    outputs: ["stderr"],
  }).named("grpcproxy");
  const clusterTls = _upstreamTls(values, log);
  const listenTls = await _listenTls(values, log);
  const listen = splitHostPort(values.text("listen-addr"));
  let discovered;
  try {
    discovered = await discoverEndpoints({
      domain: values.text("discovery-srv"),
      serviceName: values.text("discovery-srv-name"),
      insecure: values.bool("insecure-discovery"),
      // etcd validates the discovered endpoints with the cluster-side CA (--cacert).
      caFile: values.text("cacert"),
      log,
    });
  } catch (error) {
    if (!(error instanceof DiscoveryLookupError)) throw error;
    throw new _StartError(error.message, error.exitCode);
  }
  // As etcd's mustNewClient: the discovered endpoints if any survived, else --endpoints.
  const endpoints = discovered.endpoints.length > 0
    ? discovered.endpoints.map(dialable)
    : values.list("endpoints");
  const upstream = new Upstream({
    endpoints,
    tls: clusterTls,
    maxSendBytes: values.int("max-send-bytes"),
    maxRecvBytes: values.int("max-recv-bytes"),
  });
  const namespaceText = values.text("namespace");
  const namespace = namespaceText === ""
    ? undefined
    : new Namespace(new TextEncoder().encode(namespaceText));
  let kv = kvProxy(upstream, new RangeCache(), namespace);
  if (values.bool("experimental-serializable-ordering")) {
    log.info("waiting for linearized read from cluster to recover ordering");
    kv = await orderedKv(kv, upstream, log);
  }
  const watch = watchProxy(upstream, namespace);
  const lease = leaseProxy(upstream, namespace);
  const advertise = values.text("advertise-client-url");
  const prefix = values.text("resolver-prefix");
  const cluster = clusterProxy(upstream, {
    advertiseClientUrl: advertise,
    resolverPrefix: prefix,
    namespace,
    log,
  });
  const unregister = prefix === "" ? undefined : register(upstream, {
    prefix,
    address: advertise,
    ttlSeconds: values.int("resolver-ttl"),
    namespace,
    log,
  });
  const services = instrumentServices({
    kv,
    watch: watch.service,
    lease: lease.service,
    cluster: cluster.service,
    maintenance: forwardService(upstream, "Maintenance"),
    auth: forwardService(upstream, "Auth"),
    election: forwardService(upstream, "Election"),
    lock: forwardService(upstream, "Lock"),
  });
  const webConsole = values.bool("enable-ui")
    ? await _consoleProxy(endpoints, upstream, clusterTls, namespaceText, log)
    : undefined;
  const http = _httpHandler({
    upstream,
    clusterTls,
    listenerTls: listenTls !== undefined,
    pprof: values.bool("enable-pprof"),
    console: webConsole,
  });
  if (values.bool("enable-pprof")) log.info("gRPC proxy enabled pprof", { path: "/debug/pprof" });
  log.info("listening for gRPC proxy client requests", { address: values.text("listen-addr") });
  let server: GrpcServer;
  try {
    server = await startGrpcServer({
      host: listen.hostname,
      port: listen.port,
      services,
      http,
      tls: listenTls,
      maxRecvBytes: values.int("max-recv-bytes"),
      maxSendBytes: values.int("max-send-bytes"),
      maxConcurrentStreams: Math.min(values.int("max-concurrent-streams"), STREAMS_MAX),
    });
  } catch (error) {
    webConsole?.close();
    throw error;
  }
  const closers: (() => Promise<void>)[] = [
    () => server.close(),
    () => Promise.resolve(webConsole?.close()),
  ];
  const metricsAddr = values.text("metrics-addr");
  if (metricsAddr !== "") {
    const url = new URL(metricsAddr);
    const metricsServer = await startHttpServer({
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port),
      http: _httpHandler({
        upstream,
        clusterTls,
        listenerTls: url.protocol === "https:",
        pprof: false,
      }),
      tls: url.protocol === "https:" ? listenTls : undefined,
    });
    log.info("gRPC proxy listening for metrics", { address: metricsAddr });
    closers.push(() => metricsServer.close());
  }
  log.info("started gRPC proxy", { address: values.text("listen-addr") });
  return {
    port: server.port,
    upstreamWatchers: watch.upstreamWatchers,
    async close() {
      await unregister?.();
      cluster.stop();
      for (const close of closers) await close();
      upstream.close();
    },
  };
}

/** Starts a proxy from a command line (the words after `grpc-proxy start`), for tests. */
export async function startGrpcProxy(args: readonly string[]): Promise<GrpcProxy> {
  const { values } = parseFlags(args, GRPC_PROXY_FLAGS);
  return await _start(values);
}

/**
 * Runs `grpc-proxy start` (args after `grpc-proxy`); resolves with the exit status once the
 * proxy stops (SIGINT/SIGTERM), or at once on a refused command line.
 */
export async function runGrpcProxy(args: readonly string[]): Promise<number> {
  const values = parseStartCommand("etcd grpc-proxy", args, GRPC_PROXY_FLAGS);
  if (typeof values === "number") return values;
  let proxy: GrpcProxy;
  try {
    proxy = await _start(values);
  } catch (error) {
    console.error((error as Error).message);
    return error instanceof _StartError ? error.exitCode : 1;
  }
  await untilSignal();
  // A stop must not hang on a client that keeps a stream open: give the close a bound.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    proxy.close(),
    new Promise((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
  ]);
  clearTimeout(timer);
  return 0;
}
