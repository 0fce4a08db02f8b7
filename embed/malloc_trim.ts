/**
 * Gives glibc's free memory back to the kernel once the process is idle: `malloc_trim(0)` (FFI
 * to libc), as a Go program's scavenger returns its free heap in the background.
 *
 * Why: ArrayBuffers (network chunks, protobuf buffers, pages) live in glibc's malloc heap. When
 * V8 frees them, glibc keeps most of their memory in its arenas for later allocations, and
 * the RSS stays at the level of the busiest moment. V8's own memory reducer shrinks the V8 heap
 * some 10-30 s after a burst of load ends; trimming after that returns the malloc side too.
 * Measured (docs/memory.md): one member after 100,000 puts settles at 218 MiB RSS without the
 * trim and at 180 MiB with it; after 300,000 revisions, 317 and 268 MiB.
 *
 * Why only when idle: one `malloc_trim(0)` walks every arena, holding each one's lock, and took
 * up to 98 ms under put load on this 2-core machine. So a check runs every
 * {@link IDLE_CHECK_MS}; the process counts as idle when it used less than
 * {@link IDLE_CPU_FRACTION} of one core since the last check (all threads, `getrusage`) and its
 * JavaScript thread waited for a core less than {@link IDLE_RUN_DELAY_FRACTION} of the time
 * (`/proc/thread-self/schedstat`): on a machine short of cores, a starved member under load uses
 * little CPU too, but waits most of the time, and it
 * trims once per idle period, again only when the V8 heap has changed by a MiB since.
 * Under steady load nothing is called. The call runs off the JavaScript thread (a nonblocking
 * FFI symbol).
 *
 * Before that first trim of an idle period, when V8's committed heap has grown by at least
 * {@link COLLECT_GROWTH_BYTES} since the last such collection, the member asks V8 for a full,
 * memory-reducing collection (the inspector's `HeapProfiler.collectGarbage`, which is V8's
 * low-memory notification). V8's own memory reducer does the same, but only some 30-45 s after
 * the load stops; the collection also frees the dead ArrayBuffers whose malloc memory the trim
 * then returns. It pauses the event loop (about 0.25 s of CPU for a 150 MiB heap), once per idle
 * period and only while the member is idle.
 *
 * The first idle period after start-up collects too, whatever the growth: starting a member
 * leaves the garbage of module evaluation and bootstrap, a young generation grown by it, and
 * compiler memory in malloc, none of which V8 gives back on its own while nothing allocates
 * (its memory reducer starts only after a full collection, which a small idle heap never
 * needs). Measured (docs/memory.md, 2026-12-07 round 4): an idle empty member's RSS went from
 * 95-98 to 87-89 MiB. The first check comes {@link FIRST_CHECK_MS} after the start, so that
 * a member that is idle from the start gives this back within seconds.
 *
 * Linux with glibc only. Elsewhere (musl, macOS), or when FFI is not permitted, nothing is
 * done: the memory is only kept, never wrong.
 *
 * @module
 */

import { Session } from "node:inspector";
import process from "node:process";

/** How often the process looks at its CPU use. */
export const IDLE_CHECK_MS = 10_000;
/**
 * When the first check comes, after the start: soon, for the start-up collection; long enough
 * that the member has elected itself and published (one election timeout, 1 s by default).
 */
export const FIRST_CHECK_MS = 3_000;
/** Below this share of one core since the last check, the process is idle. */
export const IDLE_CPU_FRACTION = 0.1;
/**
 * At or above this share of the time spent waiting for a core, the member is starved, not idle.
 * Measured at a load average of 27 on 2 cores: a sleeping process woken 11 times a second waited
 * 17-22% of the time; a busy one waits most of it.
 */
export const IDLE_RUN_DELAY_FRACTION = 0.5;
/** A change of the V8 heap (total, external) since the last trim that calls for another. */
const HEAP_CHANGE_BYTES = 1024 * 1024;
/**
 * Growth of V8's committed heap since the last collection (or the start) that makes an idle
 * member collect first. The committed size, not the used one: garbage counts as used until
 * a collection finds it.
 */
