/**
 * Crash safety of the bolt file: a child process commits random transactions in a loop and
 * reports each txid after its commit returned; the parent SIGKILLs it at a random moment,
 * 200 times in all, switching freelist type and persistence mode at random between runs.
 * After every kill the parent reopens the file and checks that it opens, that check() finds
 * the tree and the page accounting whole, that the last reported commit (or a later one whose
 * report was cut off) is the visible state, and that every value was written by a committed
 * transaction.
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { check, DB } from "../backend/mod.ts";

const KILLS = Number(Deno.env.get("BACKEND_CRASH_KILLS") ?? "200");
const PARALLEL = 4;

function verify(path: string, lastReported: number): number {
  const db = DB.open(path, { freelistType: "map", noFreelistSync: true });
  try {
    deepStrictEqual(check(db), [], "check() after a crash");
    const txid = db.meta.txid;
    ok(
      txid === lastReported || txid === lastReported + 1,
      `txid ${txid} after last report ${lastReported}`,
    );
    const decoder = new TextDecoder();
    db.view((tx) => {
      const last = tx.bucket(new TextEncoder().encode("meta"))?.get(
        new TextEncoder().encode("last"),
      );
      if (txid > 1 || last !== undefined) deepStrictEqual(decoder.decode(last), String(txid));
      tx.bucket(new TextEncoder().encode("data"))?.forEach((_k, v) => {
        const writer = Number(decoder.decode(v!).split(":")[0]);
        ok(writer >= 2 && writer <= txid, `value written by txid ${writer} after ${txid}`);
      });
    });
    return txid;
  } finally {
    db.close();
  }
}

async function runOne(path: string, seed: number, lastReported: number): Promise<number> {
  const freelistType = seed % 2 === 0 ? "map" : "array";
  const mode = seed % 3 === 0 ? "persist" : "nosync";
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./backend_crash_child.ts", import.meta.url).pathname,
      path,
      freelistType,
      mode,
      String(seed),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let killScheduled = false;
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // The child is gone already.
    }
  };
  // Kill after a random number of reported commits (0..40), or at a random time if slow.
  const commitsBeforeKill = Math.floor(((seed * 2654435761) >>> 0) % 41);
  const timers = [setTimeout(kill, 5000 + (seed % 50))];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
      const lines = text.split("\n").filter((l) => l !== "");
      if (lines.length > commitsBeforeKill && !killScheduled) {
        killScheduled = true;
        // A short random pause lands the kill at a random point of a later commit.
        timers.push(setTimeout(kill, seed % 7));
      }
    }
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
  const status = await child.status;
  const stderr = await new Response(child.stderr).text();
  ok(status.signal === "SIGKILL", `child ended with ${status.code}: ${stderr}`);
  const reported = text.split("\n").filter((l) => /^\d+$/.test(l)).map(Number);
  const last = reported.length > 0 ? reported[reported.length - 1]! : lastReported;
  return verify(path, last);
}

Deno.test({
  name:
    `crash: ${KILLS} SIGKILLs during commits leave a file that opens, checks and holds the last commit`,
  sanitizeResources: false,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "detcd-backend-crash-" });
    try {
      let kills = 0;
      const lanes = Array.from({ length: PARALLEL }, async (_, lane) => {
        const path = `${dir}/db${lane}`;
        let last = 0;
        for (let i = lane; i < KILLS; i += PARALLEL) {
          last = await runOne(path, i + 1, last);
          kills++;
        }
      });
      await Promise.all(lanes);
      deepStrictEqual(kills, KILLS);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
