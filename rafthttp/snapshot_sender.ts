/**
 * Sends a MsgSnap with the database file (etcd snapshot_sender.go): one POST to
 * `/raft/snapshot` whose body is the message framed as on the message stream (8-byte length,
 * then the message) followed by the db bytes, streamed.
 *
 * @module
 */

import type { Message } from "../raft/mod.ts";
import { SnapshotStatus } from "./transport_types.ts";
import { MessageType } from "../raft/mod.ts";
import { encodeMessageFrame } from "./msg_codec.ts";
import type { PeerStatus } from "./peer_status.ts";
import { postToPeer } from "./post.ts";
import { RAFT_SNAPSHOT_PREFIX } from "./stream_type.ts";
import type { TransportContext } from "./transport_types.ts";
import type { UrlPicker } from "./url_picker.ts";
import { idToHex } from "./version.ts";
import {
  peerSentBytesTotal,
  peerSentFailuresTotal,
  snapshotSendFailures,
  snapshotSendInflightsTotal,
  snapshotSendSuccess,
  snapshotSendTotalDurationSeconds,
} from "./metrics.ts";

/** A MsgSnap merged with the db it describes (etcd snap.Message). */
export interface SnapshotMessage {
  /** The MsgSnap; its snapshot metadata names the index. */
  message: Message;
  /** The db bytes: whole, or streamed (for example from a file). */
  db: Uint8Array | ReadableStream<Uint8Array>;
  /** Size of the db in bytes, for logs. */
  dbBytes?: number;
}

/** Builds the POST body: the framed message, then the db. */
export function snapshotBody(snapshot: SnapshotMessage): ReadableStream<Uint8Array> {
  const header = encodeMessageFrame(snapshot.message);
  const db = snapshot.db;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let sentHeader = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sentHeader) {
        sentHeader = true;
        controller.enqueue(header);
        return;
      }
      if (db instanceof Uint8Array) {
        if (db.length > 0) controller.enqueue(db);
        controller.close();
        return;
      }
      reader ??= db.getReader();
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      if (!(db instanceof Uint8Array)) (reader ?? db).cancel(reason).catch(() => {});
    },
  });
}

/** Sends one snapshot; resolves true when the peer saved and processed it. */
export async function sendSnapshot(
  context: TransportContext,
  target: { peerId: bigint; picker: UrlPicker; status: PeerStatus; signal: AbortSignal },
  snapshot: SnapshotMessage,
): Promise<boolean> {
  const message = snapshot.message;
  if (message.type !== MessageType.MsgSnap) throw new Error("sendSnapshot needs a MsgSnap");
  const base = target.picker.pick();
  const fields = {
    "remote-peer-id": idToHex(target.peerId),
    "snapshot-index": message.snapshot?.metadata.index ?? 0,
    "snapshot-size-bytes": snapshot.dbBytes,
  };
  context.logger.info("sending database snapshot", fields);
  const to = { To: idToHex(target.peerId) };
  const began = performance.now();
  snapshotSendInflightsTotal.inc(to);
  try {
    await postToPeer(context, {
      url: base + RAFT_SNAPSHOT_PREFIX,
      peerId: target.peerId,
      body: snapshotBody(snapshot),
      contentType: "application/octet-stream",
      timeoutMs: context.timings.snapshotTimeoutMs,
      signal: target.signal,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    context.logger.warn("failed to send database snapshot", { ...fields, error: reason });
    snapshotSendInflightsTotal.dec(to);
    peerSentFailuresTotal.inc(to);
    snapshotSendFailures.inc(to);
    target.picker.unreachable(base);
    target.status.deactivate("sendMsgSnap", "post", reason);
    context.raft.reportUnreachable(message.to);
    context.raft.reportSnapshot(message.to, SnapshotStatus.SnapshotFailure);
    return false;
  }
  target.status.activate();
  snapshotSendInflightsTotal.dec(to);
  peerSentBytesTotal.inc(to, snapshot.dbBytes);
  snapshotSendSuccess.inc(to);
  snapshotSendTotalDurationSeconds.observe(to, (performance.now() - began) / 1000);
  context.raft.reportSnapshot(message.to, SnapshotStatus.SnapshotFinish);
  context.logger.info("sent database snapshot", fields);
  return true;
}
