/**
 * Goal: bad input gets a clear error and loses nothing already stored: unknown flags and bad
 * values (etcd's texts, exit status 2), a data dir that is not a directory, a WAL dir it cannot
 * use, an oversized request, a txn with 129 ops or a duplicate key, malformed gRPC frames.
 * Method: flag errors are compared with the real /usr/bin/etcd's output for the same command
 * line. Request errors are sent to a running member (detcd, or real etcd while detcd's server
 * is not ready, see tests/_harness.ts diffTarget) holding a key; afterwards the key must still
 * read back and a new put must still work.
 */
import { ok, strictEqual } from "node:assert/strict";
import { encodeLiteral, HpackDecoder } from "../api/h2/hpack.ts";
import {
  diffTarget,
  ETCD_BIN,
  etcdctl,
  type Member,
  REPO_ROOT,
  run,
  startMember,
} from "./_harness.ts";

function _detcd(args: string[]) {
  return run(Deno.execPath(), ["run", "-A", `${REPO_ROOT}/main.ts`, ...args], { timeoutMs: 20000 });
}

Deno.test("flag errors: detcd prints etcd's message and exits with status 2", async () => {
  const cases = [
    ["--bogus"],
    ["--snapshot-count", "abc"],
    ["--initial-cluster-state", "foo"],
    ["--listen-client-urls", "foo"],
    ["--listen-peer-urls", "http://127.0.0.1"],
    ["--enable-v2=maybe"],
    ["--name"],
    ["--heartbeat-interval", "300"],
    ["--listen-client-urls", "http://127.0.0.1:23880"],
    ["--auto-compaction-mode", "x"],
  ];
  const results = await Promise.all(cases.map(async (args) => ({
    args,
    detcd: await _detcd(args),
    etcd: await run(ETCD_BIN, args, { timeoutMs: 10000 }),
  })));
  for (const { args, detcd, etcd } of results) {
    const message = detcd.stderr.split("\n")[0]!;
    ok(message.length > 10, `a message for ${args.join(" ")}`);
    ok(
      etcd.stderr.includes(message),
      `etcd says the same for ${args.join(" ")}:\n${message}\n${etcd.stderr}`,
    );
    strictEqual(detcd.code, 2, `${args.join(" ")} exits 2`);
    ok(etcd.code !== 0, "etcd refuses it too");
  }
});

Deno.test("--help and --version succeed; --version names detcd and etcd 3.4.23", async () => {
  const help = await _detcd(["--help"]);
  strictEqual(help.code, 0);
  ok(help.stdout.includes("--initial-cluster-token"), help.stdout);
  const version = await _detcd(["--version"]);
  strictEqual(version.code, 0);
  ok(version.stdout.startsWith("detcd Version: 3.4.23\n"), version.stdout);
});

Deno.test("a data dir that is a file: a clear error, exit status 1", async () => {
  const file = await Deno.makeTempFile();
  try {
    const result = await _detcd([
      "--data-dir",
      file,
      "--listen-client-urls",
      "http://127.0.0.1:23880",
    ]);
    strictEqual(result.code === 2, true, "missing --advertise-client-urls is a flag error first");
    const plain = await _detcd([
      "--data-dir",
      file,
      "--listen-client-urls",
      "http://127.0.0.1:23880",
      "--advertise-client-urls",
      "http://127.0.0.1:23880",
      "--listen-peer-urls",
      "http://127.0.0.1:23881",
    ]);
    strictEqual(plain.code, 1, plain.stderr);
    ok(
      plain.stderr.includes(`cannot access data directory: ${file} is not a directory`),
      plain.stderr,
    );
  } finally {
    await Deno.remove(file);
  }
});

/**
 * One gRPC call over a hand-framed HTTP/2 connection (RFC 9113 §3.4 preface, §6 frames) with a
 * raw request body, so that malformed and truncated gRPC messages can be sent. Returns the
 * grpc-status and message, or `RST`/`GOAWAY` when the server ended the stream that way.
 * (node:http2's client is not used here: under load its nghttp2 can abort the whole process
 * on a GOAWAY, which would take every other test down with it.)
 */