export const COLLECT_GROWTH_BYTES = 32 * 1024 * 1024;

/** What to do at a check: nothing, trim malloc, or a full V8 collection and then the trim. */
export type IdleAction = "none" | "trim" | "collect";

/** What the policy sees at each check. */
export interface IdleSample {
  /** CPU time used by the process since the previous check, in microseconds. */
  cpuMicros: number;
  /** Time the JavaScript thread waited, runnable, for a core since the previous check (µs). */
  runDelayMicros: number;
  /** Wall time since the previous check, in milliseconds. */
  elapsedMs: number;
  /** V8 heap total plus external memory now, in bytes. */
  heapBytes: number;
  /** V8's committed heap (heap total) now, in bytes. */
  heapTotalBytes: number;
}

/**
 * Decides when to trim: on the first idle check after a busy one, and on a later idle check
 * when the V8 heap has changed since the last trim (its memory reducer ran meanwhile). The first
 * trim after a busy period collects V8's garbage first when the committed heap has grown.
 */
export class IdleTrimPolicy {
  #trimmedSinceBusy = false;
  #heapAtTrim = 0;
  /** V8's committed heap after the last collection, or at the start. */
  #heapTotalAfterCollect: number;
  /** The first idle period collects whatever the growth, until a collection was done. */
  #startUpCollection: boolean;

  /**
   * `heapTotalBytes`: V8's committed heap at the start, the reference for its growth.
   * `options.startUpCollection`: the first idle period collects, whatever the growth (the
   * garbage of start-up; see the module's comment).
   */
  constructor(heapTotalBytes: number, options: { startUpCollection?: boolean } = {}) {
    this.#heapTotalAfterCollect = heapTotalBytes;
    this.#startUpCollection = options.startUpCollection ?? false;
  }

