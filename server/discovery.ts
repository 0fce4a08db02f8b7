/**
 * etcd 3.4's v2 discovery protocol (`etcdserver/api/v2discovery`), as a client of any v2 keys
 * endpoint (the public discovery.etcd.io, a real etcd with `--enable-v2`, or detcd itself).
 *
 * The discovery URL `http://host/v2/keys/discovery/<token>` names a directory. Its
 * `_config/size` key holds the expected cluster size; each member registers as
 * `<dir>/<member id in hex>` with the value `name=peerURL,...` (created with
 * `prevExist=false`), then waits, with `wait=true&waitIndex=`, until `size` members are
 * registered. The first `size` registrations by creation index form the initial cluster;
 * a member registering later finds the cluster full.
 *
 * Failures to reach the service (a refused connection, a 5xx answer) are retried with etcd's
 * backoff: 2 s, 4 s, ... 256 s, then 256 s for good, logged as etcd logs them.
 *
 * @module
 */

import type { Logger } from "./log.ts";
import { peerUrlsProblem } from "./membership.ts";

/** Errors of the protocol, with etcd's words (v2discovery's Err* values). */
export type DiscoveryErrorCode =
  | "invalid-url"
  | "bad-size-key"
  | "size-not-found"
  | "duplicate-id"
  | "duplicate-name"
  | "full-cluster"
  | "too-many-retries"
  | "bad-endpoint";

const _MESSAGES: Record<DiscoveryErrorCode, string> = {
  "invalid-url": "discovery: invalid URL",
  "bad-size-key": "discovery: size key is bad",
  "size-not-found": "discovery: size key not found",
  "duplicate-id": "discovery: found duplicate id",
  "duplicate-name": "discovery: found duplicate name",
  "full-cluster": "discovery: cluster is full",
  "too-many-retries": "discovery: too many retries",
  "bad-endpoint": "discovery: bad discovery endpoint",
};

/** One of etcd's `discovery: ...` errors. */
export class DiscoveryProtocolError extends Error {
  constructor(readonly code: DiscoveryErrorCode) {
    super(_MESSAGES[code]);
    this.name = "DiscoveryProtocolError";
  }
}

/**
 * etcd's `etcdserver.DiscoveryError`: the join failed. `cause` is a
 * {@link DiscoveryProtocolError} or the error of the keys client.
 */
export class DiscoveryError extends Error {
  constructor(readonly op: string, override readonly cause: Error) {
    super(`failed to ${op} discovery cluster (${cause.message})`);
    this.name = "DiscoveryError";
  }
}

/** An error body of the v2 keys API (the Go client's `client.Error`). */
export class V2KeysError extends Error {
  constructor(
    readonly errorCode: number,
    readonly text: string,
    readonly errorCause: string,
    readonly index: number,
  ) {
    super(`${errorCode}: ${text} (${errorCause}) [${index}]`);
    this.name = "V2KeysError";
  }
}

/** No endpoint answered usefully (the Go client's `client.ClusterError`): retried. */
export class V2ClusterError extends Error {
  constructor(readonly detail: string) {
    super(`client: etcd cluster is unavailable or misconfigured; ${detail}`);
    this.name = "V2ClusterError";
  }
}

/** A body that is not the JSON of the v2 keys API (the Go client's `ErrInvalidJSON`). */
export class V2InvalidJsonError extends Error {
  constructor() {
    super(
      "client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.",
    );
    this.name = "V2InvalidJsonError";
  }
}

/** A node of a v2 keys answer, as far as discovery reads it. */
export interface V2Node {
  key: string;
  value: string;
  createdIndex: number;
  modifiedIndex: number;
  nodes: V2Node[];
}

/** A v2 keys answer: the node and the `X-Etcd-Index` header. */
export interface V2Response {
  action: string;
  node: V2Node;
  index: number;
}

/**
 * Logs one of etcd's discovery lines in the words of the configured logger: zap's message
 * with fields, or capnslog's sentence (etcd 3.4 words each differently).
 */
function _say(
  log: Logger,
  level: "info" | "warn" | "error",
  zap: [string, Record<string, string | number>],
  capnslog: string,
): void {
  if (log.format === "zap") log[level](zap[0], zap[1]);
  else log[level](capnslog);
}

