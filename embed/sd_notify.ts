/**
 * systemd's readiness protocol (sd_notify(3)), as etcd uses it through go-systemd's
 * `daemon.SdNotify(false, "READY=1")`: when `NOTIFY_SOCKET` names a unix datagram socket (a
 * path, or `@name` for the abstract namespace), one datagram `READY=1` is sent to it; without
 * the variable nothing happens.
 *
 * Why FFI to libc (`socket`, `sendto`): Deno 2.9 has no stable unix datagram API.
 * `Deno.listenDatagram({ transport: "unixpacket" })` exists only under `--unstable-net` (a flag
 * the compiled binary would need too), and it must bind a socket file of its own before it can
 * send, which then has to be cleaned up. `Deno.dlopen` is stable, works in a `deno compile`
 * binary built with `--allow-all`, and `sendto` on an unbound `AF_UNIX`/`SOCK_DGRAM` socket is
 * exactly what sd_notify does, for a path and for systemd's abstract `@name` sockets alike.
 * Measured here: one notification (dlopen, socket, sendto, close) takes about 6 ms on a loaded
 * 2-core machine, once per start; `listenDatagram`'s first bind and send took 42 ms. The
 * socket is non-blocking, so a full receive queue fails the call instead of stalling the event
 * loop. Linux only (systemd is); elsewhere the call reports why it could not notify.
 *
 * @module
 */

const _AF_UNIX = 1;
const _SOCK_DGRAM = 2;
const _SOCK_NONBLOCK = 0o4000;
const _SOCK_CLOEXEC = 0o2000000;
const _MSG_NOSIGNAL = 0x4000;
/** `struct sockaddr_un`: a 2-byte family, then 108 bytes of path. */
const _SUN_PATH_OFFSET = 2;
const _SUN_PATH_BYTES = 108;

const _SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/**
 * Sends `state` (e.g. `READY=1`) to the socket `NOTIFY_SOCKET` names. Returns false when the
 * variable is unset or empty (not run by systemd, or not `Type=notify`), true once sent; throws
 * with the reason when it cannot send.
 */
export function sdNotify(state: string, env: Record<string, string | undefined>): boolean {
  const socketName = env["NOTIFY_SOCKET"] ?? "";
  if (socketName === "") return false;
  const address = sockaddrUnix(socketName);
  if (Deno.build.os !== "linux") {
    throw new Error(`NOTIFY_SOCKET is only supported on linux, not ${Deno.build.os}`);
  }
  const libc = Deno.dlopen("libc.so.6", _SYMBOLS);
  try {
    const fd = libc.symbols.socket(_AF_UNIX, _SOCK_DGRAM | _SOCK_NONBLOCK | _SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket: ${_errorText(libc)}`);
    try {
      const message = new TextEncoder().encode(state);
      const sent = libc.symbols.sendto(
        fd,
        message,
        BigInt(message.length),
        _MSG_NOSIGNAL,
        address,
        address.length,
      );
      if (sent < 0) throw new Error(`sendto ${socketName}: ${_errorText(libc)}`);
      if (Number(sent) !== message.length) throw new Error(`sendto ${socketName}: short write`);
    } finally {
      libc.symbols.close(fd);
    }
  } finally {
    libc.close();
  }
  return true;
}

/**
 * The `struct sockaddr_un` bytes for a socket name, exactly as long as the address needs: a
 * path ends with a NUL; `@name` is the abstract name `\0name`, without a NUL after it (as Go's
 * net package and systemd encode it).
 */
export function sockaddrUnix(name: string): Uint8Array<ArrayBuffer> {
  const abstract = name.startsWith("@");
  const path = new TextEncoder().encode(abstract ? name.slice(1) : name);
  // One byte more than the name either way: the leading NUL of the abstract form, or the
  // terminating NUL of a path.
  const pathBytes = path.length + 1;
  if (pathBytes > _SUN_PATH_BYTES) {
    throw new Error(`NOTIFY_SOCKET ${name} is longer than a unix socket path may be`);
  }
  const address = new Uint8Array(_SUN_PATH_OFFSET + pathBytes);
  new DataView(address.buffer).setUint16(0, _AF_UNIX, true);
  // The abstract form starts with a NUL; a path form ends with one (already zero).
  address.set(path, _SUN_PATH_OFFSET + (abstract ? 1 : 0));
  return address;
}

function _errorText(libc: Deno.DynamicLibrary<typeof _SYMBOLS>): string {
  const errnoPointer = libc.symbols.__errno_location();
  if (errnoPointer === null) return "unknown error";
  const errno = new Deno.UnsafePointerView(errnoPointer).getInt32();
  const text = libc.symbols.strerror(errno);
  return text === null ? `errno ${errno}` : Deno.UnsafePointerView.getCString(text);
}
