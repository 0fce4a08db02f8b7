/**
 * `process_*` as Prometheus's Go process collector exports them (etcd serves them), read
 * from /proc/self on each scrape, plus etcd's `os_fd_*` and the runtime's own memory series
 * under Node's conventional `nodejs_*` names where etcd exports Go's `go_*`.
 *
 * Only honest series: the values come from the kernel or from V8's own accounting, never
 * from a guess. Where /proc is missing (not Linux) the process series stay absent.
 *
 * @module
 */

import { Counter, Gauge } from "../metrics/mod.ts";
import * as fs from "node:fs";

/** Linux's USER_HZ (clock ticks per second of /proc/self/stat's times). */
const _CLOCK_TICKS_PER_SECOND = 100;
/** Page size of /proc/self/stat's rss (pages). */
const _PAGE_BYTES = 4096;

interface _ProcStat {
  cpuSeconds: number;
  virtualBytes: number;
  residentBytes: number;
  startSeconds: number;
}

let _bootSeconds: number | undefined;

function _readBootSeconds(): number {
  if (_bootSeconds !== undefined) return _bootSeconds;
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n").find((l) =>
    l.startsWith("btime ")
  );
  _bootSeconds = Number(line?.split(/\s+/)[1] ?? 0);
  return _bootSeconds;
}

/** Parses /proc/self/stat (fields after the parenthesised command name). */
export function parseProcStat(text: string, bootSeconds: number): _ProcStat {
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Field numbers of proc(5), minus 3 for pid, comm and the split.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const startTicks = Number(fields[19]);
  const vsize = Number(fields[20]);
  const rssPages = Number(fields[21]);
  return {
    cpuSeconds: (utime + stime) / _CLOCK_TICKS_PER_SECOND,
    virtualBytes: vsize,
    residentBytes: rssPages * _PAGE_BYTES,
    startSeconds: bootSeconds + startTicks / _CLOCK_TICKS_PER_SECOND,
  };
}

function _stat(): _ProcStat | undefined {
  try {
    return parseProcStat(fs.readFileSync("/proc/self/stat", "utf8"), _readBootSeconds());
  } catch {
    return undefined;
  }
}

function _openFds(): number | undefined {
  try {
    return fs.readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

/** The soft and hard limits of a /proc/self/limits row (`Infinity` for unlimited). */
function _limit(row: string): { soft: number; hard: number } | undefined {
  try {
    const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) =>
      l.startsWith(row)
    );
    if (line === undefined) return undefined;
    const [soft, hard] = line.slice(row.length).trim().split(/\s+/);
    const value = (v: string | undefined) => (v === "unlimited" ? Infinity : Number(v));
    return { soft: value(soft), hard: value(hard) };
  } catch {
    return undefined;
  }
}

/** `process_cpu_seconds_total`. */
export const processCpuSecondsTotal = new Counter({
  name: "process_cpu_seconds_total",
  help: "Total user and system CPU time spent in seconds.",
  collect() {
    const stat = _stat();
    if (stat === undefined) return;
    this.reset();
    this.inc(stat.cpuSeconds);
  },
});

function _gauge(name: string, help: string, read: () => number | undefined): Gauge {
  return new Gauge({
    name,
    help,
    collect() {
      const value = read();
      if (value !== undefined) this.set(value);
    },
  });
}

/** The process gauges, each read on scrape. */
export const processGauges: readonly Gauge[] = [
  _gauge(
    "process_max_fds",
    "Maximum number of open file descriptors.",
    () => _limit("Max open files")?.soft,
  ),
  _gauge("process_open_fds", "Number of open file descriptors.", _openFds),
  _gauge(
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
    () => _stat()?.residentBytes,
  ),
  _gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    () => _stat()?.startSeconds,
  ),
  _gauge(
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
    () => _stat()?.virtualBytes,
  ),
  _gauge(
    "process_virtual_memory_max_bytes",
    "Maximum amount of virtual memory available in bytes.",
    () => {
      const limit = _limit("Max address space");
      // Go's collector reports an unlimited address space as 2^64 - 1, printed as 1.8e+19.
      return limit === undefined ? undefined : limit.soft === Infinity ? 2 ** 64 - 1 : limit.soft;
    },
  ),
  // etcd's own fd pair (pkg/runtime via etcdserver's monitorFileDescriptor).
  _gauge("os_fd_used", "The number of used file descriptors.", _openFds),
  _gauge("os_fd_limit", "The file descriptor limit.", () => _limit("Max open files")?.soft),
  // The runtime's memory, where etcd exports Go's heap series.
  _gauge(
    "nodejs_heap_size_total_bytes",
    "Process heap size from V8 in bytes.",
    () => Deno.memoryUsage().heapTotal,
  ),
  _gauge(
    "nodejs_heap_size_used_bytes",
    "Process heap size used from V8 in bytes.",
    () => Deno.memoryUsage().heapUsed,
  ),
  _gauge(
    "nodejs_external_memory_bytes",
    "V8 memory of C++ objects bound to JavaScript objects (buffers) in bytes.",
    () => Deno.memoryUsage().external,
  ),
];

/** `nodejs_version_info`: the runtime (Deno) and its V8, where etcd has `go_info`. */
export const runtimeVersionInfo = new Gauge({
  name: "nodejs_version_info",
  help: "Runtime version info: Deno, V8 and TypeScript versions.",
  labelNames: ["version", "deno", "v8", "typescript"] as const,
  collect() {
    this.reset();
    this.set({
      version: `v${Deno.version.deno}`,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
    }, 1);
  },
});
