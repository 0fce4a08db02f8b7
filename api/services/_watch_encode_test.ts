/**
 * Goal: a watch response written by `_watch_encode.ts` is the message the generated encoder
 * writes for the same content, byte for byte (apart from a zero watch ID, which gogoproto and
 * this encoder leave out and protobufjs writes when set), and decodes to the same fields.
 * Method: events of every shape (put, delete, lease, prev_kv, values longer than one varint
 * byte of length, several events) encoded both ways and compared.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { etcdserverpb, longToNumber, numberToLong } from "../../etcdserverpb/mod.ts";
import { EncodedMessage, METHODS } from "../../rpc/mod.ts";
import { type Event, kvToPb } from "../../server/mod.ts";
import {
  encodeWatchResponse,
  eventField,
  eventsFields,
  headerField,
  uvarintSize,
  WatchResponseWriter,
} from "./_watch_encode.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function _pbEvent(ev: Event): Record<string, unknown> {
  const out: Record<string, unknown> = { kv: kvToPb(ev.kv) };
  if (ev.type !== 0) out.type = ev.type;
  if (ev.prevKv !== undefined) out.prevKv = kvToPb(ev.prevKv);
  return out;
}

const put: Event = {
  type: 0,
  kv: { key: enc("k"), createRevision: 2, modRevision: 9, version: 3, value: enc("v"), lease: 0n },
};
const big: Event = {
  type: 0,
  kv: {
    key: enc("key/with/a/longer/name"),
    createRevision: 300,
    modRevision: 70_000,
    version: 129,
    value: new Uint8Array(20_000).fill(0x61),
    lease: 0x7123_4567_89ab_cdefn,
  },
  prevKv: {
    key: enc("key/with/a/longer/name"),
    createRevision: 300,
    modRevision: 69_999,
    version: 128,
    value: enc("before"),
    lease: 0n,
  },
};
const deleted: Event = {
  type: 1,
  kv: {
    key: enc("gone"),
    createRevision: 0,
    modRevision: 70_000,
    version: 0,
    value: new Uint8Array(0),
    lease: 0n,
  },
};

Deno.test("a pre-encoded watch response is the generated encoder's bytes", () => {
  const header = {
    clusterId: numberToLong(0x1234_5678),
    memberId: numberToLong(0x9abc_def0),
    revision: numberToLong(70_000),
    raftTerm: numberToLong(5),
  };
  const headerBytes = etcdserverpb.ResponseHeader.encode(header).finish();
  for (const events of [[put], [big], [deleted], [put, big, deleted], []]) {
    for (const watchId of [1, 127, 128, 99_999]) {
      const ours = encodeWatchResponse(headerField(headerBytes), watchId, eventsFields(events));
      const theirs = etcdserverpb.WatchResponse.encode({
        header,
        watchId: numberToLong(watchId),
        events: events.map(_pbEvent),
      }).finish();
      // protobufjs hands out a Buffer: compare the bytes.
      deepStrictEqual(
        ours,
        Uint8Array.from(theirs),
        `watch ID ${watchId}, ${events.length} events`,
      );
    }
  }
});

Deno.test("watch ID 0 is left out, as gogoproto does, and decodes as 0", () => {
  const headerBytes = etcdserverpb.ResponseHeader.encode({ revision: numberToLong(9) }).finish();
  const bytes = encodeWatchResponse(headerField(headerBytes), 0, eventsFields([put]));
  const decoded = etcdserverpb.WatchResponse.decode(bytes);
  strictEqual(longToNumber(decoded.watchId), 0);
  strictEqual(longToNumber(decoded.header!.revision ?? 0), 9);
  strictEqual(decoded.events.length, 1);
  strictEqual(new TextDecoder().decode(decoded.events[0]!.kv!.value!), "v");
  throws(() => encodeWatchResponse(headerField(headerBytes), -1, new Uint8Array(0)), RangeError);
});

Deno.test("an event is encoded once and its bytes shared", () => {
  strictEqual(eventField(big), eventField(big));
  strictEqual(eventsFields([big]), eventField(big));
  strictEqual(uvarintSize(127), 1);
  strictEqual(uvarintSize(128), 2);
  strictEqual(uvarintSize(2 ** 35), 6);
});

Deno.test("room in front for the gRPC prefix; the codec passes an EncodedMessage through", () => {
  const headerBytes = etcdserverpb.ResponseHeader.encode({ revision: numberToLong(9) }).finish();
  const bare = encodeWatchResponse(headerField(headerBytes), 300, eventsFields([put, deleted]));
  const framed = encodeWatchResponse(
    headerField(headerBytes),
    300,
    eventsFields([put, deleted]),
    EncodedMessage.PREFIX_BYTES,
  );
  const message = new EncodedMessage(framed);
  deepStrictEqual(message.bytes, bare);
  // gRPC's prefix: not compressed, then the length, big-endian.
  deepStrictEqual(Array.from(framed.subarray(0, 5)), [0, 0, 0, 0, bare.length]);
  deepStrictEqual(METHODS.Watch.Watch.response.encode(message), bare);
  const json = METHODS.Watch.Watch.response.toJson(message);
  strictEqual(json.watch_id, "300");
  throws(() => new EncodedMessage(new Uint8Array(4)), RangeError);
});

Deno.test("responses written into one slab are independent views with the right bytes", () => {
  const headerBytes = etcdserverpb.ResponseHeader.encode({ revision: numberToLong(9) }).finish();
  const writer = new WatchResponseWriter();
  const fields = eventsFields([put]);
  const views = Array.from(
    { length: 500 },
    (_, id) => writer.write(headerField(headerBytes), id, fields, 5),
  );
  views.forEach((view, id) => {
    deepStrictEqual(view, encodeWatchResponse(headerField(headerBytes), id, fields, 5));
  });
  // A large response does not take a slab.
  const large = eventsFields([big]);
  const one = writer.write(headerField(headerBytes), 1, large);
  strictEqual(one.byteOffset, 0);
  strictEqual(one.buffer.byteLength, one.length);
});
