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
 * so a group is a list linked through its entries: adding and cancelling are O(1), and the
 * group's first entry is its earliest deadline. One timer is armed for the earliest first entry
 * of all groups; when it fires it expires every due entry and re-arms for the next. A cancelled
 * deadline leaves its group at once, so nothing builds up. Groups are bounded: past
 * {@link GROUPS_MAX} distinct timeouts, groups left empty are dropped to make room, and if
 * none is, a deadline gets a timer of its own. When the last pending deadline is cancelled the
 * timer is cleared too: a lone client's calls cost what a timer per call cost, many concurrent
 * calls share one.
 *
 * Why a linked list and groups kept while empty: a `Set` per group and a `Map` entry dropped
 * with the group's last deadline made V8 reallocate both hash tables whenever a group emptied,
 * on every call of a lone client; the tables of long-lived collections are allocated in the
 * old generation, garbage that only a full collection frees (docs/performance.md, "GC pauses
 * in the 1-client rows").
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
 * A pending deadline, linked into its group's list. A class rather than an object literal with
 * a `cancel` closure: a deadline is made for nearly every gRPC call, and its methods need not
 * be allocated with it.
 */
class _Entry implements Deadline {
  /** The group whose list holds it; undefined once it expired or was cancelled. */
  group: _Group | undefined;
  readonly dueMs: number;
  readonly #expiry: DeadlineExpiry;
  /** The entry added before it to the same group, still pending. */
  previous: _Entry | undefined = undefined;
  /** The entry added after it to the same group, still pending. */
  next: _Entry | undefined = undefined;

  constructor(group: _Group, dueMs: number, expiry: DeadlineExpiry) {
    this.group = group;
    this.dueMs = dueMs;
    this.#expiry = expiry;
  }

  cancel(): void {
    const group = this.group;
    if (group === undefined) return;
    group.remove(this);
    group.onCancel();
  }

  expire(): void {
    const expiry = this.#expiry;
    if (typeof expiry === "function") expiry();
    else expiry.onDeadline();
  }
}

/** The pending deadlines of one timeout, earliest first: a list linked through the entries. */
class _Group {
  readonly timeoutMs: number;
  /** Called after an entry of the group is cancelled (the queue's count and timer). */
  readonly onCancel: () => void;
  first: _Entry | undefined = undefined;
  last: _Entry | undefined = undefined;
  size = 0;

  constructor(timeoutMs: number, onCancel: () => void) {
    this.timeoutMs = timeoutMs;
    this.onCancel = onCancel;
  }

  /** Appends `entry` (due no earlier than the last: same timeout, monotonic clock). */
  append(entry: _Entry): void {
    const last = this.last;
    entry.previous = last;
    if (last === undefined) this.first = entry;
    else last.next = entry;
    this.last = entry;
    this.size++;
  }

  /** Unlinks `entry`, which is in this group's list. */
  remove(entry: _Entry): void {
    if (entry.group !== this) throw new Error("deadline: removed from a group it is not in");
    const { previous, next } = entry;
    if (previous === undefined) this.first = next;
    else previous.next = next;
    if (next === undefined) this.last = previous;
    else next.previous = previous;
    entry.previous = undefined;
    entry.next = undefined;
    entry.group = undefined;
    this.size--;
    if (this.size < 0) throw new Error("deadline: a group's size fell below zero");
  }
}

/** Deadlines of many calls on one timer (see the module comment). */
export class DeadlineQueue {
  /** Timeout (ms) -> its pending entries, earliest first; kept while empty (see above). */
  readonly #groups = new Map<number, _Group>();
  /** Made once: every group calls it when one of its entries is cancelled. */
  readonly #onCancel = () => this.#cancelled();
  readonly #now: () => number;
  /** Deadlines pending in all groups. */
  #pending = 0;
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
    for (const group of this.#groups.values()) size += group.size;
    if (size !== this.#pending) throw new Error("deadline: the pending count is off");
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
      if (this.#groups.size >= GROUPS_MAX) this.#dropEmptyGroups();
      if (this.#groups.size >= GROUPS_MAX) return _ownTimer(timeoutMs, expire);
      group = new _Group(timeoutMs, this.#onCancel);
      this.#groups.set(timeoutMs, group);
    }
    const entry = new _Entry(group, this.#now() + timeoutMs, expire);
    group.append(entry);
    this.#pending++;
    if (entry.dueMs < this.#armedDueMs) this.#arm(entry.dueMs);
    return entry;
  }

  /**
   * One deadline fewer; with none left the timer is cleared, so that an idle server holds no
   * timer (a test's sanitizer, a process exiting).
   */
  #cancelled(): void {
    this.#pending--;
    if (this.#pending < 0) throw new Error("deadline: more cancelled than added");
    if (this.#pending > 0 || this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedDueMs = Infinity;
  }

  /** Forgets the groups that hold no deadline, to make room for other timeouts. */
  #dropEmptyGroups(): void {
    for (const [timeoutMs, group] of this.#groups) {
      if (group.size === 0) this.#groups.delete(timeoutMs);
    }
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
    for (const group of this.#groups.values()) {
      let entry = group.first;
      while (entry !== undefined && entry.dueMs <= nowMs) {
        group.remove(entry);
        due.push(entry);
        entry = group.first;
      }
      if (entry !== undefined) nextDueMs = Math.min(nextDueMs, entry.dueMs);
    }
    this.#pending -= due.length;
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
