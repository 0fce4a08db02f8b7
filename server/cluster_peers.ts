/**
 * The member's side of the peer network: the rafthttp transport wired to the raft node, and
 * the peer listeners (etcd's `etcdserver/server.go` transport setup and `etcdhttp/peer.go`).
 *
 * - Outgoing: raft's messages go to `rafthttp.Transport.send`, except MsgSnap, which leaves
 *   with a fresh snapshot of the backend streamed behind it (etcd's
 *   createMergedSnapshotMessage: the follower receives the whole db, whose consistent index is
 *   at or past the raft snapshot's index).
 * - Incoming: messages are stepped into raft; a received db is saved by the Snapshotter as
 *   `<index>.snap.db` before its MsgSnap is stepped, and the server swaps it in when raft
 *   hands the snapshot over.
 * - The transport's peers follow the membership after every applied change.
 * - A peer that says we were removed is a critical error: the member stops with it.
 *
 * @module
 */

import { isAppend, messageSize } from "./v2_stats.ts";
import {
  type ClosableServer,
  handlePeerRequest,
  type OpenSslTlsServerOptions,
  PeerHttpError,
  type PeerServerHooks,
  serveOpenSslTls,
  servePlainHttp,
  serveVerifyingTls,
  SnapshotStatus,
  Transport as PeerTransport,
  type VerifyingTlsServer,
  type VerifyingTlsServerOptions,
} from "../rafthttp/mod.ts";
import { type Message, MessageType } from "../raft/mod.ts";
import type { ServerConfig } from "./config.ts";
import { ETCD_CLUSTER_VERSION } from "./config.ts";
import type { EtcdServer } from "./etcd_server.ts";
import { goUrlString } from "../ids/mod.ts";
import type { Logger } from "./log.ts";
import { memberJson } from "./membership.ts";
import { LEASES_PATH, serveLeaseRenewal } from "./cluster_lease.ts";
import { HASHKV_PATH, serveHashKV } from "./cluster_hashkv.ts";
import { PROMOTE_PATH_PREFIX, servePromote } from "./cluster_membership.ts";
import { peerTlsOptions, releasePeerClient } from "./cluster_peer_client.ts";
import {
  rejectedConnectionFields,
  rejectedHandshakeFields,
  type TlsPolicy,
  tlsPolicy,
} from "./tls_policy.ts";
import { TlsContext, type TlsContextOptions } from "../tls/mod.ts";

/** Bounds on concurrent db snapshot sends (etcd sends one per follower at a time). */
const _SNAPSHOTS_IN_FLIGHT_MAX = 4;
/** How long stopping waits for peer connections to close. */
const _SHUTDOWN_MS = 2000;

function _hostPort(url: URL): { hostname: string; port: number } {
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  return { hostname, port };
}

/** The peer transport and listeners of one member. */
export class ClusterPeers {
  readonly transport: PeerTransport;
  readonly #core: EtcdServer;
  readonly #cfg: ServerConfig;
  readonly #log: Logger;
  readonly #servers: ClosableServer[] = [];
  /** OpenSSL contexts of the peer listeners, freed when they are shut down. */
  readonly #contexts: TlsContext[] = [];
  readonly #snapshotsInFlight = new Set<bigint>();
  #stopped = false;

