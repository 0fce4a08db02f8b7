// Goal: detcd tells systemd it is ready (`READY=1` on `NOTIFY_SOCKET`, as etcd's go-systemd
// SdNotify) only once it serves clients, for a path socket and an abstract `@name` socket, and a
// NOTIFY_SOCKET nobody listens on costs an error line, not the member. The real etcd runs the
// same check first, so the test pins etcd's behaviour, not ours.
// Method: the test binds a unix datagram socket itself (libc through FFI, non-blocking, polled),
// starts a member with NOTIFY_SOCKET pointing at it, and the moment the datagram arrives asks
// the client port for /health: it must answer 200 at once. Ports 34000-34019.
import { equal, ok } from "node:assert/strict";
import { ETCD_BIN, type Impl, memberArgs, spawnServer } from "./_harness.ts";
import { sockaddrUnix } from "../embed/mod.ts";

const _SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/** A bound, non-blocking unix datagram socket: what systemd listens on. */
class _NotifyListener {
  readonly #libc = Deno.dlopen("libc.so.6", _SYMBOLS);
  readonly #fd: number;

  constructor(name: string) {
    const nonblockCloexec = 0o4000 | 0o2000000;
    this.#fd = this.#libc.symbols.socket(1, 2 | nonblockCloexec, 0);
    ok(this.#fd >= 0, "socket(AF_UNIX, SOCK_DGRAM)");
    const address = sockaddrUnix(name);
    equal(this.#libc.symbols.bind(this.#fd, address, address.length), 0, `bind ${name}`);
  }

  /** The next datagram, or undefined when none is queued. */
  tryReceive(): string | undefined {
    const buffer = new Uint8Array(4096);
    const size = Number(this.#libc.symbols.recv(this.#fd, buffer, 4096n, 0));
    return size < 0 ? undefined : new TextDecoder().decode(buffer.subarray(0, size));
  }

  close(): void {
    this.#libc.symbols.close(this.#fd);
    this.#libc.close();
  }
}

async function _health(port: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, {
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/** Starts `impl` with NOTIFY_SOCKET=`name`; returns when READY=1 arrived and was checked. */
async function _readyAfterServing(impl: Impl, name: string, ports: number[]): Promise<void> {
  const listener = new _NotifyListener(name);
  const dir = await Deno.makeTempDir({ prefix: "detcd-notify-" });
  const [clientPort, peerPort] = ports as [number, number];
  const server = spawnServer(
    impl,
    memberArgs({ impl, clientPort, peerPort }, `${dir}/data`),
    { endpoint: `127.0.0.1:${clientPort}`, env: { NOTIFY_SOCKET: name } },
  );
  try {
    const deadline = Date.now() + 30_000;
    let message: string | undefined;
    while (message === undefined) {
      ok(Date.now() < deadline, `${impl}: no READY=1 within 30 s:\n${server.log}`);
      ok(server.exited === undefined, `${impl} exited:\n${server.log}`);
      message = listener.tryReceive();
      if (message === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    equal(message, "READY=1");
    equal(await _health(clientPort), 200, `${impl}: /health right after READY=1`);
    equal(listener.tryReceive(), undefined, "exactly one notification");
  } finally {
    await server.stop(5000);
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const _hasEtcd = await Deno.stat(ETCD_BIN).then(() => true, () => false);

Deno.test({
  name: "etcd 3.4 sends READY=1 once it serves clients (reference)",
  ignore: !_hasEtcd || Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "detcd-notify-sock-" });
    await _readyAfterServing("etcd", `${dir}/notify.sock`, [34000, 34001]);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "detcd sends READY=1 on a path NOTIFY_SOCKET only once /health answers",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "detcd-notify-sock-" });
    await _readyAfterServing("detcd", `${dir}/notify.sock`, [34002, 34003]);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "detcd sends READY=1 on an abstract @name NOTIFY_SOCKET",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await _readyAfterServing("detcd", `@detcd-notify-test-${Deno.pid}`, [34004, 34005]);
  },
});

Deno.test({
  name: "a NOTIFY_SOCKET nobody listens on is logged as etcd logs it; the member serves on",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "detcd-notify-" });
    const clientPort = 34006;
    const server = spawnServer(
      "detcd",
      memberArgs({ impl: "detcd", clientPort, peerPort: 34007 }, `${dir}/data`),
      {
        endpoint: `127.0.0.1:${clientPort}`,
        env: { NOTIFY_SOCKET: `${dir}/nobody.sock` },
      },
    );
    try {
      await server.waitFor("failed to notify systemd for readiness", 30_000);
      ok(server.log.includes("No such file or directory"), server.log);
      equal(await _health(clientPort), 200);
    } finally {
      await server.stop(5000);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
