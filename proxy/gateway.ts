/**
 * `detcd gateway start`: etcd 3.4's L4 gateway (etcdmain/gateway.go over proxy/tcpproxy), a TCP
 * proxy that hands each client connection to one cluster endpoint, round robin, and takes an
 * endpoint that refuses a connection out of rotation for `--retry-delay`, after which a monitor
 * dials it again. It sees bytes only: TLS, gRPC and HTTP pass through untouched.
 *
 * With `--discovery-srv` the endpoints come from DNS SRV records (proxy/discovery.ts).
 *
 * Log lines are etcd's (zap, JSON): "ready to proxy client requests", "deactivated endpoint",
 * "failed to activate endpoint (stay inactive for another interval)", "activated".
 *
 * @module
 */

import { createLogger, type Logger } from "../server/mod.ts";
import { dialable, discoverEndpoints, DiscoveryLookupError } from "./discovery.ts";
import { type FlagSpec, parseStartCommand } from "./flags.ts";

/** The flags of `gateway start`, with etcd 3.4's defaults. */
export const GATEWAY_FLAGS: Readonly<Record<string, FlagSpec>> = {
  "listen-addr": { kind: "string", default: "127.0.0.1:23790", usage: "listen address" },
  "discovery-srv": {
    kind: "string",
    default: "",
    usage: "DNS domain used to bootstrap initial cluster",
  },
  "discovery-srv-name": {
    kind: "string",
    default: "",
    usage: "service name to query when using DNS discovery",
  },
  "insecure-discovery": { kind: "bool", default: "false", usage: "accept insecure SRV records" },
  "trusted-ca-file": {
    kind: "string",
    default: "",
    usage: "path to the client server TLS CA file for verifying the discovered endpoints " +
      "when discovery-srv is provided.",
  },
  endpoints: {
    kind: "list",
    default: "127.0.0.1:2379",
    usage: "comma separated etcd cluster endpoints",
  },
  "retry-delay": {
    kind: "duration",
    default: "1m0s",
    usage: "duration of delay before retrying failed endpoints",
  },
};

/** etcd's tcpproxy default when the monitor interval is 0. */
const MONITOR_INTERVAL_DEFAULT_MS = 5 * 60 * 1000;
/** Bytes copied per read on each direction of a proxied connection. */
const COPY_BUFFER_BYTES = 32 * 1024;

/** One backend of the gateway. */
interface _Remote {
  address: string;
  hostname: string;
  port: number;
  active: boolean;
}

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  hostname: string;
  port: number;
  /** `host:port` of each endpoint. */
  endpoints: string[];
  /** How long a failed endpoint stays out of rotation before the monitor retries it. */
  monitorIntervalMs: number;
  log: Logger;
}

/** A running TCP proxy. */
export interface TcpProxy {
  readonly port: number;
  /** Stops accepting and closes every proxied connection. */
  close(): Promise<void>;
}

/** Splits `host:port` (IPv6 in brackets); throws on a missing or bad port. */
export function splitHostPort(address: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(address);
  if (match === null) throw new Error(`address ${address}: missing port in address`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`address ${address}: invalid port`);
  return { hostname: match[1] ?? match[2] ?? "", port };
}

/** etcd's stripSchema: `http://h:p` -> `h:p`; anything else as given. */
export function stripSchema(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    if (url.host !== "" && /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) return url.host;
  } catch {
    // Not a URL: a bare host:port.
  }
  return endpoint;
}

/** Starts the TCP proxy (etcd's tcpproxy.TCPProxy.Run). */
export function startTcpProxy(options: TcpProxyOptions): TcpProxy {
  if (options.endpoints.length === 0) throw new Error("no endpoints found");
  const log = options.log;
  const intervalMs = options.monitorIntervalMs > 0
    ? options.monitorIntervalMs
    : MONITOR_INTERVAL_DEFAULT_MS;
  const remotes: _Remote[] = options.endpoints.map((address) => ({
    address,
    ...splitHostPort(dialable(address)),
    active: true,
  }));
  let pickCount = 0;
  const pick = (): _Remote | undefined => {
    for (let i = 0; i < remotes.length; i++) {
      const remote = remotes[pickCount % remotes.length]!;
      pickCount++;
      if (remote.active) return remote;
    }
    return undefined;
  };
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const conns = new Set<Deno.Conn>();
  const interval = `${intervalMs / 1000}s`;
  log.info("ready to proxy client requests", { endpoints: options.endpoints });

  const serve = async (inbound: Deno.Conn): Promise<void> => {
    let outbound: Deno.Conn | undefined;
    for (let remote = pick(); remote !== undefined; remote = pick()) {
      try {
        outbound = await Deno.connect({ hostname: remote.hostname, port: remote.port });
        break;
      } catch (error) {
        remote.active = false;
        log.warn("deactivated endpoint", {
          address: remote.address,
          interval,
          error: `dial tcp ${remote.address}: ${(error as Error).message}`,
        });
      }
    }
    if (outbound === undefined) {
      _closeQuietly(inbound);
      conns.delete(inbound);
      return;
    }
    conns.add(outbound);
    const target = outbound;
    const done = () => {
      _closeQuietly(inbound);
      _closeQuietly(target);
      conns.delete(inbound);
      conns.delete(target);
    };
    await Promise.all([_pump(target, inbound).finally(done), _pump(inbound, target).finally(done)]);
  };

  const monitor = setInterval(() => {
    for (const remote of remotes) {
      if (remote.active) continue;
      Deno.connect({ hostname: remote.hostname, port: remote.port }).then((conn) => {
        _closeQuietly(conn);
        remote.active = true;
        log.info("activated", { address: remote.address });
      }, (error) => {
        log.warn("failed to activate endpoint (stay inactive for another interval)", {
          address: remote.address,
          interval,
          error: `dial tcp ${remote.address}: ${(error as Error).message}`,
        });
      });
    }
  }, intervalMs);

  const accepting = (async () => {
    try {
      for await (const inbound of listener) {
        conns.add(inbound);
        void serve(inbound);
      }
    } catch {
      // The listener was closed.
    }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      clearInterval(monitor);
      _closeQuietly(listener);
      for (const conn of conns) _closeQuietly(conn);
      conns.clear();
      await accepting;
    },
  };
}

