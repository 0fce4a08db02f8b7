/**
 * Crash test: a child process saves batches in a loop and prints each acknowledged index; the
 * parent SIGKILLs it at random moments, 200 times, and after every kill reopens the WAL
 * (repairing a torn tail) and checks that every acknowledged entry is there, byte for byte,
 * with no gap. Small segments make cuts frequent, so kills land inside cuts too. A SIGKILL
 * alone keeps what reached the page cache, so after about a third of the kills the parent
 * also plays a power loss: it cuts or zeros the tail past the last acknowledged save (data
 * that was never synced), which the reopen must repair without losing an acknowledged entry.
 *
 * Set WAL_CRASH_KILLS to run longer: `deno task test:wal-crash` runs 1000 kills.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { Wal } from "../wal/wal.ts";
import { readWalNames } from "../wal/names.ts";
import { decodeEntry } from "../raft/mod.ts";
import { fileSegment, SECTOR_BYTES, WalDecoder } from "../wal/decoder.ts";
import { RecordType } from "../wal/walpb.ts";
import { crashEntryData } from "./wal_crash_child.ts";

const KILLS = Number(Deno.env.get("WAL_CRASH_KILLS") ?? "200");
const SEGMENT_BYTES = 16 * 1024;
const RUNS_PER_DIR = 10;
const CHILD = new URL("./wal_crash_child.ts", import.meta.url).pathname;

/**
 * Power loss after the kill: what was written after the last acknowledged save was never
 * synced, so a disk may keep any part of it. Cuts the tail segment short somewhere past the
 * acknowledged records, or zeros it from a sector boundary there on. Returns true if it did.
 */
function loseUnsyncedTail(dir: string, acknowledged: number, random: () => number): boolean {
  const names = readWalNames(dir);
  const tail = names[names.length - 1]!;
  const decoder = new WalDecoder(names.map((name) => fileSegment(dir, name)));
  const frames: { segment: string; end: number; type: number; index: number }[] = [];
  for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
    if (f.record.type === RecordType.crc) decoder.updateCrc(f.record.crc);
    const index = f.record.type === RecordType.entry ? decodeEntry(f.record.data!).index : -1;
    frames.push({ segment: f.segment, end: f.offset + f.frameBytes, type: f.record.type, index });
  }
  let at = frames.findLastIndex((f) => f.index === acknowledged);
  if (at < 0 || frames[at]!.segment !== tail) return false;
  // The acknowledged save ended with its hard state record.
  if (frames[at + 1]?.type === RecordType.state) at++;
  const ackEnd = frames[at]!.end;
  const lastEnd = frames[frames.length - 1]!.end;
  if (lastEnd <= ackEnd + 1) return false;
  const cut = ackEnd + 1 + Math.floor(random() * (lastEnd - ackEnd - 1));
  const path = join(dir, tail);
  const bytes = Deno.readFileSync(path);
  const sector = Math.ceil(cut / SECTOR_BYTES) * SECTOR_BYTES;
  if (random() < 0.5 && sector < lastEnd) {
    bytes.fill(0, sector, lastEnd);
    Deno.writeFileSync(path, bytes);
  } else {
    Deno.writeFileSync(path, bytes.subarray(0, cut));
  }
  return true;
}

/** Spawns the writer, waits until it is writing, kills it after `delayMs`; returns its acks. */
async function runAndKill(dir: string, delayMs: number, seed: number): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-check",
      "--allow-read",
      "--allow-write",
      CHILD,
      dir,
      String(SEGMENT_BYTES),
      String(seed),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let text = "";
  const { promise: isReady, resolve: ready } = Promise.withResolvers<void>();
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes("ready")) ready();
    }
  })();
  const stderr = new Response(child.stderr).text();
  const exited = child.status.then((status) => {
    ready();
    return status;
  });
  await isReady;
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited: reported below.
  }
  const status = await exited;
  await reading;
  const errors = await stderr;
  strictEqual(status.signal, "SIGKILL", `the writer died on its own: ${errors}`);
  // Only whole lines were acknowledged; the last one may have been cut by the kill.
  const lines = text.split("\n").slice(0, -1).filter((line) => /^\d+$/.test(line));
  return lines.length === 0 ? 0 : Number(lines[lines.length - 1]);
}

Deno.test("every save acknowledged before a SIGKILL is read back after repair (200 kills)", async () => {
  const root = await Deno.makeTempDir({ prefix: "wal_crash_" });
  let seed = 20261122;
  const random = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  let dir = "";
  let acknowledged = 0;
  let repairs = 0;
  let powerLosses = 0;
  let maxSegments = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    if (kill % RUNS_PER_DIR === 0) {
      dir = join(root, `wal-${kill}`);
      acknowledged = 0;
    }
    // Mostly short runs (kills land in the first saves and in cuts), sometimes longer ones.
    const delayMs = random() < 0.8 ? random() * 25 : random() * 120;
    const acked = await runAndKill(dir, delayMs, kill + 1);
    acknowledged = Math.max(acknowledged, acked);
    if (!Wal.exists(dir)) {
      strictEqual(acknowledged, 0, "no WAL, so nothing may have been acknowledged");
      continue;
    }
    if (random() < 0.35 && loseUnsyncedTail(dir, acknowledged, random)) powerLosses++;
    const wal = await Wal.open(dir, { index: 0, term: 0 }, { segmentBytes: SEGMENT_BYTES });
    const contents = await wal.readAll();
    await wal.close();
    if (contents.repaired !== undefined) repairs++;
    const { entries } = contents;
    ok(
      entries.length >= acknowledged,
      `kill ${kill}: ${entries.length} entries < ${acknowledged} acknowledged`,
    );
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      strictEqual(e.index, i + 1, `kill ${kill}: no gap`);
      deepStrictEqual(e.data, crashEntryData(e.index), `kill ${kill}: entry ${e.index} intact`);
    }
    maxSegments = Math.max(maxSegments, readWalNames(dir).length);
  }
  console.log(
    `${KILLS} kills, ${powerLosses} with unsynced data lost, ${repairs} torn tails repaired, ` +
      `up to ${maxSegments} segments per WAL`,
  );
  ok(repairs > 0, "some kills left a torn tail to repair");
  ok(maxSegments > 3, "runs crossed segment cuts");
  await Deno.remove(root, { recursive: true });
});
