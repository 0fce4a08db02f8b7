/**
 * The v2 statistics of a member (etcd's `etcdserver/api/v2stats`), served as
 * `/v2/stats/self` and `/v2/stats/leader`:
 *
 * - server stats: this member's state, its leader and since when, how many MsgApp it sent
 *   and received, and the rates (messages and bytes a second) over the last 200 of each,
 *   counted as etcd counts them (sent by the transport, received before raft steps them);
 * - leader stats: per follower, the latency of each MsgApp (and link heartbeat) written to
 *   its msgappv2 stream or posted through the pipeline, and the failures.
 *
 * @module
 */

import { type Entry, type Message, MessageType } from "../raft/mod.ts";

/** etcd's statsQueue capacity. */
const _QUEUE_CAPACITY = 200;

/** A ring of the last {@link _QUEUE_CAPACITY} requests: etcd's statsQueue. */
class _RateQueue {
  readonly #times = new Float64Array(_QUEUE_CAPACITY);
  readonly #sizes = new Float64Array(_QUEUE_CAPACITY);
  #front = 0;
  #back = -1;
  #size = 0;
  #bytes = 0;

  insert(nowMs: number, bytes: number): void {
    this.#back = (this.#back + 1) % _QUEUE_CAPACITY;
    if (this.#size === _QUEUE_CAPACITY) {
      this.#bytes -= this.#sizes[this.#front]!;
      this.#front = (this.#back + 1) % _QUEUE_CAPACITY;
    } else {
      this.#size++;
    }
    this.#times[this.#back] = nowMs;
    this.#sizes[this.#back] = bytes;
    this.#bytes += bytes;
  }

