/**
 * The "msgappv2" stream encoding (etcd rafthttp msgappv2_codec.go), used only for MsgApp from a
 * leader to one follower. Both ends keep the term and the index of the last entry sent, so an
 * append that continues the previous one is sent without its header fields.
 *
 * Each record starts with one type byte:
 *
 * | type | name          | layout after the type byte                                         |
 * |------|---------------|--------------------------------------------------------------------|
 * | 0    | link heartbeat| nothing (decodes to the link heartbeat message, From = To = 0)    |
 * | 1    | AppEntries    | count u64, then per entry: size u64 + Entry bytes; then commit u64 |
 * | 2    | App (full)    | size u64, then the whole raftpb.Message                            |
 *
 * All integers are big-endian. AppEntries is chosen when the message's `index` equals the
 * encoder's last index and `logTerm` equals both its term and the message's term; the decoded
 * message then gets `term = logTerm = ` the remembered term and `index = ` the remembered index,
 * `from`/`to` from the connection.
 *
 * @module
 */

import {
  decodeEntry,
  decodeMessage,
  encodeEntryHead,
  encodeMessage,
  type Entry,
  type Message,
  MessageType,
  newMessage,
} from "../raft/mod.ts";
import type { ByteQueue } from "./byte_queue.ts";
import { FrameError, MESSAGE_BYTES_MAX } from "./msg_codec.ts";

/** Record type bytes. */
export const MSGAPPV2_LINK_HEARTBEAT = 0;
/** An append that continues the previous one (entries and commit only). */
export const MSGAPPV2_APP_ENTRIES = 1;
/** A whole message. */
export const MSGAPPV2_APP = 2;

/** The link-layer heartbeat: a MsgHeartbeat with From = To = 0, never given to raft. */
export function linkHeartbeatMessage(): Message {
  return newMessage({ type: MessageType.MsgHeartbeat });
}

/** True for the link-layer heartbeat (stream.go isLinkHeartbeatMessage). */
export function isLinkHeartbeat(message: Message): boolean {
  return message.type === MessageType.MsgHeartbeat && message.from === 0n && message.to === 0n;
}