  /** What to do now. */
  check(sample: IdleSample): IdleAction {
    const elapsedMicros = sample.elapsedMs * 1000;
    const idle = sample.cpuMicros < elapsedMicros * IDLE_CPU_FRACTION &&
      sample.runDelayMicros < elapsedMicros * IDLE_RUN_DELAY_FRACTION;
    if (!idle) {
      this.#trimmedSinceBusy = false;
      return "none";
    }
    if (this.#trimmedSinceBusy) {
      if (Math.abs(sample.heapBytes - this.#heapAtTrim) < HEAP_CHANGE_BYTES) return "none";
      this.#heapAtTrim = sample.heapBytes;
      return "trim";
    }
    this.#trimmedSinceBusy = true;
    this.#heapAtTrim = sample.heapBytes;
    const growth = sample.heapTotalBytes - this.#heapTotalAfterCollect;
    return this.#startUpCollection || growth >= COLLECT_GROWTH_BYTES ? "collect" : "trim";
  }

  /**
   * Records the heap after an action (`heapBytes` as in {@link IdleSample}, and the heap total
   * after a collection), so that the action's own effect calls for no other.
   */
  done(heapBytes: number, collectedHeapTotalBytes?: number): void {
    this.#heapAtTrim = heapBytes;
    if (collectedHeapTotalBytes !== undefined) {
      this.#heapTotalAfterCollect = collectedHeapTotalBytes;
      this.#startUpCollection = false;
    }
  }
}

/** A running idle trimmer; `stop` ends its timer and closes libc. */
export interface IdleTrimmer {
  /** Number of `malloc_trim` calls so far. */
  readonly trims: number;
  /** Number of full V8 collections so far. */
  readonly collections: number;
  stop(): void;
}

const _SYMBOLS = {
  // On Deno's blocking thread pool: the event loop never waits for the walk of the arenas.
  malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
} as const;

/**
 * Opens glibc's `malloc_trim` and checks every `checkMs` (default {@link IDLE_CHECK_MS}) whether
 * to call it, the first time after `firstCheckMs` (default {@link FIRST_CHECK_MS}, at most
 * `checkMs`). The first idle period collects V8's garbage first (the start-up collection).
 * Returns undefined (and does nothing) off Linux, without glibc, or without FFI permission.
 * The timer does not keep the process alive.
 */
export function startIdleMallocTrim(
  checkMs = IDLE_CHECK_MS,
  firstCheckMs = Math.min(checkMs, FIRST_CHECK_MS),
): IdleTrimmer | undefined {
  if (Deno.build.os !== "linux") return undefined;
  let libc: Deno.DynamicLibrary<typeof _SYMBOLS>;
  try {
    libc = Deno.dlopen("libc.so.6", _SYMBOLS);
  } catch {
    return undefined;
  }
  const policy = new IdleTrimPolicy(Deno.memoryUsage().heapTotal, { startUpCollection: true });
  let last = process.cpuUsage();
  let lastRunDelay = _runDelayMicros();
  let lastAt = performance.now();
  let trims = 0;
  let collections = 0;
  /** The collection and trim in flight, if any. */
  let inFlight: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const schedule = (delayMs: number): void => {
    if (stopped) return;
    const next = setTimeout(() => {
      check();
      schedule(checkMs);
    }, delayMs);
    Deno.unrefTimer(next);
    timer = next;
  };
  const check = (): void => {
    if (inFlight !== undefined) return;
    const now = process.cpuUsage();
    const runDelay = _runDelayMicros();
    const at = performance.now();
    const memory = Deno.memoryUsage();
    const action = policy.check({
      cpuMicros: now.user + now.system - last.user - last.system,
      runDelayMicros: runDelay - lastRunDelay,
      elapsedMs: at - lastAt,
      heapBytes: memory.heapTotal + memory.external,
      heapTotalBytes: memory.heapTotal,
    });
    last = now;
    lastRunDelay = runDelay;
    lastAt = at;
    if (action === "none") return;
    inFlight = (async () => {
      try {
        const collected = action === "collect" && await _collectGarbage();
        if (collected) collections++;
        await libc.symbols.malloc_trim(0n);
        trims++;
        const after = Deno.memoryUsage();
        policy.done(after.heapTotal + after.external, collected ? after.heapTotal : undefined);
      } finally {
        // The work's own CPU time must not count as activity at the next check.
        last = process.cpuUsage();
        lastRunDelay = _runDelayMicros();
        lastAt = performance.now();
        inFlight = undefined;
      }
    })();
  };
  schedule(firstCheckMs);
  return {
    get trims() {
      return trims;
    },
    get collections() {
      return collections;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      // A trim in flight still uses the library: close it once that is done.
      void (inFlight ?? Promise.resolve()).then(() => libc.close());
    },
  };
}

/**
 * A full, memory-reducing V8 collection through an in-process inspector session (V8's
 * low-memory notification: it also shrinks the young generation and releases pooled pages).
 * Returns false when the runtime refused it; the trim goes ahead either way.
 */
async function _collectGarbage(): Promise<boolean> {
  const session = new Session();
  try {
    session.connect();
    await new Promise<void>((resolve, reject) => {
      session.post("HeapProfiler.collectGarbage", {}, (error: Error | null) => {
        if (error !== null) reject(error);
        else resolve();
      });
    });
    return true;
  } catch {
    return false;
  } finally {
    session.disconnect();
  }
}

/**
 * The calling thread's time spent runnable but waiting for a core, in µs (the second field of
 * `/proc/thread-self/schedstat`, in ns); 0 where the kernel does not provide it.
 */
function _runDelayMicros(): number {
  try {
    const fields = Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ");
    const nanos = Number(fields[1]);
    return Number.isFinite(nanos) ? nanos / 1000 : 0;
  } catch {
    return 0;
  }
}