/** etcd's client.DefaultRequestTimeout for a get or a create. */
const _REQUEST_TIMEOUT_MS = 5000;
/** v2discovery's maxExpoentialRetries: the backoff stops doubling at 2^8 s. */
const _MAX_EXPONENTIAL_RETRIES = 8;
/** v2discovery's nRetries (math.MaxUint32): in practice, retry for ever. */
const _MAX_RETRIES = 0xffffffff;

/** Options of {@link joinCluster}. */
export interface JoinOptions {
  /** The discovery URL (`--discovery`). */
  url: string;
  /** `--discovery-proxy`: an HTTP proxy for the discovery requests, or "". */
  proxy: string;
  /** This member's ID. */
  memberId: bigint;
  /** This member's entry: `name=peerURL,...` (etcd's InitialPeerURLsMap.String()). */
  config: string;
  log: Logger;
  /** The backoff sleep; tests shorten it. */
  sleep?: (ms: number) => Promise<void>;
  /** Bound on retries (etcd's nRetries); tests lower it. */
  maxRetries?: number;
}

/**
 * etcd's v2discovery.JoinCluster: registers this member under the discovery URL and returns
 * the initial cluster (`name=url,...`) once the configured number of members registered.
 * Throws a {@link DiscoveryProtocolError} or a keys-client error.
 */
export async function joinCluster(options: JoinOptions): Promise<string> {
  const discovery = new _Discovery(options);
  try {
    return await discovery.join(options.config);
  } finally {
    discovery.close();
  }
}

/**
 * etcd's v2discovery.GetCluster, for a v2 proxy bootstrapped by discovery: the initial
 * cluster (`name=url,...`) of the members registered under the discovery URL, without
 * registering; a full cluster answers its first `size` members at once, otherwise it waits
 * for `size` registrations.
 */
export async function discoveryCluster(
  options: Pick<JoinOptions, "url" | "proxy" | "log" | "sleep" | "maxRetries">,
): Promise<string> {
  const discovery = new _Discovery({ ...options, memberId: 0n, config: "" });
  try {
    return await discovery.cluster();
  } finally {
    discovery.close();
  }
}

/** Builds the fetch client for `--discovery-proxy` (etcd's newProxyFunc), or undefined. */
function _proxyClient(proxy: string, log: Logger): Deno.HttpClient | undefined {
  if (proxy === "") return undefined;
  // As Go's net/http.ProxyFromEnvironment does: a proxy without an http(s) scheme is tried
  // again with "http://" in front.
  let proxyUrl: URL | undefined;
  try {
    proxyUrl = new URL(proxy);
    if (!proxyUrl.protocol.startsWith("http")) proxyUrl = undefined;
  } catch {
    proxyUrl = undefined;
  }
  if (proxyUrl === undefined) {
    try {
      proxyUrl = new URL(`http://${proxy}`);
    } catch (error) {
      throw new Error(`invalid proxy address "${proxy}": ${(error as Error).message}`);
    }
  }
  _say(
    log,
    "info",
    ["running proxy with discovery", { "proxy-url": proxyUrl.href }],
    `using proxy "${proxyUrl.href}"`,
  );
  return Deno.createHttpClient({ proxy: { url: proxyUrl.href } });
}

class _Discovery {
  readonly #log: Logger;
  /** The origin of the service (etcd's `url` with its path cleared). */
  readonly #origin: string;
  /** The path of the discovery directory (etcd's `cluster`, the token). */
  readonly #cluster: string;
  readonly #selfName: string;
  readonly #client: Deno.HttpClient | undefined;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #maxRetries: number;
  #retries = 0;

  constructor(options: JoinOptions) {
    // Go's url.Parse refuses a bad percent escape, which WHATWG URL parsing lets through.
    const badEscape = /%(?![0-9a-fA-F]{2})[^%]{0,2}/.exec(options.url);
    if (badEscape !== null) {
      throw new Error(`parse "${options.url}": invalid URL escape "${badEscape[0]}"`);
    }
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (error) {
      throw new Error(`parse "${options.url}": ${(error as Error).message}`);
    }
    this.#log = options.log;
    this.#origin = url.origin;
    this.#cluster = _cleanPath(decodeURIComponent(url.pathname));
    this.#selfName = options.memberId.toString(16);
    this.#client = _proxyClient(options.proxy, options.log);
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#maxRetries = options.maxRetries ?? _MAX_RETRIES;
  }

