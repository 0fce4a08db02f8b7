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
 * {@link IDLE_CPU_FRACTION} of one core since the last check (all threads, `getrusage`), and it
 * trims once per idle period, again only when the V8 heap has changed by a MiB since.
 * Under steady load nothing is called. The call runs off the JavaScript thread (a nonblocking
 * FFI symbol).
 *
 * Linux with glibc only. Elsewhere (musl, macOS), or when FFI is not permitted, nothing is
 * done: the memory is only kept, never wrong.
 *
 * @module
 */

import process from "node:process";

/** How often the process looks at its CPU use. */
export const IDLE_CHECK_MS = 10_000;
/** Below this share of one core since the last check, the process is idle. */
export const IDLE_CPU_FRACTION = 0.1;
/** A change of the V8 heap (total, external) since the last trim that calls for another. */
const HEAP_CHANGE_BYTES = 1024 * 1024;

/** What the policy sees at each check. */
export interface IdleSample {
  /** CPU time used by the process since the previous check, in microseconds. */
  cpuMicros: number;
  /** Wall time since the previous check, in milliseconds. */
  elapsedMs: number;
  /** V8 heap total plus external memory now, in bytes. */
  heapBytes: number;
}

/**
 * Decides when to trim: on the first idle check after a busy one, and on a later idle check
 * when the V8 heap has changed since the last trim (its memory reducer ran meanwhile).
 */
export class IdleTrimPolicy {
  #trimmedSinceBusy = false;
  #heapAtTrim = 0;

  /** True when malloc should be trimmed now. */
  check(sample: IdleSample): boolean {
    const idle = sample.cpuMicros < sample.elapsedMs * 1000 * IDLE_CPU_FRACTION;
    if (!idle) {
      this.#trimmedSinceBusy = false;
      return false;
    }
    if (
      this.#trimmedSinceBusy && Math.abs(sample.heapBytes - this.#heapAtTrim) < HEAP_CHANGE_BYTES
    ) {
      return false;
    }
    this.#trimmedSinceBusy = true;
    this.#heapAtTrim = sample.heapBytes;
    return true;
  }
}

/** A running idle trimmer; `stop` ends its timer and closes libc. */
export interface IdleTrimmer {
  /** Number of `malloc_trim` calls so far. */
  readonly trims: number;
  stop(): void;
}

const _SYMBOLS = {
  // On Deno's blocking thread pool: the event loop never waits for the walk of the arenas.
  malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
} as const;

/**
 * Opens glibc's `malloc_trim` and checks every `checkMs` (default {@link IDLE_CHECK_MS}) whether
 * to call it.
 * Returns undefined (and does nothing) off Linux, without glibc, or without FFI permission.
 * The timer does not keep the process alive.
 */
export function startIdleMallocTrim(checkMs = IDLE_CHECK_MS): IdleTrimmer | undefined {
  if (Deno.build.os !== "linux") return undefined;
  let libc: Deno.DynamicLibrary<typeof _SYMBOLS>;
  try {
    libc = Deno.dlopen("libc.so.6", _SYMBOLS);
  } catch {
    return undefined;
  }
  const policy = new IdleTrimPolicy();
  let last = process.cpuUsage();
  let lastAt = performance.now();
  let trims = 0;
  /** The trim in flight, if any. */
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (inFlight !== undefined) return;
    const now = process.cpuUsage();
    const at = performance.now();
    const memory = Deno.memoryUsage();
    const trim = policy.check({
      cpuMicros: now.user + now.system - last.user - last.system,
      elapsedMs: at - lastAt,
      heapBytes: memory.heapTotal + memory.external,
    });
    last = now;
    lastAt = at;
    if (!trim) return;
    inFlight = libc.symbols.malloc_trim(0n).then(() => {
      trims++;
      // The trim's own CPU time must not count as activity at the next check.
      last = process.cpuUsage();
      lastAt = performance.now();
      inFlight = undefined;
    });
  }, checkMs);
  Deno.unrefTimer(timer);
  return {
    get trims() {
      return trims;
    },
    stop() {
      clearInterval(timer);
      // A trim in flight still uses the library: close it once that is done.
      void (inFlight ?? Promise.resolve()).then(() => libc.close());
    },
  };
}
