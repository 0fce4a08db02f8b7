/**
 * A TCP proxy a test controls, to put faults between two members: `freeze()` stops forwarding
 * (connections stay open, bytes wait: a partition as the kernel sees it), `cut()` closes every
 * connection and refuses new ones, `heal()` forwards again.
 *
 * @module
 */

/** A controllable TCP forwarder from `listenPort` to `targetPort` on 127.0.0.1. */
export class TcpProxy {
  private readonly listener: Deno.Listener;
  private readonly connections = new Set<Deno.Conn>();
  private mode: "open" | "frozen" | "cut" = "open";
  private resumeWaiters: (() => void)[] = [];
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

  /** Stops listening and closes everything. */
  async close(): Promise<void> {
    this.listener.close();
    this._closeAll();
    for (const resume of this.resumeWaiters.splice(0)) resume();
    await this.accepting;
  }

  private _closeAll(): void {
    for (const conn of this.connections) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    this.connections.clear();
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
        source.close();
        continue;
      }
      let target: Deno.Conn;
      try {
        target = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
      } catch {
        source.close();
        continue;
      }
      this.connections.add(source);
      this.connections.add(target);
      void this._pump(source, target);
      void this._pump(target, source);
    }
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
    for (const conn of [from, to]) {
      if (this.connections.delete(conn)) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
    }
  }
}