/** Writes a non-negative safe integer as a big-endian u64 at `at` (no BigInt on the hot path). */
export function putUint64(view: DataView, at: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a u64: ${value}`);
  view.setUint32(at, Math.floor(value / 2 ** 32), false);
  view.setUint32(at + 4, value >>> 0, false);
}

/** Stateful encoder for one msgappv2 connection. */
export class MsgAppV2Encoder {
  #term = 0;
  #index = 0;

  /**
   * Encodes one message (a MsgApp or a link heartbeat) as byte pieces to write in order. A
   * record is one piece: its size is known once the entries are encoded, so the type byte, the
   * integers and the entries go into one buffer (a piece and a BigInt per integer made GC the
   * largest single item of a leader's profile, issue #14).
   */
  encode(message: Message): Uint8Array[] {
    if (isLinkHeartbeat(message)) return [Uint8Array.of(MSGAPPV2_LINK_HEARTBEAT)];
    if (
      this.#index === message.index && this.#term === message.logTerm &&
      message.logTerm === message.term
    ) {
      // Each entry goes in as its encoding's head and then its data, straight into the
      // record: the data is copied once, with no encoding of its own per entry. The head is
      // encoded twice (sizes first), a few varints each.
      const entries = message.entries;
      let size = 1 + 8 + 8;
      for (const entry of entries) {
        size += 8 + encodeEntryHead(entry).length + (entry.data?.length ?? 0);
      }
      const record = new Uint8Array(size);
      const view = new DataView(record.buffer);
      record[0] = MSGAPPV2_APP_ENTRIES;
      putUint64(view, 1, entries.length);
      let at = 9;
      for (const entry of entries) {
        const head = encodeEntryHead(entry);
        const bodyBytes = head.length + (entry.data?.length ?? 0);
        putUint64(view, at, bodyBytes);
        record.set(head, at + 8);
        if (entry.data !== undefined) record.set(entry.data, at + 8 + head.length);
        at += 8 + bodyBytes;
      }
      putUint64(view, at, message.commit);
      if (at + 8 !== size) throw new Error("msgappv2: record size miscounted");
      this.#index += entries.length;
      return [record];
    }
    const body = encodeMessage(message);
    this.#term = message.term;
    this.#index = message.index;
    const last = message.entries[message.entries.length - 1];
    if (last !== undefined) this.#index = last.index;
    const record = new Uint8Array(9 + body.length);
    record[0] = MSGAPPV2_APP;
    putUint64(new DataView(record.buffer), 1, body.length);
    record.set(body, 9);
    return [record];
  }
}

/** Stateful decoder for one msgappv2 connection from `remote` to `local`. */
export class MsgAppV2Decoder {
  #term = 0;
  #index = 0;

  readonly #local: bigint;
  readonly #remote: bigint;

  constructor(local: bigint, remote: bigint) {
    this.#local = local;
    this.#remote = remote;
  }

  /**
   * Decodes the next whole record from `queue`, or returns `undefined` (consuming nothing) when
   * it is not fully buffered yet.
   */
  decode(queue: ByteQueue): Message | undefined {
    if (queue.length < 1) return undefined;
    const type = queue.peekUint8(0);
    switch (type) {
      case MSGAPPV2_LINK_HEARTBEAT:
        queue.take(1);
        return linkHeartbeatMessage();
      case MSGAPPV2_APP_ENTRIES:
        return this.#decodeAppEntries(queue);
      case MSGAPPV2_APP:
        return this.#decodeApp(queue);
      default:
        throw new FrameError(`failed to parse type ${type} in msgappv2 stream`);
    }
  }

  #decodeApp(queue: ByteQueue): Message | undefined {
    if (queue.length < 9) return undefined;
    // Lengths and counts as numbers (no BigInt per record); the exact value only in an error.
    const size = queue.peekUint64Number(1);
    if (size > MESSAGE_BYTES_MAX) {
      throw new FrameError(`msgappv2 message of ${queue.peekUint64(1)} bytes`);
    }
    if (queue.length < 9 + size) return undefined;
    queue.take(9);
    const message = decodeMessage(queue.take(size));
    this.#term = message.term;
    this.#index = message.index;
    const last = message.entries[message.entries.length - 1];
    if (last !== undefined) this.#index = last.index;
    return message;
  }

  #decodeAppEntries(queue: ByteQueue): Message | undefined {
    // Measure the whole record first so that a partial one consumes nothing.
    if (queue.length < 9) return undefined;
    const count = queue.peekUint64Number(1);
    if (count > MESSAGE_BYTES_MAX) {
      throw new FrameError(`msgappv2 with ${queue.peekUint64(1)} entries`);
    }
    let at = 9;
    const sizes: number[] = [];
    for (let i = 0; i < count; i++) {
      if (queue.length < at + 8) return undefined;
      const size = queue.peekUint64Number(at);
      if (size > MESSAGE_BYTES_MAX) {
        throw new FrameError(`msgappv2 entry of ${queue.peekUint64(at)} bytes`);
      }
      sizes.push(size);
      at += 8 + size;
    }
    if (queue.length < at + 8) return undefined;
    queue.take(9);
    const entries: Entry[] = [];
    for (const size of sizes) {
      queue.take(8);
      entries.push(decodeEntry(queue.take(size)));
    }
    // The fields are stored one by one on a zero MsgApp: `newMessage` copies a literal of them
    // with Object.assign, a generic store per field (about 0.1 µs more per record, two per put).
    const message = newMessage({ type: MessageType.MsgApp });
    message.from = this.#remote;
    message.to = this.#local;
    message.term = this.#term;
    message.logTerm = this.#term;
    message.index = this.#index;
    message.entries = entries;
    message.commit = queue.takeUint64Number();
    this.#index += entries.length;
    return message;
  }
}
