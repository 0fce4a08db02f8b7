/**
 * `--enable-pprof`: the profiles the V8 runtime can honestly give, under etcd's
 * `/debug/pprof/` prefix, on the client port (etcd adds its pprof handlers to the client HTTP
 * mux). Go's pprof formats cannot be produced by a JavaScript runtime, so the two profiles are
 * V8's own, which Chrome DevTools, VS Code and speedscope open:
 *
 * - `/debug/pprof/profile?seconds=N` (default 30, as Go's): a CPU profile sampled for N
 *   seconds, V8's `.cpuprofile` JSON (the inspector's Profiler domain). One at a time, as Go.
 * - `/debug/pprof/heap`: a heap snapshot, V8's `.heapsnapshot` JSON (HeapProfiler domain).
 *   Taking it pauses the process for as long as the heap takes to walk.
 * - `/debug/pprof/`: an index naming both.
 *
 * Go's other profiles (goroutine, block, mutex, threadcreate, trace, cmdline, symbol) have no
 * V8 equivalent and answer 404 "Unknown profile", as Go answers for a profile it lacks.
 *
 * @module
 */

import { Session } from "node:inspector";
import type { HttpHandler } from "../rpc/mod.ts";

/** etcd's pprof prefix (debugutil.HTTPPrefixPProf). */
export const PPROF_PREFIX = "/debug/pprof";

/** Longest CPU profile served, in seconds (bounds one request). */
const _PROFILE_SECONDS_MAX = 300;
/** Go's default CPU profile duration. */
const _PROFILE_SECONDS_DEFAULT = 30;

/** Wraps `next` so that paths under `/debug/pprof` serve V8 profiles. */
export function pprofHandler(next: HttpHandler): HttpHandler {
  const profiler = new _Profiler();
  return (request: Request): Response | Promise<Response> => {
    const path = new URL(request.url, "http://localhost").pathname;
    if (path !== PPROF_PREFIX && !path.startsWith(PPROF_PREFIX + "/")) return next(request);
    const name = path.slice(PPROF_PREFIX.length).replace(/^\//, "");
    if (name === "") return _text(200, _index());
    if (name === "profile") return profiler.cpu(request);
    if (name === "heap") return profiler.heap();
    return _text(404, "Unknown profile\n");
  };
}

function _index(): string {
  return [
    "/debug/pprof/ (detcd: V8 profiles, not Go's pprof format)",
    "",
    "profile?seconds=N  CPU profile sampled for N seconds (default 30), V8 .cpuprofile JSON",
    "heap               heap snapshot, V8 .heapsnapshot JSON",
    "",
  ].join("\n");
}

function _text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
  });
}

/** One inspector session for the process, connected on first use. */
class _Profiler {
  #session: Session | undefined;
  #cpuBusy = false;
  #heapBusy = false;

  #post<T>(method: string, params: object = {}): Promise<T> {
    if (this.#session === undefined) {
      this.#session = new Session();
      this.#session.connect();
    }
    const session = this.#session;
    return new Promise<T>((resolve, reject) => {
      session.post(method, params, (error: Error | null, result: unknown) => {
        if (error !== null) reject(error);
        else resolve(result as T);
      });
    });
  }

  async cpu(request: Request): Promise<Response> {
    const text = new URL(request.url, "http://localhost").searchParams.get("seconds");
    const seconds = text === null ? _PROFILE_SECONDS_DEFAULT : Number(text);
    if (!Number.isInteger(seconds) || seconds <= 0 || seconds > _PROFILE_SECONDS_MAX) {
      return _text(400, `seconds must be an integer from 1 to ${_PROFILE_SECONDS_MAX}\n`);
    }
    if (this.#cpuBusy) {
      return _text(500, "Could not enable CPU profiling: cpu profiling already in use\n");
    }
    this.#cpuBusy = true;
    try {
      await this.#post("Profiler.enable");
      await this.#post("Profiler.start");
      await _sleep(seconds * 1000, request.signal);
      const { profile } = await this.#post<{ profile: unknown }>("Profiler.stop");
      await this.#post("Profiler.disable");
      return new Response(JSON.stringify(profile), {
        headers: {
          "content-type": "application/json",
          "content-disposition": 'attachment; filename="detcd.cpuprofile"',
        },
      });
    } finally {
      this.#cpuBusy = false;
    }
  }

  async heap(): Promise<Response> {
    if (this.#heapBusy) return _text(500, "a heap snapshot is already being taken\n");
    this.#heapBusy = true;
    const chunks: string[] = [];
    const onChunk = (message: { method: string; params: { chunk?: string } }) => {
      if (message.method === "HeapProfiler.addHeapSnapshotChunk") {
        chunks.push(message.params.chunk ?? "");
      }
    };
    try {
      await this.#post("HeapProfiler.enable");
      this.#session!.on("inspectorNotification", onChunk);
      await this.#post("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      await this.#post("HeapProfiler.disable");
    } finally {
      this.#session?.off("inspectorNotification", onChunk);
      this.#heapBusy = false;
    }
    return new Response(chunks.join(""), {
      headers: {
        "content-type": "application/json",
        "content-disposition": 'attachment; filename="detcd.heapsnapshot"',
      },
    });
  }
}

function _sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
