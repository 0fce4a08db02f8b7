/**
 * Call deadlines (`grpc-timeout`) on one shared timer instead of a timer per call.
 *
 * Why: etcd's Go clients send a deadline with every request (clientv3 users wrap each call in
 * `context.WithTimeout`), and Deno's `setTimeout` + `clearTimeout` cost about 6% of a member's
 * CPU at 1000 concurrent puts (docs/performance.md, "Single member, put, 1000 clients"); almost
 * every deadline is cleared long before it is due.
 *
 * How: deadlines are grouped by their timeout. Within a group they come in the order they
 * were added, which is deadline order because the clock is monotonic and the timeout the same,
 * so a group is an insertion-ordered Set: adding and cancelling are O(1), and the group's first
 * entry is its earliest deadline. One timer is armed for the earliest first entry of all
 * groups; when it fires it expires every due entry and re-arms for the next. A cancelled
 * deadline leaves its group at once, so nothing builds up. Groups are bounded: past
 * {@link GROUPS_MAX} distinct timeouts a deadline gets a timer of its own. When the last
 * pending deadline is cancelled the timer is cleared too: a lone client's calls cost what a
 * timer per call cost, many concurrent calls share one.
 *
 * @module
 */

/** Distinct timeouts that share the timer; others get one timer each. */
export const GROUPS_MAX = 64;

/** A deadline that can be cancelled before it is due. */
export interface Deadline {
  /** Forgets the deadline; its callback will not run. Idempotent. */
  cancel(): void;
}

/**
 * What runs when a deadline passes: a function, or an object whose `onDeadline` runs (a call
 * that is its own target needs no closure per call).
 */
export type DeadlineExpiry = (() => void) | { onDeadline(): void };

/**
 * A pending deadline. A class rather than an object literal with a `cancel` closure: a deadline
 * is made for nearly every gRPC call, and its methods need not be allocated with it.
 */
class _Entry implements Deadline {
  readonly #group: _Group;
  readonly dueMs: number;
  readonly #expiry: DeadlineExpiry;

  constructor(group: _Group, dueMs: number, expiry: DeadlineExpiry) {
    this.#group = group;
    this.dueMs = dueMs;
    this.#expiry = expiry;
  }

  cancel(): void {
    const group = this.#group;
    if (group.entries.delete(this) && group.entries.size === 0) group.onEmpty(group);
  }

  expire(): void {
    const expiry = this.#expiry;
    if (typeof expiry === "function") expiry();
    else expiry.onDeadline();
  }
}

/** The pending deadlines of one timeout, earliest first, and who drops the group when empty. */
interface _Group {
  readonly timeoutMs: number;
  readonly entries: Set<_Entry>;
  readonly onEmpty: (group: _Group) => void;
}

/** Deadlines of many calls on one timer (see the module comment). */
export class DeadlineQueue {
  /** Timeout (ms) -> its pending entries, earliest first. */
  readonly #groups = new Map<number, _Group>();
  /** Made once: every group calls it when its last entry is cancelled. */
  readonly #dropGroup = (group: _Group) => this.#drop(group);
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer is due (ms on `#now`'s clock); Infinity when none is armed. */
  #armedDueMs = Infinity;

  /** `now` is a monotonic clock in ms (`performance.now` unless a test passes its own). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Pending deadlines, for tests and assertions. */
  get size(): number {
    let size = 0;
    for (const group of this.#groups.values()) size += group.entries.size;
    return size;
  }

  /** Whether the shared timer is armed (it is not while nothing is pending). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Runs `expire` once `timeoutMs` has passed, unless the returned deadline is cancelled. */
  add(timeoutMs: number, expire: DeadlineExpiry): Deadline {
    if (!(timeoutMs >= 0)) throw new RangeError(`deadline: bad timeout ${timeoutMs}`);
    let group = this.#groups.get(timeoutMs);
    if (group === undefined) {
      if (this.#groups.size >= GROUPS_MAX) return _ownTimer(timeoutMs, expire);
      group = { timeoutMs, entries: new Set(), onEmpty: this.#dropGroup };
      this.#groups.set(timeoutMs, group);
    }
    const entry = new _Entry(group, this.#now() + timeoutMs, expire);
    group.entries.add(entry);
    if (entry.dueMs < this.#armedDueMs) this.#arm(entry.dueMs);
    return entry;
  }

  /**
   * Forgets an empty group; with no group left the timer is cleared, so that an idle server
   * holds no timer (a test's sanitizer, a process exiting).
   */
  #drop(group: _Group): void {
    const timeoutMs = group.timeoutMs;
    if (this.#groups.get(timeoutMs) !== group) return;
    this.#groups.delete(timeoutMs);
    if (this.#groups.size > 0 || this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedDueMs = Infinity;
  }

  /** Arms the one timer for `dueMs`, replacing a later one. */
  #arm(dueMs: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedDueMs = dueMs;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, Math.ceil(dueMs - this.#now())));
    // The timer must not keep a process alive whose server has stopped.
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /** Expires every due entry, then re-arms for the earliest one left. */
  #fire(): void {
    this.#timer = undefined;
    this.#armedDueMs = Infinity;
    const nowMs = this.#now();
    const due: _Entry[] = [];
    let nextDueMs = Infinity;
    for (const [timeoutMs, group] of this.#groups) {
      for (const entry of group.entries) {
        if (entry.dueMs > nowMs) {
          nextDueMs = Math.min(nextDueMs, entry.dueMs);
          break;
        }
        group.entries.delete(entry);
        due.push(entry);
      }
      if (group.entries.size === 0) this.#groups.delete(timeoutMs);
    }
    if (nextDueMs !== Infinity) this.#arm(nextDueMs);
    // Groups are visited in creation order; entries due together expire earliest first.
    if (due.length > 1) due.sort((left, right) => left.dueMs - right.dueMs);
    for (const entry of due) entry.expire();
  }
}

function _ownTimer(timeoutMs: number, expiry: DeadlineExpiry): Deadline {
  const timer = setTimeout(
    typeof expiry === "function" ? expiry : () => expiry.onDeadline(),
    timeoutMs,
  );
  Deno.unrefTimer(timer as unknown as number);
  return { cancel: () => clearTimeout(timer) };
}
