/**
 * A `--preload` file for detcd that samples where the V8 heap is allocated, garbage included:
 * V8's sampling heap profiler (inspector `HeapProfiler.startSampling`) with the objects that
 * minor and major collections free kept in the profile. Started on SIGUSR1, stopped on SIGUSR2,
 * which writes the profile (`.heapprofile` JSON, as DevTools saves it) to `ALLOC_PROFILE_FILE`.
 *
 *     ALLOC_PROFILE_FILE=/tmp/a.heapprofile deno run -A --preload bench/_alloc_sampler.ts main.ts ...
 *     kill -USR1 PID; <load>; kill -USR2 PID
 *     deno run -A bench/alloc_summary.ts /tmp/a.heapprofile PUTS
 *
 * With `ALLOC_SURVIVORS_ONLY=1` the objects that minor collections free are left out: the profile
 * then holds what survived a scavenge (promoted, or still in the young generation at the end) or
 * was allocated in the old generation directly, whether a later major collection freed it or
 * not: where the old generation's growth comes from.
 *
 * Only the JavaScript heap is sampled: the backing stores of ArrayBuffers (malloc'd) are not,
 * but each typed array's and ArrayBuffer's object is. Benchmark-only; detcd never loads it.
 *
 * @module
 */

import { Session } from "node:inspector";

const FILE = Deno.env.get("ALLOC_PROFILE_FILE");
/** Mean bytes between samples (V8's default is 32 KiB). */
const INTERVAL_BYTES = 4096;
/** Leave out the objects that scavenges free (see above). */
const SURVIVORS_ONLY = Deno.env.get("ALLOC_SURVIVORS_ONLY") === "1";

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    session.post(method, params, (error: Error | null, result: unknown) => {
      if (error !== null) reject(error);
      else resolve(result as T);
    });
  });
}

if (FILE !== undefined) {
  const session = new Session();
  session.connect();
  Deno.addSignalListener("SIGUSR1", () => {
    post(session, "HeapProfiler.enable").then(() =>
      post(session, "HeapProfiler.startSampling", {
        samplingInterval: INTERVAL_BYTES,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !SURVIVORS_ONLY,
      })
    ).catch((error) => console.error("alloc sampler:", error));
  });
  Deno.addSignalListener("SIGUSR2", () => {
    post<{ profile: unknown }>(session, "HeapProfiler.stopSampling").then(({ profile }) =>
      Deno.writeTextFileSync(FILE, JSON.stringify(profile))
    ).catch((error) => console.error("alloc sampler:", error));
  });
}
