/**
 * A TCP proxy a test controls, to put faults between two members: `freeze()` stops forwarding
 * (connections stay open, bytes wait: a partition as the kernel sees it), `cut()` closes every
 * connection and refuses new ones, `heal()` forwards again.
 *
 * Put in front of a member's advertised peer URL, it sees every connection other members dial
 * to it. Each carries HTTP requests with an `X-Server-From` header naming the dialer, so
 * `block(["a1b2..."])` refuses exactly the traffic of some members (etcd streams are dialed by
 * the reader: the messages from member T to member F travel on a connection F dialed to T).
 * Blocking F at T's proxy and T at F's proxy is a symmetric partition between F and T.
 *
 * @module
 */

/** A controllable TCP forwarder from `listenPort` to `targetPort` on 127.0.0.1. */
export class TcpProxy {
  private readonly listener: Deno.Listener;
  private readonly connections = new Set<Deno.Conn>();
  private mode: "open" | "frozen" | "cut" = "open";
  private blocked = new Set<string>();
  /** The member each source connection speaks for (from its first request's headers). */
  private readonly senders = new Map<Deno.Conn, string>();
  private resumeWaiters: (() => void)[] = [];
  /** Connections already closed: closing is idempotent (Deno throws BadResource twice). */
  private readonly closed = new WeakSet<Deno.Conn>();
  private stopped = false;
  private readonly accepting: Promise<void>;

  constructor(readonly listenPort: number, readonly targetPort: number) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: listenPort });
    this.accepting = this._accept();
  }

  /** Stops forwarding bytes; connections stay open. */
  freeze(): void {
    this.mode = "frozen";
  }

  /** Closes every connection and refuses new ones until healed. */
  cut(): void {
    this.mode = "cut";
    this._closeAll();
  }

  /** Forwards again. */
  heal(): void {
    this.mode = "open";
    for (const resume of this.resumeWaiters.splice(0)) resume();
  }

  /** Refuses connections from these member IDs (hex) and closes theirs; replaces the set. */
  block(memberIds: string[]): void {
    this.blocked = new Set(memberIds);
    for (const [conn, from] of this.senders) {
      if (this.blocked.has(from)) this._closeConn(conn);
    }
  }

  /** Stops listening and closes everything. */
  async close(): Promise<void> {
    // "cut" also stops a connection being opened right now from being forwarded.
    this.mode = "cut";
    if (!this.stopped) this.listener.close();
    this.stopped = true;
    this._closeAll();
    for (const resume of this.resumeWaiters.splice(0)) resume();
    await this.accepting;
  }

  private _closeConn(conn: Deno.Conn): void {
    this.senders.delete(conn);
    this.connections.delete(conn);
    this._close(conn);
  }

  private _closeAll(): void {
    for (const conn of this.connections) this._close(conn);
    this.connections.clear();
  }

  /**
   * Closes `conn` once: `block()`, `cut()`, a pump ending and a timed-out head read may all
   * close the same connection.
   */
  private _close(conn: Deno.Conn): void {
    if (this.closed.has(conn)) return;
    this.closed.add(conn);
    try {
      conn.close();
    } catch {
      // Closed by Deno itself (the peer reset it).
    }
  }

  private async _accept(): Promise<void> {
    while (true) {
      let source: Deno.Conn;
      try {
        source = await this.listener.accept();
      } catch {
        return;
      }
      if (this.mode === "cut") {
        this._close(source);
        continue;
      }
      // _open closes what it cannot forward; nothing it throws may escape as unhandled.
      void this._open(source).catch(() => this._close(source));
    }
  }

  private async _open(source: Deno.Conn): Promise<void> {
    // Read the first request's headers to learn who is dialing.
    const first = await _readHead(source, () => this._close(source));
    if (first === undefined) {
      this._close(source);
      return;
    }
    const from = /\r\nX-Server-From: *([0-9a-f]+)/i.exec(new TextDecoder().decode(first))?.[1];
    if (from !== undefined && this.blocked.has(from)) {
      this._close(source);
      return;
    }
    while (this.mode === "frozen") {
      await new Promise<void>((resolve) => this.resumeWaiters.push(resolve));
    }
    let target: Deno.Conn;
    try {
      target = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
      let written = 0;
      while (written < first.length) written += await target.write(first.subarray(written));
    } catch {
      this._close(source);
      return;
    }
    if (this.mode === "cut") {
      this._close(source);
      this._close(target);
      return;
    }
    this.connections.add(source);
    this.connections.add(target);
    if (from !== undefined) this.senders.set(source, from);
    void this._pump(source, target);
    void this._pump(target, source);
  }

  private async _pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        while (this.mode === "frozen") {
          await new Promise<void>((resolve) => this.resumeWaiters.push(resolve));
        }
        if (!this.connections.has(to)) break;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // A closed side ends the pump.
    }
    this._closeConn(from);
    this._closeConn(to);
  }
}

/**
 * Reads until the end of the HTTP head (or 16 KiB, or 2 s, after which `close` is called);
 * undefined when the peer left.
 */
async function _readHead(
  conn: Deno.Conn,
  close: () => void,
): Promise<Uint8Array | undefined> {
  const buffer = new Uint8Array(16 * 1024);
  let length = 0;
  const timer = setTimeout(close, 2000);
  try {
    while (length < buffer.length) {
      const n = await conn.read(buffer.subarray(length));
      if (n === null) return undefined;
      length += n;
      const text = new TextDecoder().decode(buffer.subarray(0, length));
      if (text.includes("\r\n\r\n")) break;
    }
    return buffer.slice(0, length);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
