/**
 * The Maintenance service (etcd's `etcdserver/api/v3rpc/maintenance.go`): Status, Defragment,
 * Hash, HashKV, Snapshot (the db file in 32 KiB chunks followed by its SHA-256, which
 * `etcdctl snapshot save` checks) and Alarm (through raft).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { etcdserverpb } from "../../etcdserverpb/mod.ts";
import { moveLeader } from "../../server/cluster_membership.ts";
import { bigintToULong } from "../../etcdserverpb/mod.ts";
import type { MaintenanceService } from "../methods.ts";
import type { EtcdServer } from "../../server/etcd_server.ts";
import { toApiError } from "../../server/apply.ts";
import { _alarmName } from "../../server/apply.ts";
import { big, int64, num } from "../../server/kv_ops.ts";
import { ETCD_VERSION } from "../../server/config.ts";

/** etcd's snapshotSendBufferSize. */
const _SNAPSHOT_CHUNK_BYTES = 32 * 1024;

/** An alarm as gogoproto's String() prints it in Status errors. */
function _alarmString(memberId: bigint, alarm: number): string {
  return `memberID:${memberId} alarm:${_alarmName(alarm)} `;
}

/** Builds the Maintenance handlers over `server`. */
export function maintenanceService(server: EtcdServer): MaintenanceService {
  return {
    alarm: async (r, ctx) => {
      const result = await server.propose({ alarm: r }, ctx.signal);
      const response = (result.response ?? {}) as etcdserverpb.AlarmResponse.$Properties;
      response.header = server.fillHeader(response.header);
      return response;
    },
    status: () => {
      const leader = server.leader;
      const response: etcdserverpb.StatusResponse.$Properties = {
        header: server.fillHeader({}),
        version: ETCD_VERSION,
        dbSize: int64(server.backend.size()),
        leader: bigintToULong(leader),
        raftIndex: int64(server.committedIndex),
        raftTerm: int64(server.term),
        raftAppliedIndex: int64(server.appliedIndex),
        dbSizeInUse: int64(server.backend.sizeInUse()),
      };
      // etcd 3.4 reports a learner as such (`endpoint status` prints IS LEARNER).
      if (server.cluster.members.get(server.memberId)?.isLearner === true) {
        response.isLearner = true;
      }
      const errors: string[] = [];
      if (leader === 0n) errors.push("etcdserver: no leader");
      for (const a of server.alarms.get(etcdserverpb.AlarmType.NONE)) {
        errors.push(_alarmString(a.memberId, a.alarm));
      }
      if (errors.length > 0) response.errors = errors;
      return Promise.resolve(response);
    },
    defragment: async () => {
      server.log.info("starting defragmentation", { path: server.cfg.dataDir });
      await server.backend.defrag();
      server.log.info("finished defragmentation", { path: server.cfg.dataDir });
      return { header: server.fillHeader({}) };
    },
    hash: () => {
      const { hash, revision } = server.kv.hash();
      return Promise.resolve({
        header: server.fillHeader({ revision: int64(revision) }),
        hash: hash >>> 0,
      });
    },
    hashKV: (r) => {
      try {
        const result = server.kv.hashByRev(num(r.revision));
        return Promise.resolve({
          header: server.fillHeader({ revision: int64(result.currentRev) }),
          hash: result.hash >>> 0,
          compactRevision: int64(result.compactRev < 0 ? 0 : result.compactRev),
        });
      } catch (error) {
        return Promise.reject(toApiError(error));
      }
    },
    snapshot: async (_r, sink) => {
      // Everything applied so far is in the copy: commit the pending batch first.
      server.backend.forceCommit();
      const snapshot = server.backend.snapshot();
      try {
        const total = snapshot.size();
        const sha = createHash("sha256");
        let sent = 0;
        let pending = new Uint8Array(_SNAPSHOT_CHUNK_BYTES);
        let fill = 0;
        const flush = async (): Promise<void> => {
          if (fill === 0) return;
          const blob = pending.subarray(0, fill);
          sha.update(blob);
          sent += fill;
          await sink.send({ remainingBytes: int64(total - sent), blob });
          pending = new Uint8Array(_SNAPSHOT_CHUNK_BYTES);
          fill = 0;
        };
        await snapshot.writeTo(async (chunk) => {
          let at = 0;
          while (at < chunk.length) {
            const n = Math.min(chunk.length - at, _SNAPSHOT_CHUNK_BYTES - fill);
            pending.set(chunk.subarray(at, at + n), fill);
            fill += n;
            at += n;
            if (fill === _SNAPSHOT_CHUNK_BYTES) await flush();
          }
        });
        await flush();
        if (sent !== total) throw new Error(`snapshot: sent ${sent} of ${total} bytes`);
        await sink.send({ remainingBytes: int64(0), blob: new Uint8Array(sha.digest()) });
      } finally {
        snapshot.close();
      }
    },
    moveLeader: async (r, ctx) => {
      await moveLeader(server, big(r.targetID), ctx.signal);
      return { header: server.fillHeader({}) };
    },
  };
}