async function _rawGrpc(
  port: number,
  path: string,
  body: Uint8Array,
): Promise<{ status: string; message: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const frame = (type: number, flags: number, stream: number, payload: Uint8Array) => {
    const out = new Uint8Array(9 + payload.length);
    const view = new DataView(out.buffer);
    out[3] = type;
    out[0] = (payload.length >> 16) & 0xff;
    out[1] = (payload.length >> 8) & 0xff;
    out[2] = payload.length & 0xff;
    out[4] = flags;
    view.setUint32(5, stream, false);
    out.set(payload, 9);
    return out;
  };
  const block: number[] = [];
  for (
    const [name, value] of [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", `127.0.0.1:${port}`],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]
  ) encodeLiteral(block, name!, value!);
  const TYPE_DATA = 0x0, TYPE_HEADERS = 0x1, TYPE_RST = 0x3, TYPE_SETTINGS = 0x4, TYPE_GOAWAY = 0x7;
  const END_STREAM = 0x1, END_HEADERS = 0x4, ACK = 0x1;
  const timer = setTimeout(() => conn.close(), 10_000);
  try {
    await conn.write(new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    await conn.write(frame(TYPE_SETTINGS, 0, 0, new Uint8Array()));
    await conn.write(frame(TYPE_HEADERS, END_HEADERS, 1, new Uint8Array(block)));
    await conn.write(frame(TYPE_DATA, END_STREAM, 1, body));
    const decoder = new HpackDecoder();
    const result = { status: "", message: "" };
    let buffered = new Uint8Array();
    const chunk = new Uint8Array(16384);
    for (;;) {
      while (buffered.length >= 9) {
        const length = (buffered[0]! << 16) | (buffered[1]! << 8) | buffered[2]!;
        if (buffered.length < 9 + length) break;
        const [type, flags] = [buffered[3]!, buffered[4]!];
        const payload = buffered.slice(9, 9 + length);
        buffered = buffered.slice(9 + length);
        if (type === TYPE_SETTINGS && (flags & ACK) === 0) {
          await conn.write(frame(TYPE_SETTINGS, ACK, 0, new Uint8Array()));
        } else if (type === TYPE_HEADERS) {
          for (const [name, value] of decoder.decode(payload)) {
            if (name === "grpc-status") result.status = value;
            if (name === "grpc-message") result.message = decodeURIComponent(value);
          }
          if ((flags & END_STREAM) !== 0) return result;
        } else if (type === TYPE_RST) {
          return { status: result.status || "RST", message: result.message };
        } else if (type === TYPE_GOAWAY) {
          return { status: result.status || "GOAWAY", message: result.message };
        }
      }
      const read = await conn.read(chunk);
      if (read === null) return { status: result.status || "EOF", message: result.message };
      const joined = new Uint8Array(buffered.length + read);
      joined.set(buffered);
      joined.set(chunk.subarray(0, read), buffered.length);
      buffered = joined;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer already.
    }
  }
}

async function _intact(member: Member): Promise<void> {
  const get = await etcdctl(member.endpoint, ["get", "keep", "--print-value-only"]);
  strictEqual(get.stdout, "safe\n", "the stored key survived");
  const put = await etcdctl(member.endpoint, ["put", "after", "ok"]);
  strictEqual(put.code, 0, put.stderr);
}

Deno.test("oversized request, 129-op txn, duplicate txn key, malformed frames: refused, data kept", async () => {
  const impl = await diffTarget();
  const member = await startMember({ impl, clientPort: 23882, peerPort: 23883 });
  try {
    strictEqual((await etcdctl(member.endpoint, ["put", "keep", "safe"])).code, 0);

    const big = await etcdctl(member.endpoint, ["put", "big"], {
      stdin: "x".repeat(1800 * 1024),
    });
    strictEqual(big.code, 1);
    ok(big.stderr.includes("Error: etcdserver: request is too large"), big.stderr);

    const ops = Array.from({ length: 129 }, (_, index) => `put k${index} v`).join("\n");
    const many = await etcdctl(member.endpoint, ["txn"], { stdin: `\n${ops}\n\n\n` });
    strictEqual(many.code, 1);
    ok(many.stderr.includes("Error: etcdserver: too many operations in txn request"), many.stderr);
    const limit = await etcdctl(member.endpoint, ["txn"], {
      stdin: `\n${ops.split("\n").slice(1).join("\n")}\n\n\n`,
    });
    strictEqual(limit.code, 0, `128 ops are allowed: ${limit.stderr}`);

    const duplicate = await etcdctl(member.endpoint, ["txn"], {
      stdin: "\nput d 1\nput d 2\n\n\n",
    });
    ok(
      duplicate.stderr.includes("Error: etcdserver: duplicate key given in txn request"),
      duplicate.stderr,
    );

    const port = 23882;
    // A length prefix of 5 bytes followed by a field with an over-long varint.
    const malformed = await _rawGrpc(
      port,
      "/etcdserverpb.KV/Put",
      new Uint8Array([0, 0, 0, 0, 5, 0x0a, 0xff, 0xff, 0xff, 0xff]),
    );
    strictEqual(malformed.status, "13", `malformed protobuf: ${JSON.stringify(malformed)}`);
    const truncated = await _rawGrpc(
      port,
      "/etcdserverpb.KV/Put",
      new Uint8Array([0, 0, 0, 0, 9, 1, 2]),
    );
    ok(
      truncated.status !== "" && truncated.status !== "0",
      `truncated frame: ${JSON.stringify(truncated)}`,
    );
    const unknown = await _rawGrpc(port, "/etcdserverpb.KV/Nope", new Uint8Array([0, 0, 0, 0, 0]));
    strictEqual(unknown.status, "12", `unknown method: ${JSON.stringify(unknown)}`);

    await _intact(member);
  } finally {
    await member.stop();
  }
});

Deno.test("a WAL dir that is a file: detcd refuses clearly, and the data is there after", async () => {
  const impl = await diffTarget();
  const dir = await Deno.makeTempDir({ prefix: "detcd-baddir-" });
  try {
    const dataDir = `${dir}/data`;
    const first = await startMember({ impl, clientPort: 23884, peerPort: 23885, dataDir });
    try {
      strictEqual((await etcdctl(first.endpoint, ["put", "keep", "safe"])).code, 0);
    } finally {
      await first.stop();
    }
    await Deno.writeTextFile(`${dir}/not-a-dir`, "x");
    // Always detcd here: main.ts checks the directories before it starts any server.
    const failed = await startMember({
      impl: "detcd",
      clientPort: 23884,
      peerPort: 23885,
      dataDir,
      extraArgs: ["--wal-dir", `${dir}/not-a-dir`],
      readyTimeoutMs: 10000,
    }).then(async (member) => {
      await member.stop();
      return "";
    }, (error: Error) => error.message);
    ok(failed.includes("exited with 1"), `refused to start: ${failed}`);
    ok(/not a directory|not-a-dir/.test(failed), failed);

    const again = await startMember({ impl, clientPort: 23884, peerPort: 23885, dataDir });
    try {
      await _intact(again);
    } finally {
      await again.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