  close(): void {
    this.#client?.close();
  }

  get #selfKey(): string {
    return _cleanPath(`${this.#cluster}/${this.#selfName}`);
  }

  async join(config: string): Promise<string> {
    // Fast path: a full cluster fails before this member registers.
    await this.#checkCluster();
    await this.#createSelf(config);
    const { nodes, size, index } = await this.#checkCluster();
    const all = await this.#waitNodes(nodes, size, index);
    return nodesToCluster(all, size);
  }

  async cluster(): Promise<string> {
    let checked: { nodes: V2Node[]; size: number; index: number };
    try {
      checked = await this.#checkCluster();
    } catch (error) {
      const full = (error as { nodes?: V2Node[] }).nodes;
      if (error instanceof DiscoveryProtocolError && full !== undefined) {
        return nodesToCluster(full, full.length);
      }
      throw error;
    }
    const all = await this.#waitNodes(checked.nodes, checked.size, checked.index);
    return nodesToCluster(all, checked.size);
  }

  async #createSelf(config: string): Promise<void> {
    let created: V2Response;
    try {
      created = await this.#request(`${this.#selfKey}?prevExist=false`, {
        method: "PUT",
        body: new URLSearchParams({ value: config }),
        timeoutMs: _REQUEST_TIMEOUT_MS,
      });
    } catch (error) {
      // NodeExist: this ID registered before (a restart that lost its data dir).
      if (error instanceof V2KeysError && error.errorCode === 105) {
        throw new DiscoveryProtocolError("duplicate-id");
      }
      throw error;
    }
    // Ensure that our registration is visible on the server we talk to.
    await this.#watch(this.#selfKey, created.node.createdIndex - 1, false);
  }

  /** etcd's checkCluster: the registered members (by creation order), size and index. */
  async #checkCluster(): Promise<{ nodes: V2Node[]; size: number; index: number }> {
    const configKey = _cleanPath(`${this.#cluster}/_config`);
    let sizeText: string;
    try {
      const answer = await this.#request(
        `${configKey}/size?quorum=false&recursive=false&sorted=false`,
        {
          method: "GET",
          timeoutMs: _REQUEST_TIMEOUT_MS,
        },
      );
      sizeText = answer.node.value;
    } catch (error) {
      if (error instanceof V2InvalidJsonError) throw new DiscoveryProtocolError("bad-endpoint");
      if (error instanceof V2ClusterError) {
        _say(this.#log, "warn", ["failed to get from discovery server", {
          "discovery-url": this.#origin,
          path: `${configKey}/size`,
          error: error.message,
        }], error.detail);
        return await this.#checkClusterRetry();
      }
      // A missing size key reaches etcd's caller as the client's error itself (its check
      // for ErrSizeNotFound tests a pointer type the client never returns).
      throw error;
    }
    const size = _parseUint(sizeText);
    if (size === undefined) throw new DiscoveryProtocolError("bad-size-key");
    let listing: V2Response;
    try {
      listing = await this.#request(`${this.#cluster}?quorum=false&recursive=false&sorted=false`, {
        method: "GET",
        timeoutMs: _REQUEST_TIMEOUT_MS,
      });
    } catch (error) {
      if (!(error instanceof V2ClusterError)) throw error;
      _say(this.#log, "warn", ["failed to get from discovery server", {
        "discovery-url": this.#origin,
        path: this.#cluster,
        error: error.message,
      }], error.detail);
      return await this.#checkClusterRetry();
    }
    const nodes = listing.node.nodes
      .filter((node) => _baseName(node.key) !== "_config")
      .sort((a, b) => a.createdIndex - b.createdIndex);
    // The first `size` registrations are the cluster; a member not among them is late.
    for (let i = 0; i < nodes.length; i++) {
      if (_baseName(nodes[i]!.key) === this.#selfName) break;
      if (i >= size - 1) {
        const error = new DiscoveryProtocolError("full-cluster");
        (error as { nodes?: V2Node[] }).nodes = nodes.slice(0, size);
        throw error;
      }
    }
    return { nodes, size, index: listing.index };
  }

  async #backoff(step: string): Promise<void> {
    this.#retries++;
    const exponent = Math.min(this.#retries, _MAX_EXPONENTIAL_RETRIES);
    const backoffMs = (1 << exponent) * 1000;
    _say(this.#log, "info", ["retry connecting to discovery service", {
      url: this.#origin,
      reason: step,
      backoff: `${backoffMs / 1000}s`,
    }], `${step}: error connecting to ${this.#origin}, retrying in ${backoffMs / 1000}s`);
    await this.#sleep(backoffMs);
  }

  async #checkClusterRetry(): Promise<{ nodes: V2Node[]; size: number; index: number }> {
    if (this.#retries >= this.#maxRetries) throw new DiscoveryProtocolError("too-many-retries");
    await this.#backoff("cluster status check");
    return await this.#checkCluster();
  }

  async #waitNodesRetry(): Promise<V2Node[]> {
    if (this.#retries >= this.#maxRetries) throw new DiscoveryProtocolError("too-many-retries");
    await this.#backoff("waiting for other nodes");
    const { nodes, size, index } = await this.#checkCluster();
    return await this.#waitNodes(nodes, size, index);
  }

  /** etcd's waitNodes: watches the directory until `size` members registered. */
  async #waitNodes(nodes: V2Node[], size: number, index: number): Promise<V2Node[]> {
    const all = nodes.slice(0, size);
    for (const node of all) {
      const peer = _baseName(node.key);
      if (peer === this.#selfName) {
        _say(this.#log, "info", ["found self from discovery server", {
          "discovery-url": this.#origin,
          self: peer,
        }], `found self ${peer} in the cluster`);
      } else {
        _say(this.#log, "info", ["found peer from discovery server", {
          "discovery-url": this.#origin,
          peer,
        }], `found peer ${peer} in the cluster`);
      }
    }
    let afterIndex = index;
    while (all.length < size) {
      _say(this.#log, "info", ["found peers from discovery server; waiting for more", {
        "discovery-url": this.#origin,
        "found-peers": all.length,
        "needed-peers": size - all.length,
      }], `found ${all.length} peer(s), waiting for ${size - all.length} more`);
      let event: V2Response;
      try {
        event = await this.#watch(this.#cluster, afterIndex, true);
      } catch (error) {
        if (error instanceof V2ClusterError) return await this.#waitNodesRetry();
        throw error;
      }
      afterIndex = event.node.modifiedIndex;
      const peer = _baseName(event.node.key);
      _say(this.#log, "info", ["found peer from discovery server", {
        "discovery-url": this.#origin,
        peer,
      }], `found peer ${peer} in the cluster`);
      all.push(event.node);
    }
    _say(this.#log, "info", ["found all needed peers from discovery server", {
      "discovery-url": this.#origin,
      "found-peers": all.length,
    }], `found ${all.length} needed peer(s)`);
    return all;
  }

  /** The Go client's watcher: the next event after `afterIndex`; empty answers are retried. */
  async #watch(key: string, afterIndex: number, recursive: boolean): Promise<V2Response> {
    for (;;) {
      const query = `wait=true&waitIndex=${afterIndex + 1}&recursive=${recursive}`;
      const event = await this.#request(`${key}?${query}`, { method: "GET" }, true);
      if (event !== undefined) return event;
    }
  }

  /** One request of the v2 keys client; `allowEmpty` answers undefined for an empty body. */
  async #request(
    pathAndQuery: string,
    init: { method: string; body?: URLSearchParams; timeoutMs?: number },
  ): Promise<V2Response>;
  async #request(
    pathAndQuery: string,
    init: { method: string; body?: URLSearchParams; timeoutMs?: number },
    allowEmpty: true,
  ): Promise<V2Response | undefined>;
  async #request(
    pathAndQuery: string,
    init: { method: string; body?: URLSearchParams; timeoutMs?: number },
    allowEmpty = false,
  ): Promise<V2Response | undefined> {
    const url = `${this.#origin}${_escapePath(pathAndQuery)}`;
    let response: Response;
    let text: string;
    try {
      const requestInit: RequestInit & { client?: Deno.HttpClient } = { method: init.method };
      if (init.body !== undefined) requestInit.body = init.body;
      if (init.timeoutMs !== undefined) requestInit.signal = AbortSignal.timeout(init.timeoutMs);
      if (this.#client !== undefined) requestInit.client = this.#client;
      response = await fetch(url, requestInit);
      text = await response.text();
    } catch (error) {
      throw new V2ClusterError(`error #0: ${init.method} ${url}: ${(error as Error).message}`);
    }
    if (Math.floor(response.status / 100) === 5) {
      const why = response.status === 500
        ? `client: etcd member ${this.#origin} has no leader`
        : `client: etcd member ${this.#origin} returns server error [${response.statusText}]`;
      throw new V2ClusterError(`error #0: ${why}`);
    }
    return _decodeAnswer(response, text, allowEmpty);
  }
}

