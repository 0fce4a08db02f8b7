/**
 * Crash safety of the defragmentation that copies in steps while writes go on: a child writes
 * rounds (every key of a bucket set to the round's number, in one block) and defragments its
 * backend every 25 rounds without waiting; the parent SIGKILLs it at a random moment shortly
 * after a defragmentation began (most kills land inside one: during the copy, a commit of the
 * copy, or the switch), reopens the file and checks that it opens, that check() finds it whole,
 * that the visible round is at least the last one reported durable, that every key of the round
 * bucket holds that same round (no half round, no write lost from the journal), and that the
 * big bucket kept its keys. Then the child restarts on the same file (a leftover `.defrag.tmp`
 * included). `DEFRAG_CRASH_KILLS` sets the number of kills (default 4).
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { check, DB } from "../backend/mod.ts";

const KILLS = Number(Deno.env.get("DEFRAG_CRASH_KILLS") ?? "4");
const CHILD = new URL("./backend_defrag_crash_child.ts", import.meta.url).pathname;

function verify(path: string, lastDurable: number): number {
  const db = DB.open(path, { freelistType: "map", noFreelistSync: true });
  try {
    deepStrictEqual(check(db), [], "check() after a crash");
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    return db.view((tx) => {
      const round = Number(
        decoder.decode(tx.bucket(encoder.encode("meta"))!.get(encoder.encode("round"))!),
      );
      ok(round >= lastDurable, `round ${round} visible after durable ${lastDurable}`);
      let keys = 0;
      tx.bucket(encoder.encode("round"))!.forEach((_k, v) => {
        keys++;
        deepStrictEqual(Number(decoder.decode(v!)), round, "every key holds the visible round");
      });
      deepStrictEqual(keys, 200);
      const bulk = tx.bucket(encoder.encode("bulk"))!.stats().keyN;
      ok(bulk > 29000 && bulk <= 30000, `bulk keys ${bulk}`);
      return round;
    });
  } finally {
    db.close();
  }
}

Deno.test({
  name: "SIGKILL during defragmentations with writes going on leaves the last durable state whole",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "detcd_defrag_crash_" });
    const path = `${dir}/db`;
    let lastDurable = 0;
    let kills = 0;
    let killsInsideDefrag = 0;
    try {
      while (kills < KILLS) {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", CHILD, path],
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        let defrags = 0;
        let running = false;
        let killedRunning = false;
        // Kill after the 1st or 2nd defragmentation began, 0-400 ms into it.
        const killAfter = 1 + (kills % 2);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const lines = child.stdout.pipeThrough(new TextDecoderStream());
        let buffered = "";
        for await (const chunk of lines) {
          buffered += chunk;
          const parts = buffered.split("\n");
          buffered = parts.pop()!;
          for (const line of parts) {
            if (line.startsWith("durable ")) lastDurable = Number(line.slice(8));
            if (line === "defrag") running = true;
            if (line === "defragged") running = false;
            if (line === "defrag" && ++defrags === killAfter) {
              timer = setTimeout(() => {
                killedRunning = running;
                child.kill("SIGKILL");
              }, Math.floor(Math.random() * 400));
            }
          }
        }
        clearTimeout(timer);
        const status = await child.status;
        ok(status.signal === "SIGKILL", `child ended by ${status.signal ?? status.code}`);
        kills++;
        if (killedRunning) killsInsideDefrag++;
        lastDurable = verify(path, lastDurable);
      }
      // As the child last said: a kill could land before its "defragged" line was read.
      ok(killsInsideDefrag > 0, "at least one kill landed inside a defragmentation");
      console.log(`${kills} kills, ${killsInsideDefrag} inside a defragmentation`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
