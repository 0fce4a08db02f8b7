/**
 * The corruption checks (etcd 3.4 etcdserver/corrupt.go).
 *
 * - `--experimental-initial-corrupt-check` ({@link checkInitialHashKV}): before a restarted
 *   member starts raft, it hashes its key space and asks every peer for its hash at the same
 *   revision (`GET /members/hashkv`, server/cluster_hashkv.ts). A peer with the same compact
 *   revision and a different hash makes the member refuse to start with etcd's error
 *   "<id> found data inconsistency with peers"; a peer that is behind, compacted further or
 *   unreachable only earns a warning, as in etcd.
 * - `--experimental-corrupt-check-time` ({@link CorruptionMonitor}): every interval the leader
 *   hashes, asks its peers, waits for a linearizable read, hashes again, and raises the
 *   CORRUPT alarm (member ID 0, as etcd 3.4 does: it cannot tell which member is wrong) on
 *   any of etcd's mismatches: its own two hashes differ at the same revision, a follower is
 *   ahead of it in revision or compact revision, or a follower at its compact revision has
 *   another hash.
 *
 * @module
 */

import { bigintToULong, etcdserverpb } from "../etcdserverpb/mod.ts";
import { CompactedError, FutureRevisionError } from "../mvcc/mod.ts";
import type { EtcdServer } from "./etcd_server.ts";
import type { Logger } from "./log.ts";
import { type PeerHashKVResult, peerHashKVs } from "./cluster_hashkv.ts";

/** The member's data differs from a peer's: it must not start (etcd's error text). */
export class DataInconsistencyError extends Error {
  override readonly name = "DataInconsistencyError";
  constructor(memberId: bigint) {
    super(`${memberId.toString(16)} found data inconsistency with peers`);
  }
}

/**
 * Runs the initial corruption check of a restarted member that has not started raft yet;
 * rejects with {@link DataInconsistencyError} when a peer's hash differs at the same revision
 * and compact revision.
 */
export async function checkInitialHashKV(core: EtcdServer, log: Logger): Promise<void> {
  const localId = core.memberId.toString(16);
  log.info("starting initial corruption check", {
    "local-member-id": localId,
    timeout: `${core.requestTimeoutMs / 1000}s`,
  });
  const local = core.kv.hashByRev(0);
  const peers = await peerHashKVs(core, local.currentRev, {
    log,
    timeoutMs: core.requestTimeoutMs,
  });
  let mismatches = 0;
  for (const peer of peers) {
    const localFields = {
      "local-member-id": localId,
      "local-member-revision": local.currentRev,
      "local-member-compact-revision": local.compactRev,
      "local-member-hash": local.hash >>> 0,
    };
    if (peer.response !== undefined) {
      if (peer.response.hash === (local.hash >>> 0)) continue;
      const fields = {
        ...localFields,
        // etcd's handler leaves header.member_id unset: etcd logs 0 here.
        "remote-peer-id": "0",
        "remote-peer-endpoints": peer.endpoints,
        "remote-peer-revision": peer.response.revision,
        "remote-peer-compact-revision": peer.response.compactRevision,
        "remote-peer-hash": peer.response.hash,
      };
      if (peer.response.compactRevision === local.compactRev) {
        log.warn("found different hash values from remote peer", fields);
        mismatches++;
      } else {
        log.warn("found different compact revision values from remote peer", fields);
      }
      continue;
    }
    const peerFields = {
      ...localFields,
      "remote-peer-id": peer.id.toString(16),
      "remote-peer-endpoints": peer.endpoints,
    };
    if (peer.error instanceof FutureRevisionError) {
      log.warn("cannot fetch hash from slow remote peer", peerFields);
    } else if (peer.error instanceof CompactedError) {
      log.warn("cannot fetch hash from remote peer; local member is behind", peerFields);
    }
  }
  if (mismatches > 0) throw new DataInconsistencyError(core.memberId);
  log.info("initial corruption checking passed; no corruption", { "local-member-id": localId });
}

