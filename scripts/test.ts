/**
 * The test runner behind `deno task test`: every test file of the repository, in separate
 * `deno test` processes, two at a time, with one summary at the end.
 *
 * Why not one `deno test --parallel`: a native abort inside Deno's HTTP/2 layer (nghttp2,
 * reached through @grpc/grpc-js clients such as the npm `etcd3` package) kills the whole test
 * process, and with it the results of every other file. Here a crash costs only its own group,
 * and is reported as such.
 *
 * Groups: each module folder's unit tests (`raft/`, `backend/`, ...) form one process; each
 * cross-module file under `tests/` gets its own. A group that dies of a signal (abort, segfault)
 * without a summary is run again (at most twice) and marked as retried; assertion failures are
 * never retried.
 *
 * Usage: deno run -A scripts/test.ts [SUBSTRING ...]   (only files whose path contains one)
 * Env: TEST_JOBS (default 2), TEST_GROUP_TIMEOUT_S (default 600).
 * The last line has deno test's own shape: `ok | N passed | M failed | K ignored (Ts)`.
 *
 * @module
 */

import { join, relative } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const JOBS = Number(Deno.env.get("TEST_JOBS") ?? "2");
const GROUP_TIMEOUT_MS = Number(Deno.env.get("TEST_GROUP_TIMEOUT_S") ?? "240") * 1000;
const SKIP_DIRS = new Set(["bench", "node_modules", ".git", ".ci", "default.etcd"]);

interface Group {
  name: string;
  files: string[];
}

interface GroupResult {
  group: Group;
  passed: number;
  failed: number;
  ignored: number;
  seconds: number;
  note: string;
  output: string;
}

function _walk(dir: string, into: string[]): void {
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name.startsWith(".") || SKIP_DIRS.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory) _walk(path, into);
    else if (entry.isFile && entry.name.endsWith("_test.ts")) into.push(relative(ROOT, path));
  }
}

/** Unit tests grouped by top-level folder; every file of tests/ alone, those first. */
function _groups(filters: string[]): Group[] {
  const files: string[] = [];
  _walk(ROOT, files);
  files.sort();
  const wanted = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
  const cross: Group[] = [];
  const byModule = new Map<string, string[]>();
  for (const file of wanted) {
    const top = file.split("/")[0]!;
    if (top === "tests") cross.push({ name: file, files: [file] });
    else byModule.set(top, [...(byModule.get(top) ?? []), file]);
  }
  const units = [...byModule].map(([name, groupFiles]) => ({
    name: `${name}/`,
    files: groupFiles,
  }));
  return [...cross, ...units];
}

function _count(output: string, pattern: RegExp): number {
  return output.match(pattern)?.length ?? 0;
}

/** Reads deno test's summary; without one (a crash), counts the per-test lines seen. */
function _summarize(output: string): { passed: number; failed: number; ignored: number } | null {
  const lines = output.split("\n").filter((l) => /^(ok|FAILED) \| \d+ passed/.test(l));
  const last = lines.at(-1);
  if (last === undefined) return null;
  const num = (re: RegExp) => Number(last.match(re)?.[1] ?? "0");
  return {
    passed: num(/(\d+) passed/),
    failed: num(/(\d+) failed/),
    ignored: num(/(\d+) ignored/),
  };
}

async function _runOnce(
  group: Group,
): Promise<{ code: number; signal: string | null; out: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", ...group.files],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, GROUP_TIMEOUT_MS);
  const result = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  const out = decoder.decode(result.stdout) + decoder.decode(result.stderr);
  return { code: result.code, signal: result.signal, out };
}

/**
 * Runs of a group after its test process died of a signal before its summary. Deno's
 * node:http2 (under grpc-js clients) can abort inside nghttp2 under load; such a death says
 * nothing of the code under test, an assertion failure is never retried.
 */
const _CRASH_RETRIES = 2;

async function _run(group: Group): Promise<GroupResult> {
  const started = performance.now();
  let attempt = await _runOnce(group);
  let note = "";
  const signals: string[] = [];
  while (
    attempt.signal !== null && _summarize(attempt.out) === null && signals.length < _CRASH_RETRIES
  ) {
    // A runtime crash (signal) before the summary: run the group again and say so.
    signals.push(attempt.signal);
    note = `retried after the test process died of ${signals.join(", then ")}`;
    const first = attempt.out;
    attempt = await _runOnce(group);
    attempt.out = `${first}\n----- retry -----\n${attempt.out}`;
  }
  const seconds = (performance.now() - started) / 1000;
  const summary = _summarize(attempt.out.split("----- retry -----").at(-1)!);
  if (summary !== null) {
    // deno test exits non-zero also for leaks or uncaught errors outside a test.
    const failed = summary.failed + (attempt.code !== 0 && summary.failed === 0 ? 1 : 0);
    if (attempt.code !== 0 && summary.failed === 0) note ||= `exit status ${attempt.code}`;
    return { group, ...summary, failed, seconds, note, output: attempt.out };
  }
  const tail = attempt.out.split("----- retry -----").at(-1)!;
  return {
    group,
    passed: _count(tail, / \.\.\. ok/g),
    failed: _count(tail, / \.\.\. FAILED/g) + 1,
    ignored: 0,
    seconds,
    note: `${note ? note + "; " : ""}no summary (exit ${attempt.code}, signal ${attempt.signal})`,
    output: attempt.out,
  };
}

async function main(): Promise<number> {
  const groups = _groups(Deno.args);
  if (groups.length === 0) {
    console.error("no test files match");
    return 1;
  }
  const started = performance.now();
  const results: GroupResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < groups.length) {
      const group = groups[next++]!;
      const result = await _run(group);
      results.push(result);
      const status = result.failed === 0 ? "ok" : "FAILED";
      console.log(`\n===== ${group.name}: ${status} (${result.seconds.toFixed(1)}s) =====`);
      console.log(result.output.trimEnd());
      console.log(
        `===== ${group.name}: ${result.passed} passed, ${result.failed} failed` +
          `${result.note ? ` (${result.note})` : ""} =====`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, JOBS) }, worker));
  const total = { passed: 0, failed: 0, ignored: 0 };
  console.log("\n===== per group =====");
  results.sort((a, b) => a.group.name.localeCompare(b.group.name));
  for (const r of results) {
    total.passed += r.passed;
    total.failed += r.failed;
    total.ignored += r.ignored;
    const mark = r.failed === 0 ? "ok    " : "FAILED";
    const note = r.note ? `  [${r.note}]` : "";
    console.log(`${mark} ${r.group.name}  ${r.passed} passed, ${r.failed} failed${note}`);
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  const head = total.failed === 0 ? "ok" : "FAILED";
  console.log(
    `\n${head} | ${total.passed} passed | ${total.failed} failed | ${total.ignored} ignored (${seconds}s)`,
  );
  return total.failed === 0 ? 0 : 1;
}

Deno.exit(await main());