  /** Builds the transport for `core`; call {@link listen} and {@link start}. */
  constructor(core: EtcdServer, cfg: ServerConfig, log: Logger) {
    this.#core = core;
    this.#cfg = cfg;
    this.#log = log;
    const urls = cfg.initialAdvertisePeerUrls.map(goUrlString);
    this.transport = new PeerTransport({
      id: core.memberId,
      clusterId: core.clusterId,
      urls,
      raft: {
        process: (message) => this.#process(message),
        isIdRemoved: (id) => core.cluster.removed.has(id),
        reportUnreachable: (id) => core.raft.reportUnreachable(id),
        reportSnapshot: (id, status) => core.raft.reportSnapshot(id, status),
      },
      snapshotStore: {
        saveDbFrom: async (body, index) => {
          const saved = await this.#snapshotter().saveDbFrom(body, index);
          this.#log.info("saved database snapshot from the leader", {
            "snapshot-index": index,
            bytes: saved.bytes,
          });
          return saved.bytes;
        },
      },
      logger: log.named("rafthttp"),
      tls: peerTlsOptions(cfg.peerTls, cfg.cipherSuites),
      onSendResult: (peer, latencyMs) =>
        latencyMs === undefined
          ? core.v2Stats.failed(peer)
          : core.v2Stats.succeeded(peer, latencyMs),
      onCriticalError: (error) => {
        // etcd: "the member has been permanently removed from the cluster" -> exit.
        if (core.fatalError === undefined) core.fatalError = error;
        void core.stop();
      },
    });
  }

  #snapshotter() {
    return this.#core.snapshotter;
  }

  /** Opens the peer listeners (`--listen-peer-urls`). */
  listen(): void {
    const hooks: PeerServerHooks = {
      clusterVersion: () => this.#core.cluster.version ?? ETCD_CLUSTER_VERSION,
      extra: (request) => this.#extra(request),
    };
    for (const url of this.#cfg.listenPeerUrls) {
      const { hostname, port } = _hostPort(url);
      const handler = (request: Request) => handlePeerRequest(this.transport, hooks, request);
      const options = { hostname, port, onListen: () => {} };
      if (url.protocol === "unix:" || url.protocol === "unixs:") {
        this.#servers.push(_listenUnix(url, handler));
        this.#log.named("embed").info("now serving peer traffic", { address: url.host });
        continue;
      }
      if (url.protocol === "https:") {
        this.#servers.push(this.#listenTls(url, hostname, port, handler));
      } else {
        // node:http rather than Deno.serve: etcd's `GET /members/hashkv` carries a body.
        this.#servers.push(this.#watchListening(servePlainHttp(options, handler), url));
      }
      this.#log.named("embed").info("now serving peer traffic", {
        address: `${hostname}:${port}`,
      });
    }
  }

  /**
   * A TLS peer listener. With a trusted CA or `--peer-client-cert-auth` it requires and
   * verifies client certificates (etcd TLSInfo.ServerConfig: RequireAndVerifyClientCert),
   * and with a CN, host name, CRL or cipher suite restriction it checks each connection
   * (server/tls_policy.ts). `Deno.serve` can do neither (nor read the body of etcd's
   * `GET /members/hashkv`), so TLS peer listeners are served by `node:https`.
   */
  #listenTls(
    url: URL,
    hostname: string,
    port: number,
    handler: (request: Request) => Promise<Response>,
  ): ClosableServer {
    const tls = this.#cfg.peerTls;
    if (tls.certFile === "" || tls.keyFile === "") {
      throw new Error(`TLS peer URL ${url.href} needs --peer-cert-file and --peer-key-file`);
    }
    const certPem = Deno.readTextFileSync(tls.certFile);
    const keyPem = Deno.readTextFileSync(tls.keyFile);
    const requestCert = tls.trustedCaFile !== "" || tls.clientCertAuth;
    const policy = tlsPolicy(tls, this.#cfg.cipherSuites);
    if (policy.restrictsHandshake) {
      return this.#watchListening(
        serveOpenSslTls(this.#openSslOptions(hostname, port, requestCert, policy), handler),
        url,
      );
    }
    const options: VerifyingTlsServerOptions = { hostname, port, certPem, keyPem, requestCert };
    if (tls.trustedCaFile !== "") options.caPem = Deno.readTextFileSync(tls.trustedCaFile);
    if (policy.active) {
      // --peer-cert-allowed-cn/-hostname, --peer-crl-file and --cipher-suites.
      options.verifyConnection = (socket, requested) => policy.checkAccepted(socket, requested);
      options.onRejected = (socket, error) =>
        this.#log.named("embed").warn(
          "rejected connection",
          rejectedConnectionFields(socket, error),
        );
    }
    return this.#watchListening(serveVerifyingTls(options, handler), url);
  }

  /**
   * A peer listener whose TLS is OpenSSL's, for `--peer-cert-allowed-cn`/`-hostname` and
   * `--cipher-suites`: as etcd's Go TLS, a refused certificate fails the handshake with the
   * bad_certificate alert, and the cipher list decides what TLS 1.2 negotiates. The CRL is
   * checked after the handshake, as etcd's tlsListener does.
   */
  #openSslOptions(
    hostname: string,
    port: number,
    requestCert: boolean,
    policy: TlsPolicy,
  ): OpenSslTlsServerOptions {
    const tls = this.#cfg.peerTls;
    const contextOptions: TlsContextOptions = {
      role: "server",
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      verifyPeer: requestCert,
    };
    if (tls.trustedCaFile !== "") contextOptions.caFile = tls.trustedCaFile;
    const cipherList = policy.openSslCipherList();
    if (cipherList !== undefined) contextOptions.cipherList = cipherList;
    if (requestCert && policy.verifiesCertificate) {
      contextOptions.verifyLeaf = (der) => policy.verifyCertificateDer(der);
    }
    const context = new TlsContext(contextOptions);
    this.#contexts.push(context);
    const log = this.#log.named("embed");
    return {
      hostname,
      port,
      context,
      verifyConnection: (socket) => policy.checkRevokedDer(socket.session.peerCertificates()),
      onRejected: (socket, error) => {
        const session = socket.session;
        log.warn(
          "rejected connection",
          rejectedHandshakeFields(
            socket,
            session.serverNameReceived(),
            session.peerCertificates(),
            error,
          ),
        );
      },
    };
  }

  /** A listener that cannot bind stops the member. */
  #watchListening(server: VerifyingTlsServer, url: URL): ClosableServer {
    server.listening.catch((error) => {
      this.#log.error("peer listener failed", { address: url.host, error: String(error) });
      if (this.#core.fatalError === undefined) this.#core.fatalError = error;
      void this.#core.stop();
    });
    return server;
  }

  /** Forwarded lease renewals, promotions, hashes, and `/members` with exact 64-bit IDs (etcd marshals `membership.Member` numbers). */
  async #extra(request: Request): Promise<Response | undefined> {
    const path = new URL(request.url).pathname;
    if (path.startsWith(LEASES_PATH)) return await serveLeaseRenewal(this.#core, request);
    if (path.startsWith(PROMOTE_PATH_PREFIX)) return await servePromote(this.#core, request);
    if (path === HASHKV_PATH) return serveHashKV(this.#core, request, this.#log);
    if (path !== "/members" || request.method !== "GET") return undefined;
    const members = this.#core.cluster.sortedMembers().map(memberJson);
    return new Response(`[${members.join(",")}]\n`, {
      headers: {
        "Content-Type": "application/json",
        "X-Etcd-Cluster-ID": this.#core.clusterId.toString(16),
      },
    });
  }

  /** Starts the transport and connects to every other member. */
  start(): void {
    this.transport.start();
    this.syncPeers();
  }

  /** Adds, updates and removes transport peers to match the membership. */
  syncPeers(): void {
    if (this.#stopped) return;
    const members = this.#core.cluster.members;
    for (const member of members.values()) {
      if (member.id === this.#core.memberId) continue;
      if (this.transport.peer(member.id) === undefined) {
        this.transport.addPeer(member.id, member.peerUrls);
      } else {
        this.transport.updatePeer(member.id, member.peerUrls);
      }
    }
    for (const id of this.transport.peerIds()) {
      if (!members.has(id)) void this.transport.removePeer(id).catch(() => {});
    }
  }

  /** How many remote peers have a working stream now (etcd's Transport.ActivePeers). */
  activePeers(): number {
    let active = 0;
    for (const id of this.transport.peerIds()) {
      if (this.transport.activeSince(id) !== undefined) active++;
    }
    return active;
  }

  /** Sends raft's messages; MsgSnap goes with the db. */
  send(messages: Message[]): void {
    if (this.#stopped) return;
    let plain = messages;
    if (messages.some((m) => m.type === MessageType.MsgSnap)) {
      plain = messages.filter((m) => m.type !== MessageType.MsgSnap);
      for (const m of messages) if (m.type === MessageType.MsgSnap) this.#sendSnapshot(m);
    }
    if (plain.length === 0) return;
    // etcd counts every MsgApp the transport takes for a known peer (v2 stats).
    let peers: bigint[] | undefined;
    for (const m of plain) {
      if (!isAppend(m)) continue;
      peers ??= this.transport.peerIds();
      if (peers.includes(m.to)) this.#core.v2Stats.sendAppendReq(messageSize(m));
    }
    this.transport.send(plain);
  }

  #process(message: Message): void {
    if (this.#core.cluster.removed.has(message.from)) {
      throw new PeerHttpError(403, "cannot process message from removed member");
    }
    if (isAppend(message)) this.#core.v2Stats.recvAppendReq(message.from, messageSize(message));
    try {
      this.#core.raft.step(message);
    } catch (error) {
      // Raft refuses some messages (a response from a peer it no longer tracks): drop them.
      this.#log.debug("dropped peer message", { error: String(error) });
    }
  }

  /** Streams a backend snapshot behind the MsgSnap; raft hears the outcome. */
  #sendSnapshot(message: Message): void {
    const to = message.to;
    if (
      this.#snapshotsInFlight.has(to) || this.#snapshotsInFlight.size >= _SNAPSHOTS_IN_FLIGHT_MAX
    ) {
      this.#core.raft.reportSnapshot(to, SnapshotStatus.SnapshotFailure);
      return;
    }
    this.#snapshotsInFlight.add(to);
    // The db and the snapshot that describes it, taken in the same turn (same applied index).
    // etcd's KV().Commit() first, so that the db's consistent index covers the snapshot.
    this.#core.kv.commit();
    const snapshot = this.#core.backend.snapshot();
    message = { ...message, snapshot: this.#core.mergedSnapshot() };
    const dbBytes = snapshot.size();
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const writer = pipe.writable.getWriter();
    snapshot.writeTo(async (chunk) => {
      await writer.ready;
      await writer.write(chunk);
    }).then(() => writer.close(), (error) => writer.abort(error)).catch(() => {})
      .finally(() => snapshot.close());
    this.#log.info("sending database snapshot", {
      "remote-peer-id": to.toString(16),
      "snapshot-index": message.snapshot?.metadata.index ?? 0,
      bytes: dbBytes,
    });
    this.transport.sendSnapshot({ message, db: pipe.readable, dbBytes })
      .catch(() => false)
      .finally(() => this.#snapshotsInFlight.delete(to));
  }

  /** Stops the transport, then the listeners (open streams end only with the transport). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.transport.stop();
    releasePeerClient(this.#cfg.peerTls);
    for (const server of this.#servers) {
      // Bounded: a peer's half-open stream must not hold the member's exit.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise<void>((resolve) => timer = setTimeout(resolve, _SHUTDOWN_MS));
      await Promise.race([server.shutdown().catch(() => {}), bound]);
      clearTimeout(timer);
    }
    for (const context of this.#contexts) context.close();
    this.#contexts.length = 0;
  }
}

/**
 * A peer listener on a unix socket, as etcd's `unix://` peer URLs: the socket file is the
 * URL's host (`unix://etcd.unix:1` listens on `etcd.unix:1`, relative to the working
 * directory), a stale file is removed first, and the file goes when the listener closes.
 * `unixs://` (TLS over a unix socket) is refused: detcd's peer TLS listeners are TCP only.
 */
function _listenUnix(url: URL, handler: (request: Request) => Promise<Response>): ClosableServer {
  if (url.protocol === "unixs:") {
    throw new Error(`unixs:// peer URLs are not supported (${url.href}); use unix:// or https://`);
  }
  const path = url.host;
  if (path === "") throw new Error(`unix peer URL ${url.href} names no socket file`);
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const server = Deno.serve({ path, transport: "unix", onListen: () => {} }, handler);
  return {
    shutdown: async () => {
      // First: a shutdown that waits for open streams must not leave the file behind.
      await Deno.remove(path).catch(() => {});
      await server.shutdown();
    },
  };
}