/** The Go client's unmarshalHTTPResponse for the statuses discovery meets. */
function _decodeAnswer(response: Response, text: string, allowEmpty: boolean) {
  if (response.status === 200 || response.status === 201) {
    if (text === "") {
      if (allowEmpty) return undefined;
      throw new V2InvalidJsonError();
    }
    let body: { action?: unknown; node?: unknown };
    try {
      body = JSON.parse(text);
    } catch {
      throw new V2InvalidJsonError();
    }
    if (typeof body !== "object" || body === null) throw new V2InvalidJsonError();
    const index = Number(response.headers.get("X-Etcd-Index") ?? "0");
    return {
      action: String(body.action ?? ""),
      node: _node(body.node),
      index: Number.isFinite(index) ? index : 0,
    };
  }
  let failure: { errorCode?: unknown; message?: unknown; cause?: unknown; index?: unknown };
  try {
    failure = JSON.parse(text);
  } catch {
    throw new V2InvalidJsonError();
  }
  if (typeof failure !== "object" || failure === null) throw new V2InvalidJsonError();
  throw new V2KeysError(
    Number(failure.errorCode ?? 0),
    String(failure.message ?? ""),
    String(failure.cause ?? ""),
    Number(failure.index ?? 0),
  );
}

function _node(raw: unknown): V2Node {
  const node = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  return {
    key: String(node.key ?? ""),
    value: String(node.value ?? ""),
    createdIndex: Number(node.createdIndex ?? 0),
    modifiedIndex: Number(node.modifiedIndex ?? 0),
    nodes: Array.isArray(node.nodes) ? node.nodes.map(_node) : [],
  };
}