  /** Messages and bytes a second over the queue; 0, 0 once the newest is a second old. */
  rate(nowMs: number): [number, number] {
    if (this.#size === 0) return [0, 0];
    const back = this.#times[this.#back]!;
    if (nowMs - back > 1000) {
      this.#front = 0;
      this.#back = -1;
      this.#size = 0;
      this.#bytes = 0;
      return [0, 0];
    }
    const sampleMs = back - this.#times[this.#front]!;
    // Go divides by a zero duration into +Inf, which its JSON encoder refuses; with one
    // sample etcd's /v2/stats/self then fails. Report 0 rather than an unencodable value.
    if (sampleMs <= 0) return [0, 0];
    return [this.#size / sampleMs * 1000, this.#bytes / sampleMs * 1000];
  }
}

/** etcd's FollowerStats, as `/v2/stats/leader` prints it. */
interface _FollowerStats {
  latency: {
    current: number;
    average: number;
    averageSquare: number;
    standardDeviation: number;
    minimum: number;
    maximum: number;
  };
  counts: { fail: number; success: number };
}

/** State names as etcd's raft.StateType marshals them. */
export type V2State = "StateFollower" | "StateCandidate" | "StateLeader" | "StatePreCandidate";

/** The v2 statistics of one member. */
export class V2Stats {
  readonly #name: string;
  readonly #id: string;
  readonly #startTime: string;
  readonly #now: () => number;
  #state: V2State = "StateFollower";
  #leader = "";
  #leaderStartMs = 0;
  #recvCount = 0;
  #sendCount = 0;
  readonly #recv = new _RateQueue();
  readonly #send = new _RateQueue();
  readonly #followers = new Map<string, _FollowerStats>();

  /**
   * `now` gives milliseconds since the epoch (tests fix it). Events use Date.now() (cheaper,
   * and they run per MsgApp); the start time is taken to the microsecond.
   */
  constructor(options: { name: string; id: bigint; now?: () => number }) {
    this.#now = options.now ?? Date.now;
    this.#name = options.name;
    this.#id = options.id.toString(16);
    this.#startTime = goTimeJson(options.now?.() ?? performance.timeOrigin + performance.now());
  }

  /** A MsgApp from the leader, before raft steps it (etcd's RecvAppendReq). */
  recvAppendReq(leader: bigint, bytes: number): void {
    const now = this.#now();
    this.#state = "StateFollower";
    const name = leader.toString(16);
    if (name !== this.#leader) {
      this.#leader = name;
      this.#leaderStartMs = now;
    }
    this.#recv.insert(now, bytes);
    this.#recvCount++;
  }

  /** A MsgApp handed to the transport for a follower (etcd's SendAppendReq). */
  sendAppendReq(bytes: number): void {
    this.becomeLeader();
    this.#send.insert(this.#now(), bytes);
    this.#sendCount++;
  }

  /** This member won an election (etcd's BecomeLeader). */
  becomeLeader(): void {
    if (this.#state === "StateLeader") return;
    this.#state = "StateLeader";
    this.#leader = this.#id;
    this.#leaderStartMs = this.#now();
  }

  /**
   * The followers are `peers`: an entry for each (etcd creates one when the transport adds
   * a peer), none for a peer no longer there.
   */
  keepFollowers(peers: readonly bigint[]): void {
    const keep = new Set(peers.map((peer) => peer.toString(16)));
    for (const key of this.#followers.keys()) if (!keep.has(key)) this.#followers.delete(key);
    for (const peer of peers) this.#follower(peer);
  }

  /** A message reached `peer`'s stream or pipeline after `latencyMs` (etcd's Succ). */
  succeeded(peer: bigint, latencyMs: number): void {
    const stats = this.#follower(peer);
    const latency = stats.latency;
    const total = stats.counts.success * latency.average;
    const totalSquare = stats.counts.success * latency.averageSquare;
    stats.counts.success++;
    latency.current = latencyMs;
    if (latencyMs > latency.maximum) latency.maximum = latencyMs;
    if (latencyMs < latency.minimum) latency.minimum = latencyMs;
    latency.average = (total + latencyMs) / stats.counts.success;
    latency.averageSquare = (totalSquare + latencyMs * latencyMs) / stats.counts.success;
    latency.standardDeviation = Math.sqrt(
      Math.max(0, latency.averageSquare - latency.average * latency.average),
    );
  }

  /** A message to `peer` could not be sent (etcd's Fail). */
  failed(peer: bigint): void {
    this.#follower(peer).counts.fail++;
  }

  #follower(peer: bigint): _FollowerStats {
    const key = peer.toString(16);
    let stats = this.#followers.get(key);
    if (stats === undefined) {
      stats = {
        latency: {
          current: 0,
          average: 0,
          averageSquare: 0,
          standardDeviation: 0,
          // etcd starts the minimum at 1<<63 (as a float64).
          minimum: 2 ** 63,
          maximum: 0,
        },
        counts: { fail: 0, success: 0 },
      };
      this.#followers.set(key, stats);
    }
    return stats;
  }

  /** `/v2/stats/self`, in etcd's field order. */
  selfJson(): string {
    const now = this.#now();
    const [sendPkgRate, sendBandwidthRate] = this.#send.rate(now);
    const [recvPkgRate, recvBandwidthRate] = this.#recv.rate(now);
    const self: Record<string, unknown> = {
      name: this.#name,
      id: this.#id,
      state: this.#state,
      startTime: this.#startTime,
      // Before any leader, etcd prints Go's zero time and the longest duration.
      leaderInfo: this.#leader === ""
        ? { leader: "", uptime: "2562047h47m16.854775807s", startTime: "0001-01-01T00:00:00Z" }
        : {
          leader: this.#leader,
          uptime: goDurationText(now - this.#leaderStartMs),
          startTime: goTimeJson(this.#leaderStartMs),
        },
      recvAppendRequestCnt: this.#recvCount,
    };
    // Go's omitempty drops zero rates.
    if (recvPkgRate !== 0) self.recvPkgRate = recvPkgRate;
    if (recvBandwidthRate !== 0) self.recvBandwidthRate = recvBandwidthRate;
    self.sendAppendRequestCnt = this.#sendCount;
    if (sendPkgRate !== 0) self.sendPkgRate = sendPkgRate;
    if (sendBandwidthRate !== 0) self.sendBandwidthRate = sendBandwidthRate;
    return JSON.stringify(self);
  }

  /** `/v2/stats/leader` (the caller answers 403 on a follower). */
  leaderJson(): string {
    const followers: Record<string, unknown> = {};
    // Go marshals a map with its keys sorted.
    for (const key of [...this.#followers.keys()].sort()) {
      const stats = this.#followers.get(key)!;
      const { averageSquare: _hidden, ...latency } = stats.latency;
      followers[key] = { latency, counts: stats.counts };
    }
    return JSON.stringify({ leader: this.#id, followers });
  }
}

/** gogoproto's Message.Size() for the messages counted here (MsgApp): bytes on the wire. */
export function messageSize(m: Message): number {
  let n = 7 + _varintSize(m.type) + _bigVarintSize(m.to) + _bigVarintSize(m.from) +
    _varintSize(m.term) + _varintSize(m.logTerm) + _varintSize(m.index) +
    _varintSize(m.commit) + 2 + 1 + _varintSize(m.rejectHint);
  for (const entry of m.entries) {
    const size = _entrySize(entry);
    n += 1 + _varintSize(size) + size;
  }
  // The snapshot field is always written; an empty one (a MsgApp's) takes 12 bytes with its
  // header (the ConfState's auto_leave is written even when false).
  n += m.snapshot === undefined ? 12 : 14 + (m.snapshot.data?.length ?? 0);
  if (m.context !== undefined) n += 1 + _varintSize(m.context.length) + m.context.length;
  return n;
}

/** Whether `m` is counted by the server stats (etcd counts MsgApp only). */
export function isAppend(m: Message): boolean {
  return m.type === MessageType.MsgApp;
}

function _entrySize(e: Entry): number {
  let n = 3 + _varintSize(e.type) + _varintSize(e.term) + _varintSize(e.index);
  if (e.data !== undefined) n += 1 + _varintSize(e.data.length) + e.data.length;
  return n;
}

/** Bytes of a varint of a non-negative safe integer (comparisons: on the send path). */
function _varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 2 ** 35) return 5;
  if (value < 2 ** 42) return 6;
  if (value < 2 ** 49) return 7;
  return value < 2 ** 56 ? 8 : 9;
}

const _TWO_49 = 1n << 49n;
const _TWO_56 = 1n << 56n;
const _TWO_63 = 1n << 63n;

/** Bytes of a varint of a uint64 (member IDs are mostly 9 or 10). */
function _bigVarintSize(value: bigint): number {
  if (value < _TWO_49) return _varintSize(Number(value));
  if (value < _TWO_56) return 8;
  return value < _TWO_63 ? 9 : 10;
}

/** Go's time.Time JSON (RFC 3339 with up to nanoseconds, trailing zeros dropped), in UTC. */
export function goTimeJson(epochMs: number): string {
  const wholeMs = Math.floor(epochMs);
  const base = new Date(wholeMs).toISOString().slice(0, 19);
  // A double of epoch milliseconds holds about a microsecond: print no finer than that.
  const nanos = Math.round((epochMs - Math.floor(epochMs / 1000) * 1000) * 1e3) * 1e3;
  const fraction = String(Math.min(nanos, 999_999_999)).padStart(9, "0").replace(/0+$/, "");
  return `${base}${fraction === "" ? "" : `.${fraction}`}Z`;
}

/** Go's time.Duration.String() for a duration in milliseconds (nanosecond precision). */
export function goDurationText(ms: number): string {
  const totalNanos = Math.round(ms * 1e6);
  if (totalNanos === 0) return "0s";
  const sign = totalNanos < 0 ? "-" : "";
  const nanos = Math.abs(totalNanos);
  if (nanos < 1000) return `${sign}${nanos}ns`;
  if (nanos < 1_000_000) return `${sign}${_trimFraction(nanos / 1000, 3)}µs`;
  if (nanos < 1_000_000_000) return `${sign}${_trimFraction(nanos / 1e6, 6)}ms`;
  const hours = Math.floor(nanos / 3.6e12);
  const minutes = Math.floor((nanos % 3.6e12) / 6e10);
  const secondsNanos = nanos % 6e10;
  const seconds = `${_trimFraction(secondsNanos / 1e9, 9)}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

function _trimFraction(value: number, digits: number): string {
  const text = value.toFixed(digits);
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}
