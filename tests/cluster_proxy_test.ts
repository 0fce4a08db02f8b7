// Goal: the cluster tests' TCP proxy (tests/rafthttp_tcp_proxy.ts) closes each connection at
// most once, whatever closes it first: a head read that times out, block(), cut(), a pump
// ending, close(). A second close used to throw Deno's BadResource from a dangling promise,
// which fails the whole test file as an uncaught error.
// Method: a real echo target behind a proxy on 127.0.0.1 (ports 24190-24193); each way of
// closing is driven in turn while bytes still flow; Deno's test runner fails this test on
// any unhandled rejection.
import { strictEqual } from "node:assert/strict";
import { TcpProxy } from "./rafthttp_tcp_proxy.ts";

const TARGET_PORT = 24190;
const PROXY_PORT = 24191;
const encoder = new TextEncoder();

/** A server that echoes every byte back until the connection ends. */
function echoServer(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      void (async () => {
        const buffer = new Uint8Array(4096);
        try {
          for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
            await conn.write(buffer.subarray(0, n));
          }
        } catch {
          // The proxy closed it.
        }
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      })();
    }
  })();
  return {
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await serving.catch(() => {});
    },
  };
}

/** Dials the proxy as member `from` and checks one echo round trip. */
async function dial(from: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: PROXY_PORT });
  const head = encoder.encode(`GET /raft/stream/msgapp HTTP/1.1\r\nX-Server-From: ${from}\r\n\r\n`);
  await conn.write(head);
  const buffer = new Uint8Array(head.length);
  let length = 0;
  while (length < head.length) {
    const n = await conn.read(buffer.subarray(length));
    if (n === null) throw new Error("proxy closed the connection");
    length += n;
  }
  strictEqual(new TextDecoder().decode(buffer), new TextDecoder().decode(head));
  return conn;
}

/** Reads until the proxy closes `conn` (null or an error), bounded at 5 s. */
async function closedByProxy(conn: Deno.Conn): Promise<boolean> {
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    return await conn.read(new Uint8Array(16)) === null;
  } catch {
    return true;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

Deno.test({
  name: "the proxy closes a connection once, however many ways close it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const target = echoServer(TARGET_PORT);
    const proxy = new TcpProxy(PROXY_PORT, TARGET_PORT);
    try {
      // A dialer that never sends its head: the proxy's 2 s head timer closes it, then the
      // failed read closes it again.
      const silent = await Deno.connect({ hostname: "127.0.0.1", port: PROXY_PORT });
      strictEqual(await closedByProxy(silent), true);

      // block() closes a forwarded connection while both pumps still run; they close it too.
      const blocked = await dial("aa");
      proxy.block(["aa"]);
      strictEqual(await closedByProxy(blocked), true);
      proxy.block([]);

      // cut() closes everything; the pumps end and close again; a new dial is refused.
      const cutOff = await dial("bb");
      proxy.cut();
      strictEqual(await closedByProxy(cutOff), true);
      proxy.heal();

      // A healed proxy forwards again; close() twice is harmless.
      const last = await dial("cc");
      await proxy.close();
      strictEqual(await closedByProxy(last), true);
      await proxy.close();
      // Give the dangling pumps a turn to finish before the test ends.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await proxy.close();
      await target.close();
    }
  },
});
