// Goal: the native HTTP/2 connection answers the protocol's control frames and survives
// hostile input: a bad header block ends only that connection (GOAWAY COMPRESSION_ERROR),
// random frames after the preface never take the server down, PING is acknowledged, and a
// stream's window is refilled as grpc-go refills it (a quarter window at a time; never for a
// stream the client ended, so a unary call costs no WINDOW_UPDATE), and the messages a stream
// sends in one turn share DATA frames up to the peer's frame size, in order, none lost.
// Method: raw TCP clients against startGrpcServer({transport: "native"}) on 127.0.0.1:23805,
// frames written by hand; a seeded PRNG makes the random frames repeatable; after each abuse
// a real gRPC call must still succeed.
import assert from "node:assert/strict";
import { startGrpcServer } from "../grpc_server.ts";
import { EtcdGrpcClient } from "../../client/mod.ts";
import { METHODS } from "../../rpc/mod.ts";
import { etcdserverpb, longToNumber, numberToLong } from "../../etcdserverpb/mod.ts";

const PORT = 23805;
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = payload.length >>> 16;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, streamId);
  out.set(payload, 9);
  return out;
}

/** Reads frames until `want` returns true for one, or the connection ends; bounded. */
async function readUntil(
  connection: Deno.Conn,
  want: (type: number, flags: number, payload: Uint8Array, streamId: number) => boolean,
): Promise<{ type: number; payload: Uint8Array } | undefined> {
  let buffer = new Uint8Array(0);
  const chunk = new Uint8Array(65536);
  for (let reads = 0; reads < 1000; reads++) {
    while (buffer.length >= 9) {
      const length = (buffer[0]! << 16) | (buffer[1]! << 8) | buffer[2]!;
      if (buffer.length < 9 + length) break;
      const type = buffer[3]!;
      const flags = buffer[4]!;
      const payload = buffer.slice(9, 9 + length);
      const streamId = new DataView(buffer.buffer, buffer.byteOffset).getUint32(5) & 0x7fffffff;
      buffer = buffer.slice(9 + length);
      if (want(type, flags, payload, streamId)) return { type, payload };
    }
    const count = await connection.read(chunk).catch(() => null);
    if (count === null) return undefined;
    const joined = new Uint8Array(buffer.length + count);
    joined.set(buffer);
    joined.set(chunk.subarray(0, count), buffer.length);
    buffer = joined;
  }
  return undefined;
}

async function assertStillServing(): Promise<void> {
  const client = new EtcdGrpcClient(`127.0.0.1:${PORT}`);
  try {
    const response = await client.unary(METHODS.KV.Put, {
      key: new Uint8Array([1]),
      value: new Uint8Array(3),
    });
    assert.equal(longToNumber(response.header?.revision ?? 0), 3);
  } finally {
    client.close();
  }
}

async function withServer(fn: () => Promise<void>): Promise<void> {
  const server = await startGrpcServer({
    transport: "native",
    host: "127.0.0.1",
    port: PORT,
    services: {
      kv: {
        put: (request) =>
          Promise.resolve({ header: { revision: numberToLong(request.value.length) } }),
      },
    },
  });
  try {
    await fn();
  } finally {
    await server.close();
  }
}

Deno.test("PING is acknowledged with the same payload", async () => {
  await withServer(async () => {
    const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
    try {
      const payload = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
      await connection.write(PREFACE);
      await connection.write(frame(0x4, 0, 0, new Uint8Array()));
      await connection.write(frame(0x6, 0, 0, payload));
      const ack = await readUntil(connection, (type, flags) => type === 0x6 && flags === 1);
      assert.deepEqual(ack?.payload, payload);
    } finally {
      connection.close();
    }
  });
});

Deno.test("a bad header block gets GOAWAY(COMPRESSION_ERROR); the server lives on", async () => {
  await withServer(async () => {
    const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
    try {
      await connection.write(PREFACE);
      await connection.write(frame(0x4, 0, 0, new Uint8Array()));
      // Indexed field 0x80 = index 0: invalid (RFC 7541 §6.1).
      await connection.write(frame(0x1, 0x4 | 0x1, 1, Uint8Array.from([0x80])));
      const goaway = await readUntil(connection, (type) => type === 0x7);
      assert.ok(goaway !== undefined, "no GOAWAY");
      assert.equal(new DataView(goaway.payload.buffer).getUint32(4), 0x9);
    } finally {
      connection.close();
    }
    await assertStillServing();
  });
});

Deno.test("a client's GOAWAY gets no GOAWAY back; the connection serves until the client closes it", async () => {
  await withServer(async () => {
    const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
    try {
      await connection.write(PREFACE);
      await connection.write(frame(0x4, 0, 0, new Uint8Array()));
      // GOAWAY: last stream 0, NO_ERROR; then a PING, which an open connection acknowledges.
      await connection.write(frame(0x7, 0, 0, new Uint8Array(8)));
      await connection.write(frame(0x6, 0, 0, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])));
      const seen = await readUntil(
        connection,
        (type, flags) => type === 0x7 || (type === 0x6 && (flags & 0x1) !== 0),
      );
      assert.ok(seen !== undefined, "the connection ended");
      assert.equal(seen.type, 0x6, "a GOAWAY came back before the PING's ACK");
      assert.deepEqual([...seen.payload], [1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      connection.close();
    }
    await assertStillServing();
  });
});

