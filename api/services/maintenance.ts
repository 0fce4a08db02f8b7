/**
 * The Maintenance service (etcd's `etcdserver/api/v3rpc/maintenance.go`): Status, Defragment,
 * Hash, HashKV, Snapshot (the db file in 32 KiB chunks followed by its SHA-256, which
 * `etcdctl snapshot save` checks), Alarm (through raft) and MoveLeader, each over the
 * server's request API; this file only encodes the snapshot stream.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { MaintenanceService } from "../../rpc/mod.ts";
import { big, int64, type ServerApi } from "../../server/mod.ts";
import { requestContext } from "./request_context.ts";

/** etcd's snapshotSendBufferSize. */
const _SNAPSHOT_CHUNK_BYTES = 32 * 1024;

/** Builds the Maintenance handlers over `server`. */
export function maintenanceService(server: ServerApi): MaintenanceService {
  return {
    alarm: (r, ctx) => server.alarm(r, requestContext(ctx)),
    status: (_r, ctx) => Promise.resolve(server.status(requestContext(ctx))),
    defragment: (_r, ctx) => server.defragment(requestContext(ctx)),
    hash: (_r, ctx) => server.hash(requestContext(ctx)),
    hashKV: (r, ctx) => server.hashKV(r, requestContext(ctx)),
    snapshot: async (_r, sink, ctx) => {
      const snapshot = await server.snapshot(requestContext(ctx));
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
    moveLeader: (r, ctx) => server.moveLeader(big(r.targetID), requestContext(ctx)),
  };
}
