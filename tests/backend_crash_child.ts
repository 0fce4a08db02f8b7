/**
 * Child process of the backend crash test: commits random transactions to a bolt file in a
 * loop and prints each committed txid on stdout once commit() returned (so it is durable).
 * Every value names the txid that wrote it, so the parent can tell a torn state from a clean
 * one. Usage: deno run -A tests/backend_crash_child.ts PATH map|array persist|nosync SEED
 */

import { DB } from "../backend/mod.ts";

const [path, freelistType, mode, seedText] = Deno.args;
let seed = Number(seedText) >>> 0;
function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const encoder = new TextEncoder();
const db = DB.open(path!, {
  freelistType: freelistType === "array" ? "array" : "map",
  noFreelistSync: mode === "nosync",
});
for (;;) {
  const tx = db.begin(true);
  const txid = tx.id();
  const data = tx.createBucketIfNotExists(encoder.encode("data"));
  const ops = 1 + Math.floor(rand() * 60);
  for (let i = 0; i < ops; i++) {
    const key = encoder.encode("k" + Math.floor(rand() * 400));
    if (rand() < 0.3) {
      data.delete(key);
    } else {
      // value = "<txid>:" padded to a random length, from 0 to about 3 pages.
      const length = Math.floor(rand() * (rand() < 0.9 ? 300 : 12000));
      const value = new Uint8Array(Math.max(length, 12)).fill(0x2e);
      value.set(encoder.encode(`${txid}:`));
      data.put(key, value);
    }
  }
  tx.createBucketIfNotExists(encoder.encode("meta")).put(
    encoder.encode("last"),
    encoder.encode(String(txid)),
  );
  tx.commit();
  console.log(txid);
}
