/**
 * Auto-compaction decisions (etcd `etcdserver/api/v3compactor`), with time injected: the server
 * calls `poll(nowMs, currentRev)` now and then (every second is plenty); when it returns a
 * revision the server proposes a Compaction through raft and reports the outcome with
 * `finished(...)`. No timers live here.
 *
 * - revision mode (`--auto-compaction-mode revision --auto-compaction-retention N`): every
 *   5 minutes, compact at `current - N` unless that is not positive or was compacted last time;
 * - periodic mode (`--auto-compaction-retention 1h`, or a bare number of hours): sample the
 *   revision every `min(period, 1h) / 10`; once `period` has passed since the last success
 *   (then every `min(period, 1h)`), compact at the revision sampled `period` ago.
 *
 * @module
 */

/** The revision-mode check interval (etcd `revInterval`). */
export const REVISION_COMPACTION_INTERVAL_MS = 5 * 60 * 1000;
const _HOUR_MS = 60 * 60 * 1000;
const _RETRY_DIVISOR = 10;

/** Decides compactions; implemented by both modes. */
export interface AutoCompactor {
  /** The revision to compact now, or undefined. */
  poll(nowMs: number, currentRev: number): number | undefined;
  /** Reports the outcome of the last compaction `poll` asked for (compacted counts as ok). */
  finished(nowMs: number, rev: number, ok: boolean): void;
}

/** Revision mode: keep the last `retention` revisions. */
export class RevisionCompactor implements AutoCompactor {
  #nextMs: number;
  #last = 0;

  readonly #intervalMs: number;
  readonly #retention: number;

  constructor(
    retention: number,
    startMs: number,
    intervalMs: number = REVISION_COMPACTION_INTERVAL_MS,
  ) {
    this.#intervalMs = intervalMs;
    this.#retention = retention;
    if (!Number.isSafeInteger(retention) || retention < 0) {
      throw new RangeError("revision retention must be a non-negative integer");
    }
    this.#nextMs = startMs + intervalMs;
  }

  poll(nowMs: number, currentRev: number): number | undefined {
    if (nowMs < this.#nextMs) return undefined;
    this.#nextMs = nowMs + this.#intervalMs;
    const rev = currentRev - this.#retention;
    if (rev <= 0 || rev === this.#last) return undefined;
    return rev;
  }

  finished(_nowMs: number, rev: number, ok: boolean): void {
    if (ok) this.#last = rev;
  }
}

/** Periodic mode: keep `periodMs` worth of history. */
export class PeriodicCompactor implements AutoCompactor {
  readonly #retryMs: number;
  readonly #compactIntervalMs: number;
  readonly #retentions: number;
  readonly #revs: number[] = [];
  #lastSuccessMs: number;
  #baseIntervalMs: number;
  #nextMs: number;

  readonly #periodMs: number;

  constructor(periodMs: number, startMs: number, startRev: number) {
    this.#periodMs = periodMs;
    if (!(periodMs > 0)) throw new RangeError("compaction period must be positive");
    this.#compactIntervalMs = Math.min(periodMs, _HOUR_MS);
    this.#retryMs = this.#compactIntervalMs / _RETRY_DIVISOR;
    this.#retentions = Math.floor(periodMs / this.#retryMs) + 1;
    this.#lastSuccessMs = startMs;
    this.#baseIntervalMs = periodMs;
    this.#record(startRev);
    this.#nextMs = startMs + this.#retryMs;
  }

  poll(nowMs: number, currentRev: number): number | undefined {
    if (nowMs < this.#nextMs) return undefined;
    this.#nextMs = nowMs + this.#retryMs;
    if (nowMs - this.#lastSuccessMs < this.#baseIntervalMs) {
      this.#record(currentRev);
      return undefined;
    }
    if (this.#baseIntervalMs === this.#periodMs) this.#baseIntervalMs = this.#compactIntervalMs;
    const rev = this.#revs[0]!;
    this.#record(currentRev);
    return rev;
  }

  finished(nowMs: number, _rev: number, ok: boolean): void {
    if (ok) this.#lastSuccessMs = nowMs;
  }

  /** Keeps a sliding window whose first element is the revision one period ago. */
  #record(rev: number): void {
    this.#revs.push(rev);
    if (this.#revs.length > this.#retentions) this.#revs.shift();
  }
}

/**
 * Parses `--auto-compaction-retention` as etcd does: a bare non-negative integer is hours in
 * periodic mode and revisions in revision mode; otherwise a Go duration ("30m", "1h30m", "5s").
 * Returns milliseconds (periodic) or revisions (revision); 0 disables auto-compaction.
 */
export function parseCompactionRetention(mode: "periodic" | "revision", value: string): number {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return mode === "periodic" ? n * _HOUR_MS : n;
  }
  if (mode === "revision") throw new RangeError(`invalid revision retention ${value}`);
  return _parseGoDurationMs(value);
}

const _UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: _HOUR_MS,
};

function _parseGoDurationMs(value: string): number {
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)/y;
  let total = 0;
  const rest = value.startsWith("+") ? value.slice(1) : value;
  if (rest === "0") return 0;
  if (rest.length === 0 || rest.startsWith("-")) {
    throw new RangeError(`error parsing CompactionRetention: time: invalid duration "${value}"`);
  }
  re.lastIndex = 0;
  while (re.lastIndex < rest.length) {
    const m = re.exec(rest);
    if (m === null) {
      throw new RangeError(`error parsing CompactionRetention: time: invalid duration "${value}"`);
    }
    total += Number(m[1]) * _UNIT_MS[m[2]!]!;
  }
  return total;
}
