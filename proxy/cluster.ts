/**
 * The Cluster proxy (etcd's grpcproxy/cluster.go) and the proxy's registration
 * (grpcproxy/register.go).
 *
 * MemberList, as etcd's proxy answers it: with `--advertise-client-url` and
 * `--resolver-prefix`, the proxies registered under the prefix (watched); with only the
 * advertised URL, or before any registration is seen, this proxy alone (named after the host);
 * without an advertised URL, the cluster's own list. MemberAdd, MemberRemove and MemberUpdate
 * are forwarded; MemberPromote is refused, as etcd 3.4's proxy refuses it ("not implemented").
 *
 * Registration: the advertised address is put at `<prefix>/<address>` (under `--namespace`,
 * as etcd's namespaced client does) with a lease of `--resolver-ttl` seconds, kept alive; when
 * the lease is lost it registers again, at most once a second. The value is etcd's endpoint
 * update JSON: `{"Op":0,"Addr":"<address>","Metadata":"{\"name\":\"<hostname>\"}"}`.
 *
 * @module
 */

import { hostname } from "node:os";
import { bigintToLong, longToBigint, numberToLong } from "../etcdserverpb/mod.ts";
import type { etcdserverpb } from "../etcdserverpb/mod.ts";
import { type ClusterService, EtcdError, METHODS, Status } from "../rpc/mod.ts";
import type { Logger } from "../server/mod.ts";
import { callOptions } from "./forward.ts";
import { asBytes, type Namespace, prefixEnd } from "./namespace.ts";
import type { Upstream } from "./upstream.ts";
import { UpstreamWatcher, UpstreamWatchStream } from "./watch_upstream.ts";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

/** The registration value etcd's endpoints manager writes. */
export function registrationValue(address: string, host: string): string {
  return JSON.stringify({ Op: 0, Addr: address, Metadata: JSON.stringify({ name: host }) });
}

/** The proxies registered under a prefix, kept current by a watch. */
class _Registry {
  /** Registration key -> member entry. */
  readonly members = new Map<string, { name: string; address: string }>();

  apply(key: Uint8Array, value: Uint8Array | undefined): void {
    const id = _decoder.decode(key);
    if (value === undefined) {
      this.members.delete(id);
      return;
    }
    try {
      const update = JSON.parse(_decoder.decode(value)) as { Addr?: unknown; Metadata?: unknown };
      const meta = JSON.parse(String(update.Metadata ?? "{}")) as { name?: unknown };
      this.members.set(id, { name: String(meta.name ?? ""), address: String(update.Addr ?? "") });
    } catch {
      // Not an endpoint update: etcd skips it with a warning.
    }
  }
}

/** Options of {@link clusterProxy}. */
export interface ClusterProxyOptions {
  advertiseClientUrl: string;
  resolverPrefix: string;
  namespace: Namespace | undefined;
  log: Logger;
}

/** Builds the Cluster handlers; starts watching the resolver prefix when there is one. */
export function clusterProxy(
  upstream: Upstream,
  options: ClusterProxyOptions,
): { service: ClusterService; stop(): void } {
  const registry = new _Registry();
  let watchStream: UpstreamWatchStream | undefined;
  if (options.advertiseClientUrl !== "" && options.resolverPrefix !== "") {
    watchStream = _watchRegistrations(upstream, options, registry);
  }
  const forwardOptions = callOptions;
  const service: ClusterService = {
    memberList: async (request, context) => {
      if (options.advertiseClientUrl === "") {
        return await upstream.unary(METHODS.Cluster.MemberList, request, forwardOptions(context));
      }
      const members: etcdserverpb.IMember[] = [];
      if (options.resolverPrefix !== "") {
        for (const { name, address } of registry.members.values()) {
          members.push({ name, clientURLs: [address] });
        }
      }
      if (members.length === 0) {
        members.push({ name: hostname(), clientURLs: [options.advertiseClientUrl] });
      }
      return { members };
    },
    memberAdd: (request, context) =>
      upstream.unary(METHODS.Cluster.MemberAdd, request, forwardOptions(context)),
    memberRemove: (request, context) =>
      upstream.unary(METHODS.Cluster.MemberRemove, request, forwardOptions(context)),
    memberUpdate: (request, context) =>
      upstream.unary(METHODS.Cluster.MemberUpdate, request, forwardOptions(context)),
    memberPromote: () => Promise.reject(new EtcdError(Status.UNKNOWN, "not implemented")),
  };
  return { service, stop: () => watchStream?.close() };
}

