/**
 * Watch responses written straight to protobuf bytes, so that an event going to many watchers is
 * encoded once (etcd encodes it per watcher; a JavaScript server cannot afford that at a
 * thousand watchers per key).
 *
 * `etcdserverpb.WatchResponse` (etcd 3.4 `rpc.proto`), the fields written here, in field-number
 * order as gogoproto's marshaler writes them, zero values omitted (proto3):
 *
 * | field            | number | wire type | tag byte |
 * |------------------|-------:|-----------|---------:|
 * | header           |      1 | bytes     |     0x0a |
 * | watch_id (int64) |      2 | varint    |     0x10 |
 * | events (repeated)|     11 | bytes     |     0x5a |
 *
 * created (3), canceled (4), compact_revision (5), cancel_reason (6) and fragment (7) are not
 * written here: responses that carry them go through the generated encoder.
 *
 * @module
 */

import { encodeEvent, type Event } from "../../server/mod.ts";

const _TAG_HEADER = (1 << 3) | 2;
const _TAG_WATCH_ID = (2 << 3) | 0;
const _TAG_EVENTS = (11 << 3) | 2;

/** Each event's field bytes (tag, length, Event), kept while the event is referenced. */
const _eventFields = new WeakMap<Event, Uint8Array>();

/** Number of bytes of the varint of a non-negative safe integer. */
export function uvarintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes the varint of a non-negative safe integer at `at`; returns the offset after it. */
function _writeUvarint(out: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

/** A length-delimited field: tag, length, `payload`. */
export function lengthDelimited(tag: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + uvarintSize(payload.length) + payload.length);
  const at = _writeUvarint(out, 1, payload.length);
  out[0] = tag;
  out.set(payload, at);
  return out;
}

/** The `events` field of one event (encoded on first use, then shared). */
export function eventField(ev: Event): Uint8Array {
  let field = _eventFields.get(ev);
  if (field === undefined) {
    field = lengthDelimited(_TAG_EVENTS, encodeEvent(ev));
    _eventFields.set(ev, field);
  }
  return field;
}

/** The `events` fields of a list of events, concatenated. */
export function eventsFields(events: readonly Event[]): Uint8Array {
  if (events.length === 1) return eventField(events[0]!);
  let size = 0;
  for (const ev of events) size += eventField(ev).length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const ev of events) {
    const field = eventField(ev);
    out.set(field, at);
    at += field.length;
  }
  return out;
}

/** The `header` field from an encoded `ResponseHeader`. */
export function headerField(header: Uint8Array): Uint8Array {
  return lengthDelimited(_TAG_HEADER, header);
}

/** Bytes of each slab {@link WatchResponseWriter} carves responses from. */
const _SLAB_BYTES = 64 * 1024;

/**
 * Writes WatchResponses into shared slabs: a response is a view of a slab rather than an
 * allocation of its own (a thousand watchers of one key make a thousand responses per write).
 * A slab is never reused: the transport may hold a view until the client's window opens, and
 * the slab is freed with the last view.
 */
export class WatchResponseWriter {
  #slab = new Uint8Array(0);
  #used = 0;

  /**
   * One WatchResponse: `header` (an encoded header field), `watchId` (>= 0) and the encoded
   * events fields; byte-exact with gogoproto's marshaling of the same message. The message
   * starts after `roomBytes` bytes left free at the front (for the transport's framing).
   */
  write(header: Uint8Array, watchId: number, events: Uint8Array, roomBytes = 0): Uint8Array {
    if (!(Number.isSafeInteger(watchId) && watchId >= 0)) {
      throw new RangeError(`watch: watch ID ${watchId} cannot be pre-encoded`);
    }
    const idBytes = watchId === 0 ? 0 : 1 + uvarintSize(watchId);
    const size = roomBytes + header.length + idBytes + events.length;
    const out = this.#take(size);
    out.set(header, roomBytes);
    let at = roomBytes + header.length;
    if (watchId !== 0) {
      out[at++] = _TAG_WATCH_ID;
      at = _writeUvarint(out, at, watchId);
    }
    out.set(events, at);
    if (at + events.length !== size) throw new Error("watch: response size mismatch");
    return out;
  }

  #take(size: number): Uint8Array {
    // Large responses get their own buffer; small ones share the current slab.
    if (size > _SLAB_BYTES / 4) return new Uint8Array(size);
    if (this.#used + size > this.#slab.length) {
      this.#slab = new Uint8Array(_SLAB_BYTES);
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + size);
    this.#used += size;
    return out;
  }
}

/** One WatchResponse in a buffer of its own (see {@link WatchResponseWriter.write}). */
export function encodeWatchResponse(
  header: Uint8Array,
  watchId: number,
  events: Uint8Array,
  roomBytes = 0,
): Uint8Array {
  return new WatchResponseWriter().write(header, watchId, events, roomBytes);
}