Deno.test("random frames after the preface never take the server down (seeded)", async () => {
  await withServer(async () => {
    // Mulberry32: a small seeded PRNG, so that a failure replays.
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let value = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
      return ((value ^ (value >>> 14)) >>> 0) / 2 ** 32;
    };
    for (let round = 0; round < 40; round++) {
      const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
      try {
        await connection.write(PREFACE);
        for (let index = 0; index < 5; index++) {
          const payload = Uint8Array.from(
            { length: Math.floor(random() * 64) },
            () => Math.floor(random() * 256),
          );
          const type = Math.floor(random() * 11);
          const flags = Math.floor(random() * 256);
          const streamId = Math.floor(random() * 8);
          await connection.write(frame(type, flags, streamId, payload)).catch(() => 0);
        }
      } finally {
        connection.close();
      }
    }
    await assertStillServing();
  });
});

/** A request header block of literal fields without indexing (RFC 7541 §6.2.2), new names. */
function requestHeaders(path: string): Uint8Array {
  const out: number[] = [];
  const fields: [string, string][] = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ];
  for (const [name, value] of fields) {
    out.push(0x00, name.length, ...new TextEncoder().encode(name));
    out.push(value.length, ...new TextEncoder().encode(value));
  }
  return Uint8Array.from(out);
}

/** A Put request (field 2: value) framed as one gRPC message. */
function putMessage(valueBytes: number): Uint8Array {
  const tag = [0x12];
  let length = valueBytes;
  while (length >= 0x80) {
    tag.push((length & 0x7f) | 0x80);
    length >>>= 7;
  }
  tag.push(length);
  const message = new Uint8Array(5 + tag.length + valueBytes);
  new DataView(message.buffer).setUint32(1, tag.length + valueBytes);
  message.set(tag, 5);
  return message;
}

Deno.test("WINDOW_UPDATE: none for a unary call, one per quarter window of a long request", async () => {
  await withServer(async () => {
    const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
    try {
      await connection.write(PREFACE);
      await connection.write(frame(0x4, 0, 0, new Uint8Array()));
      // Stream 1: a small unary Put, one DATA frame with END_STREAM.
      await connection.write(frame(0x1, 0x4, 1, requestHeaders("/etcdserverpb.KV/Put")));
      await connection.write(frame(0x0, 0x1, 1, putMessage(100)));
      // Stream 3: a 400 KiB Put in DATA frames of 16 KiB; the last one ends the stream.
      await connection.write(frame(0x1, 0x4, 3, requestHeaders("/etcdserverpb.KV/Put")));
      const big = putMessage(400 * 1024);
      for (let at = 0; at < big.length; at += 16384) {
        const part = big.subarray(at, Math.min(big.length, at + 16384));
        const last = at + 16384 >= big.length;
        await connection.write(frame(0x0, last ? 0x1 : 0, 3, part));
      }
      const updates: [number, number][] = [];
      const ended = new Set<number>();
      await readUntil(connection, (type, flags, payload, streamId) => {
        if (type === 0x8) updates.push([streamId, new DataView(payload.buffer).getUint32(0)]);
        if (type === 0x1 && (flags & 0x1) !== 0) ended.add(streamId);
        return ended.has(1) && ended.has(3);
      });
      assert.deepEqual([...ended].sort(), [1, 3], "both calls answered");
      // Connection-level updates (stream 0) follow their own half-window rule.
      assert.deepEqual(updates.filter(([streamId]) => streamId !== 0), [[3, 256 * 1024]]);
    } finally {
      connection.close();
    }
    await assertStillServing();
  });
});

Deno.test("messages sent in one turn share DATA frames of at most the peer's frame size, in order", async () => {
  const count = 300;
  const server = await startGrpcServer({
    transport: "native",
    host: "127.0.0.1",
    port: PORT,
    services: {
      watch: {
        watch: async (input, sink) => {
          for await (const _request of input) {
            // All in one turn, as a watch stream's pump hands over one revision's responses.
            for (let id = 0; id < count; id++) {
              void sink.send({ watchId: numberToLong(id), header: { revision: numberToLong(7) } });
            }
          }
        },
      },
    },
  });
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
  try {
    await connection.write(PREFACE);
    await connection.write(frame(0x4, 0, 0, new Uint8Array()));
    await connection.write(frame(0x1, 0x4, 1, requestHeaders("/etcdserverpb.Watch/Watch")));
    await connection.write(frame(0x0, 0, 1, new Uint8Array(5))); // one empty WatchRequest
    const frameSizes: number[] = [];
    let body = new Uint8Array(0);
    const ids: number[] = [];
    await readUntil(connection, (type, _flags, payload, streamId) => {
      if (type !== 0x0 || streamId !== 1) return false;
      frameSizes.push(payload.length);
      const joined = new Uint8Array(body.length + payload.length);
      joined.set(body);
      joined.set(payload, body.length);
      body = joined;
      while (body.length >= 5) {
        const length = new DataView(body.buffer, body.byteOffset).getUint32(1);
        if (body.length < 5 + length) break;
        const message = etcdserverpb.WatchResponse.decode(body.subarray(5, 5 + length));
        ids.push(longToNumber(message.watchId));
        body = body.slice(5 + length);
      }
      return ids.length >= count;
    });
    assert.deepEqual(ids, Array.from({ length: count }, (_, id) => id));
    assert.ok(frameSizes.every((size) => size <= 16384), `frames ${frameSizes}`);
    assert.ok(frameSizes.length < count / 10, `${frameSizes.length} DATA frames for ${count}`);
  } finally {
    connection.close();
    await server.close();
  }
});
