// Goal: the native HTTP/2 transport keeps etcd's gRPC keepalive contract (grpc-go's server
// keepalive and enforcement policy, set by --grpc-keepalive-interval, -timeout, -min-time):
// an idle connection is pinged after the interval and closed when the ping goes unanswered for
// the timeout; a client that answers stays connected; a client that pings too often is sent
// GOAWAY ENHANCE_YOUR_CALM "too_many_pings" on the third strike.
// Method: raw TCP clients writing frames by hand against startGrpcServer({transport: "native"})
// with short keepalive times, on 127.0.0.1:34500.
import assert from "node:assert/strict";
import { startGrpcServer } from "../grpc_server.ts";
import type { KeepAlivePolicy } from "./connection.ts";

const PORT = 34500;
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const TYPE_SETTINGS = 0x4;
const TYPE_PING = 0x6;
const TYPE_GOAWAY = 0x7;
const FLAG_ACK = 0x1;

function _frame(type: number, flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[2] = payload.length;
  out[3] = type;
  out[4] = flags;
  out.set(payload, 9);
  return out;
}

/** Frames as they arrive; `undefined` once the server closed the connection. */
async function* _frames(
  connection: Deno.Conn,
): AsyncGenerator<{ type: number; flags: number; payload: Uint8Array }> {
  let buffer = new Uint8Array(0);
  const chunk = new Uint8Array(65536);
  for (;;) {
    while (buffer.length >= 9) {
      const length = (buffer[0]! << 16) | (buffer[1]! << 8) | buffer[2]!;
      if (buffer.length < 9 + length) break;
      yield { type: buffer[3]!, flags: buffer[4]!, payload: buffer.slice(9, 9 + length) };
      buffer = buffer.slice(9 + length);
    }
    const count = await connection.read(chunk).catch(() => null);
    if (count === null) return;
    const joined = new Uint8Array(buffer.length + count);
    joined.set(buffer);
    joined.set(chunk.subarray(0, count), buffer.length);
    buffer = joined;
  }
}

async function _withServer(policy: KeepAlivePolicy, fn: () => Promise<void>): Promise<void> {
  const server = await startGrpcServer({
    transport: "native",
    host: "127.0.0.1",
    port: PORT,
    services: {},
    keepAlive: policy,
  });
  try {
    await fn();
  } finally {
    await server.close();
  }
}

async function _open(): Promise<Deno.Conn> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: PORT });
  await connection.write(PREFACE);
  await connection.write(_frame(TYPE_SETTINGS, 0, new Uint8Array()));
  return connection;
}

Deno.test("an idle client that does not answer the keepalive PING is disconnected", async () => {
  await _withServer({ intervalMs: 200, timeoutMs: 200, minTimeMs: 5000 }, async () => {
    const connection = await _open();
    const started = Date.now();
    let pingAt = 0;
    try {
      for await (const frame of _frames(connection)) {
        if (frame.type === TYPE_PING && (frame.flags & FLAG_ACK) === 0) pingAt = Date.now();
      }
      const closedAt = Date.now();
      assert.ok(pingAt - started >= 150, `pinged after the interval (${pingAt - started} ms)`);
      assert.ok(closedAt - pingAt >= 150, `closed after the timeout (${closedAt - pingAt} ms)`);
      assert.ok(closedAt - started < 5000, "closed within bounds");
    } finally {
      connection.close();
    }
  });
});

Deno.test("a client that answers the keepalive PINGs stays connected", async () => {
  await _withServer({ intervalMs: 100, timeoutMs: 100, minTimeMs: 5000 }, async () => {
    const connection = await _open();
    let pings = 0;
    try {
      for await (const frame of _frames(connection)) {
        if (frame.type === TYPE_GOAWAY) assert.fail("GOAWAY to a client that answers");
        if (frame.type === TYPE_PING && (frame.flags & FLAG_ACK) === 0) {
          await connection.write(_frame(TYPE_PING, FLAG_ACK, frame.payload));
          if (++pings === 5) break;
        }
      }
      assert.equal(pings, 5, "five pings answered without being disconnected");
    } finally {
      connection.close();
    }
  });
});

Deno.test("the third ping too soon gets GOAWAY ENHANCE_YOUR_CALM too_many_pings", async () => {
  await _withServer({ intervalMs: 60_000, timeoutMs: 20_000, minTimeMs: 5000 }, async () => {
    const connection = await _open();
    try {
      for (let i = 0; i < 4; i++) {
        await connection.write(_frame(TYPE_PING, 0, new Uint8Array(8).fill(i)));
      }
      let acks = 0;
      let goaway: Uint8Array | undefined;
      for await (const frame of _frames(connection)) {
        if (frame.type === TYPE_PING && (frame.flags & FLAG_ACK) !== 0) acks++;
        if (frame.type === TYPE_GOAWAY) goaway = frame.payload;
      }
      assert.ok(goaway !== undefined, "GOAWAY sent");
      assert.equal(new DataView(goaway.buffer).getUint32(4), 0xb, "ENHANCE_YOUR_CALM");
      assert.equal(new TextDecoder().decode(goaway.subarray(8)), "too_many_pings");
      // The first ping is fine, the next two are strikes one and two, the fourth is the third.
      assert.equal(acks, 3);
    } finally {
      connection.close();
    }
  });
});