/** The periodic check of `--experimental-corrupt-check-time` (etcd monitorKVHash). */
export class CorruptionMonitor {
  readonly #core: EtcdServer;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(core: EtcdServer, log: Logger, intervalMs: number) {
    if (!(intervalMs > 0)) throw new Error("corruption check interval must be positive");
    this.#core = core;
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** Starts checking every interval (only the leader checks). */
  start(): void {
    this.#log.info("enabled corruption checking", {
      "local-member-id": this.#core.memberId.toString(16),
      interval: `${this.#intervalMs / 1000}s`,
    });
    this.#schedule();
  }

  /** Stops; a check under way finishes without raising anything new after stop. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    // One check at a time: the next waits a full interval after this one ends, as etcd's loop.
    this.#timer = setTimeout(async () => {
      if (this.#core.isLeader) {
        try {
          await this.checkHashKV();
        } catch (error) {
          this.#log.warn("failed to check hash KV", { error: String(error) });
        }
      }
      this.#schedule();
    }, this.#intervalMs);
  }

  /** One leader-side check (etcd checkHashKV). */
  async checkHashKV(): Promise<void> {
    const core = this.#core;
    const first = core.kv.hashByRev(0);
    const peers = await peerHashKVs(core, first.currentRev, {
      log: this.#log,
      timeoutMs: core.requestTimeoutMs,
    });
    await core.linearizableReadNotify(AbortSignal.timeout(core.requestTimeoutMs));
    const second = core.kv.hashByRev(0);
    let alarmed = false;
    const mismatch = () => {
      if (alarmed || this.#stopped) return;
      alarmed = true;
      void this.#raiseCorrupt();
    };
    if (
      second.hash !== first.hash && second.currentRev === first.currentRev &&
      second.compactRev === first.compactRev
    ) {
      this.#log.warn("found hash mismatch", {
        "revision-1": first.currentRev,
        "compact-revision-1": first.compactRev,
        "hash-1": first.hash >>> 0,
        "revision-2": second.currentRev,
        "compact-revision-2": second.compactRev,
        "hash-2": second.hash >>> 0,
      });
      mismatch();
    }
    let checked = 0;
    for (const peer of peers) {
      if (peer.response === undefined) continue;
      checked++;
      if (_followerMismatch(peer, first, second, this.#log)) mismatch();
    }
    this.#log.info("finished peer corruption check", { "number-of-peers-checked": checked });
  }

  async #raiseCorrupt(): Promise<void> {
    try {
      await this.#core.propose({
        alarm: {
          action: etcdserverpb.AlarmRequest.AlarmAction.ACTIVATE,
          memberID: bigintToULong(0n),
          alarm: etcdserverpb.AlarmType.CORRUPT,
        },
      });
    } catch (error) {
      this.#log.warn("failed to raise CORRUPT alarm", { error: String(error) });
    }
  }
}

interface _Hashed {
  hash: number;
  currentRev: number;
  compactRev: number;
}

/** etcd's three follower checks; logs each mismatch found and answers whether any was. */
function _followerMismatch(
  peer: PeerHashKVResult,
  first: _Hashed,
  second: _Hashed,
  log: Logger,
): boolean {
  const answer = peer.response!;
  const follower = peer.id.toString(16);
  let found = false;
  // A follower's revision is at most the leader's.
  if (answer.revision > second.currentRev) {
    log.warn("revision from follower must be less than or equal to leader's", {
      "leader-revision": second.currentRev,
      "follower-revision": answer.revision,
      "follower-peer-id": follower,
    });
    found = true;
  }
  // So is its compact revision.
  if (answer.compactRevision > second.compactRev) {
    log.warn("compact revision from follower must be less than or equal to leader's", {
      "leader-compact-revision": second.compactRev,
      "follower-compact-revision": answer.compactRevision,
      "follower-peer-id": follower,
    });
    found = true;
  }
  // At the leader's first compact revision, the hashes must match.
  if (answer.compactRevision === first.compactRev && answer.hash !== (first.hash >>> 0)) {
    log.warn("same compact revision then hashes must match", {
      "leader-compact-revision": second.compactRev,
      "leader-hash": first.hash >>> 0,
      "follower-compact-revision": answer.compactRevision,
      "follower-hash": answer.hash,
      "follower-peer-id": follower,
    });
    found = true;
  }
  return found;
}