function _prefixKey(options: ClusterProxyOptions): { key: Uint8Array; end: Uint8Array } {
  const prefix = _encoder.encode(options.resolverPrefix + "/");
  if (options.namespace === undefined) return { key: prefix, end: prefixEnd(prefix) };
  return options.namespace.interval(prefix, prefixEnd(prefix));
}

/** Lists the registrations, then watches the prefix from the next revision. */
function _watchRegistrations(
  upstream: Upstream,
  options: ClusterProxyOptions,
  registry: _Registry,
): UpstreamWatchStream {
  const { key, end } = _prefixKey(options);
  const strip = (k: Uint8Array) => options.namespace?.strip(k) ?? k;
  const stream = new UpstreamWatchStream(upstream, undefined);
  let next = 0n;
  const start = async () => {
    for (;;) {
      try {
        const listed = await upstream.unary(METHODS.KV.Range, {
          key,
          rangeEnd: end,
          serializable: true,
        });
        for (const kv of listed.kvs ?? []) {
          registry.apply(strip(asBytes(kv.key)), asBytes(kv.value));
        }
        next = longToBigint(listed.header?.revision ?? 0) + 1n;
        break;
      } catch (error) {
        options.log.warn(`failed to resolve "${options.resolverPrefix}" (${error})`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    stream.watch(
      new UpstreamWatcher(key, end, {
        resumeRevision: () => next,
        onResponse: (response) => {
          next = longToBigint(response.header?.revision ?? 0) + 1n;
          for (const event of response.events ?? []) {
            const isDelete = Number(event.type ?? 0) === 1;
            registry.apply(
              strip(event.kv?.key ?? new Uint8Array()),
              isDelete ? undefined : event.kv?.value ?? new Uint8Array(),
            );
          }
        },
      }),
    );
  };
  void start();
  return stream;
}

/** Options of {@link register}. */
export interface RegisterOptions {
  prefix: string;
  address: string;
  ttlSeconds: number;
  namespace: Namespace | undefined;
  log: Logger;
}

/**
 * Registers the proxy under the prefix with a lease, renewed every third of its TTL, and
 * registers again (at most once a second) whenever the lease is lost. Returns a stop function
 * that revokes the lease.
 */
export function register(upstream: Upstream, options: RegisterOptions): () => Promise<void> {
  let stopped = false;
  let lease = 0n;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const rawKey = _encoder.encode(`${options.prefix}/${options.address}`);
  const key = options.namespace === undefined
    ? rawKey
    : options.namespace.put({ key: rawKey }).key!;
  const value = _encoder.encode(registrationValue(options.address, hostname()));
  const session = async (): Promise<void> => {
    const granted = await upstream.unary(METHODS.Lease.LeaseGrant, {
      TTL: numberToLong(options.ttlSeconds),
    });
    lease = longToBigint(granted.ID ?? 0);
    await upstream.unary(METHODS.KV.Txn, {
      success: [{ requestPut: { key, value, lease: bigintToLong(lease) } }],
    });
    options.log.info(`registered "${options.address}" with ${options.ttlSeconds}-second lease`);
    for (;;) {
      await sleep(Math.max(500, (options.ttlSeconds * 1000) / 3));
      if (stopped) return;
      const renewed = await upstream.unary(METHODS.Lease.LeaseTimeToLive, {
        ID: bigintToLong(lease),
      });
      if (longToBigint(renewed.TTL ?? -1) <= 0) {
        options.log.warn("session expired; possible network partition or server restart");
        options.log.warn("creating a new session to rejoin");
        return;
      }
      await _renewOnce(upstream, lease);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      try {
        await session();
      } catch (error) {
        if (!stopped) options.log.warn(`failed to create a session ${(error as Error).message}`);
      }
      const waitMs = 1000 - (Date.now() - started);
      if (!stopped && waitMs > 0) await sleep(waitMs);
    }
  })();
  return async () => {
    stopped = true;
    wake?.();
    await loop;
    if (lease !== 0n) {
      await upstream.unary(METHODS.Lease.LeaseRevoke, { ID: bigintToLong(lease) }).catch(() => {});
    }
  };
}

/** One keep-alive round trip for a lease. */
async function _renewOnce(upstream: Upstream, lease: bigint): Promise<void> {
  const call = upstream.bidi(METHODS.Lease.LeaseKeepAlive);
  try {
    call.send({ ID: bigintToLong(lease) });
    for await (const response of call.responses) {
      if (longToBigint(response.TTL ?? 0) <= 0) throw new Error("lease expired");
      return;
    }
  } catch (error) {
    upstream.failed(call.endpoint);
    throw error;
  } finally {
    call.cancel();
  }
}
