/**
 * Child process of the defragmentation crash test: keeps writing rounds to a backend while it
 * defragments it again and again, and reports what is durable. A round puts every key of the
 * `round` bucket and `meta/round` to the round's number in one synchronous block (so a batch
 * commit never splits it); after each forceCommit() outside a defragmentation it prints
 * `durable N`. It prints `defrag` when one starts and `defragged` when it ends; rounds go on meanwhile, the event loop
 * turning between them. Usage: deno run -A tests/backend_defrag_crash_child.ts PATH
 */

import { openBackend } from "../backend/mod.ts";

const ROUND_KEYS = 200;
const BULK_KEYS = 30000;
const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

const backend = openBackend({ path: Deno.args[0]!, batchIntervalMs: 20 });
const tx = backend.batchTx;
tx.lock();
for (const name of ["bulk", "round", "meta"]) tx.unsafeCreateBucket(bytes(name));
if (backend.readTx().unsafeRange(bytes("meta"), bytes("round"), undefined, 0).keys.length === 0) {
  for (let i = 0; i < BULK_KEYS; i++) {
    tx.unsafePut(bytes("bulk"), bytes(`b${String(i).padStart(6, "0")}`), new Uint8Array(100));
  }
}
tx.unlock();
backend.forceCommit();
const found = backend.readTx().unsafeRange(bytes("meta"), bytes("round"), undefined, 0).values[0];
let round = found === undefined ? 0 : Number(new TextDecoder().decode(found));
for (;;) {
  round++;
  tx.lock();
  for (let i = 0; i < ROUND_KEYS; i++) {
    tx.unsafePut(bytes("round"), bytes(`k${i}`), bytes(String(round)));
  }
  tx.unsafePut(bytes("meta"), bytes("round"), bytes(String(round)));
  // Some churn in the big bucket, so that each defragmentation has pages to give back.
  tx.unsafeDelete(bytes("bulk"), bytes(`b${String((round * 7919) % BULK_KEYS).padStart(6, "0")}`));
  tx.unlock();
  if (backend.defragProgress() === undefined) {
    if (round % 10 === 0) {
      backend.forceCommit();
      console.log(`durable ${round}`);
    }
    if (round % 25 === 0) {
      console.log("defrag");
      backend.defrag().then(() => console.log("defragged"), (error) => {
        console.error(error);
        Deno.exit(1);
      });
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
}