/**
 * etcd's nodesToCluster: the registrations joined as `name=url,...`; an unparsable one is
 * `discovery: invalid URL`, two registrations with one name `discovery: found duplicate name`.
 */
export function nodesToCluster(nodes: V2Node[], size: number): string {
  const text = nodes.map((node) => node.value).join(",");
  const names = new Set<string>();
  for (const entry of text.split(",")) {
    const equals = entry.indexOf("=");
    if (equals < 0) throw new DiscoveryProtocolError("invalid-url");
    if (peerUrlsProblem([entry.slice(equals + 1)]) !== undefined) {
      throw new DiscoveryProtocolError("invalid-url");
    }
    names.add(entry.slice(0, equals));
  }
  if (names.size !== size) throw new DiscoveryProtocolError("duplicate-name");
  return text;
}

function _parseUint(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Go's path.Join("/", ...) for discovery keys: one leading slash, no trailing or doubled. */
function _cleanPath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

function _baseName(key: string): string {
  const parts = key.split("/").filter((part) => part !== "");
  return parts[parts.length - 1] ?? "/";
}

/** Escapes a key path for the URL while keeping its slashes and the query after `?`. */
function _escapePath(pathAndQuery: string): string {
  const question = pathAndQuery.indexOf("?");
  const path = question < 0 ? pathAndQuery : pathAndQuery.slice(0, question);
  const query = question < 0 ? "" : pathAndQuery.slice(question);
  return path.split("/").map(encodeURIComponent).join("/") + query;
}
