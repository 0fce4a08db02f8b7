/**
 * Auto-compaction (etcd's `etcdserver/api/v3compactor`), run by the leader only:
 *
 * - `revision` mode, retention N: every check interval, compact at `current revision - N`
 *   when that moved since the last compaction (etcd checks every 5 minutes; we check more
 *   often, at most once per minute, with the same result for a steady load);
 * - `periodic` mode, retention D (a Go duration such as `30m`, or a number of hours): the
 *   revision is sampled every D/10 (at most hourly), and the store is compacted at the
 *   revision it had D ago, keeping D of history.
 *
 * A retention of `0` disables it. Compactions go through raft like a client's Compact.
 *
 * @module
 */

import { parseGoDurationMs, type ServerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { int64 } from "./kv_ops.ts";

/** What the compactor needs from the server. */
export interface CompactorHost {
  readonly isLeader: boolean;
  readonly kv: { readonly rev: number; readonly compactRev: number };
  propose(req: { compaction: { revision: ReturnType<typeof int64>; physical?: boolean } }): Promise<
    unknown
  >;
}

const _REVISION_CHECK_MS = 60_000;
const _HOUR_MS = 3_600_000;

/** The auto-compaction loop. */
export class Compactor {
  readonly #host: CompactorHost;
  readonly #log: Logger;
  readonly #mode: "periodic" | "revision";
  /** Revisions to keep (revision mode) or milliseconds of history (periodic mode). */
  readonly #retention: number;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Periodic mode: sampled revisions, oldest first. */
  readonly #samples: number[] = [];
  #lastCompacted = 0;

  /** Reads the mode and retention from the config; throws on a malformed retention. */
  constructor(host: CompactorHost, cfg: ServerConfig, log: Logger) {
    this.#host = host;
    this.#log = log;
    this.#mode = cfg.autoCompactionMode;
    const text = cfg.autoCompactionRetention.trim() === "" ? "0" : cfg.autoCompactionRetention;
    if (this.#mode === "revision") {
      this.#retention = Number(text);
      if (!Number.isSafeInteger(this.#retention) || this.#retention < 0) {
        throw new Error(`invalid auto-compaction-retention ${JSON.stringify(text)}`);
      }
      this.#intervalMs = _REVISION_CHECK_MS;
    } else {
      const hours = /^\d+$/.test(text) ? Number(text) * _HOUR_MS : undefined;
      const ms = hours ?? _durationMsOrUndefined(text);
      if (ms === undefined || ms < 0) {
        throw new Error(`invalid auto-compaction-retention ${JSON.stringify(text)}`);
      }
      this.#retention = ms;
      this.#intervalMs = Math.max(1, Math.min(ms / 10, _HOUR_MS));
    }
  }

  /** Whether auto-compaction is on. */
  get enabled(): boolean {
    return this.#retention > 0;
  }

  /** Starts the loop (no-op when disabled). */
  start(): void {
    if (!this.enabled || this.#timer !== undefined) return;
    this.#log.info("auto compaction enabled", {
      mode: this.#mode,
      retention: this.#mode === "revision" ? this.#retention : `${this.#retention}ms`,
    });
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
  }

  /** Stops the loop. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Runs one check now (tests; the loop calls it every interval). */
  checkNow(): void {
    this.#tick();
  }

  #tick(): void {
    const rev = this.#host.kv.rev;
    let target: number;
    if (this.#mode === "revision") {
      target = rev - this.#retention;
    } else {
      // D/10 per sample: the sample 10 ticks ago is the revision of D ago.
      this.#samples.push(rev);
      if (this.#samples.length <= 10) return;
      target = this.#samples.shift()!;
    }
    if (!this.#host.isLeader) return;
    if (target <= 0 || target <= this.#lastCompacted || target <= this.#host.kv.compactRev) return;
    this.#lastCompacted = target;
    this.#host.propose({ compaction: { revision: int64(target) } }).then(
      () => this.#log.info("completed auto revision compaction", { revision: target }),
      (error) =>
        this.#log.warn("failed auto compaction", { revision: target, error: String(error) }),
    );
  }
}

/** A Go duration in milliseconds, or undefined when `text` is not one. */
function _durationMsOrUndefined(text: string): number | undefined {
  try {
    return parseGoDurationMs(text);
  } catch {
    return undefined;
  }
}
