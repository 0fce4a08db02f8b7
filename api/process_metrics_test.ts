// Goal: process_* are read from /proc/self as Go's process collector reads them. Method: a
// /proc/self/stat line with known fields is parsed; then the live gauges are compared with
// what the kernel reports for this process.
import { equal, ok } from "node:assert/strict";
import { register } from "prom-client";
import { parseProcStat } from "./process_metrics.ts";

Deno.test("parseProcStat reads cpu, memory and start time (a command name with spaces too)", () => {
  // pid (comm) state ppid ... utime=250 stime=50 ... starttime=1000 vsize rss
  const fields = Array.from({ length: 49 }, () => "0");
  fields[0] = "S";
  fields[11] = "250";
  fields[12] = "50";
  fields[19] = "1000";
  fields[20] = "123456789";
  fields[21] = "300";
  const stat = parseProcStat(`4242 (deno main) x) ${fields.join(" ")}`, 1_700_000_000);
  equal(stat.cpuSeconds, 3);
  equal(stat.virtualBytes, 123456789);
  equal(stat.residentBytes, 300 * 4096);
  equal(stat.startSeconds, 1_700_000_010);
});

Deno.test("process_* gauges match what the kernel reports for this process", async () => {
  const read = async (name: string) =>
    (await register.getSingleMetric(name)!.get()).values[0]!.value;
  const fds = [...Deno.readDirSync("/proc/self/fd")].length;
  ok(Math.abs((await read("process_open_fds")) - fds) <= 3);
  const status = Deno.readTextFileSync("/proc/self/status");
  const rssKiB = Number(status.match(/VmRSS:\s+(\d+) kB/)![1]);
  const rss = await read("process_resident_memory_bytes");
  ok(Math.abs(rss - rssKiB * 1024) < 64 * 1024 * 1024, `${rss} vs ${rssKiB} KiB`);
  ok((await read("process_max_fds")) > 0);
  const start = await read("process_start_time_seconds");
  ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 600, String(start));
  ok((await read("process_cpu_seconds_total")) > 0);
});