/** Copies `source` to `target` until either ends, then half-closes the target's write side. */
async function _pump(source: Deno.Conn, target: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(COPY_BUFFER_BYTES);
  try {
    for (let n = await source.read(buffer); n !== null; n = await source.read(buffer)) {
      let written = 0;
      while (written < n) written += await target.write(buffer.subarray(written, n));
    }
  } catch {
    // Either side went away; the caller closes both.
  }
}

function _closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}

/** The addresses a host name stands for, enough for the listen-address check. */
async function _lookupHost(name: string): Promise<string[]> {
  const hostname = name.endsWith(".") ? name.slice(0, -1) : name;
  if (/^[\d.]+$/.test(hostname) || hostname.includes(":")) return [hostname];
  if (hostname === "localhost") return ["127.0.0.1", "::1"];
  const found: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    try {
      found.push(...await Deno.resolveDns(hostname, type));
    } catch {
      // No record of this type.
    }
  }
  if (found.length === 0) throw new Error(`lookup ${hostname}: no such host`);
  return found;
}

/**
 * Runs `gateway start` (args after `gateway`); resolves with the exit status once the gateway
 * stops (SIGINT/SIGTERM), or at once on a refused command line.
 */
export async function runGateway(args: readonly string[]): Promise<number> {
  const values = parseStartCommand("etcd gateway", args, GATEWAY_FLAGS);
  if (typeof values === "number") return values;
  const base = createLogger({ logger: "zap", level: "info", outputs: ["stderr"] });
  const log = base.named("tcpproxy");
  let discovered;
  try {
    discovered = await discoverEndpoints({
      domain: values.text("discovery-srv"),
      serviceName: values.text("discovery-srv-name"),
      insecure: values.bool("insecure-discovery"),
      caFile: values.text("trusted-ca-file"),
      log: base,
    });
  } catch (error) {
    if (!(error instanceof DiscoveryLookupError)) throw error;
    console.error(error.message);
    return error.exitCode;
  }
  // As etcd: the SRV records' targets when discovery found any, else --endpoints.
  const endpoints = discovered.records.length > 0
    ? discovered.records.map((record) => `${record.target}:${record.port}`)
    : values.list("endpoints").map(stripSchema);
  let listen;
  try {
    for (const endpoint of endpoints) splitHostPort(endpoint);
    listen = splitHostPort(values.text("listen-addr"));
  } catch (error) {
    console.log(`failed to validate address: ${(error as Error).message}`);
    return 1;
  }
  const listenAddresses = new Set(await _lookupHost(listen.hostname).catch(() => []));
  for (const endpoint of endpoints) {
    const target = splitHostPort(endpoint);
    if (target.port !== listen.port) continue;
    let resolved: string[];
    try {
      resolved = await _lookupHost(target.hostname);
    } catch {
      console.log(`failed to resolve endpoint host: ${target.hostname}`);
      return 1;
    }
    const clash = resolved.find((address) => listenAddresses.has(address));
    if (clash !== undefined) {
      console.log(
        `SRV or endpoint (${target.hostname}:${target.port}->${clash}:${target.port}) ` +
          `should not resolve to the gateway listen addr (${values.text("listen-addr")})`,
      );
      return 1;
    }
  }
  if (endpoints.length === 0) {
    console.log("no endpoints found");
    return 1;
  }
  let proxy: TcpProxy;
  try {
    proxy = startTcpProxy({
      hostname: listen.hostname,
      port: listen.port,
      endpoints,
      monitorIntervalMs: values.durationMs("retry-delay"),
      log,
    });
  } catch (error) {
    console.error(`listen tcp ${values.text("listen-addr")}: ${(error as Error).message}`);
    return 1;
  }
  await untilSignal();
  await proxy.close();
  return 0;
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const signals = ["SIGINT", "SIGTERM"] as const;
    const handler = () => {
      for (const signal of signals) Deno.removeSignalListener(signal, handler);
      resolve();
    };
    for (const signal of signals) Deno.addSignalListener(signal, handler);
  });
}
