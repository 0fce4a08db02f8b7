// Goal: bcrypt runs off the event loop with the same answers as bcryptjs. Method: hash and
// compare through the pool (right, wrong, malformed); then four cost-10 compares at once while
// a 5 ms timer measures how late the loop runs, against the time of one compare on this thread.
import { ok, strictEqual } from "node:assert/strict";
import bcrypt from "bcryptjs";
import { BcryptPool } from "./bcrypt_pool.ts";

Deno.test("the pool hashes and compares as bcryptjs does", async () => {
  const pool = new BcryptPool();
  try {
    const hash = await pool.hash("pw", 4);
    ok(hash.startsWith("$2b$04$"), hash);
    strictEqual(bcrypt.compareSync("pw", hash), true);
    strictEqual(await pool.compare("pw", hash), true);
    strictEqual(await pool.compare("other", hash), false);
    strictEqual(await pool.compare("pw", "not a hash"), false);
    strictEqual(await pool.compare("pw", bcrypt.hashSync("pw", 4)), true);
  } finally {
    pool.close();
  }
});

Deno.test("compares on the pool leave the event loop free", async () => {
  const pool = new BcryptPool();
  try {
    const hash = bcrypt.hashSync("pw", 10);
    await pool.compare("pw", hash); // start the workers
    const started = performance.now();
    bcrypt.compareSync("pw", hash);
    const oneCompareMs = performance.now() - started;
    let maxLagMs = 0;
    let expected = performance.now() + 5;
    const timer = setInterval(() => {
      const now = performance.now();
      maxLagMs = Math.max(maxLagMs, now - expected);
      expected = now + 5;
    }, 5);
    const results = await Promise.all([1, 2, 3, 4].map(() => pool.compare("pw", hash)));
    clearInterval(timer);
    strictEqual(results.every((same) => same), true);
    ok(maxLagMs < oneCompareMs, `loop held ${maxLagMs} ms; one compare takes ${oneCompareMs} ms`);
  } finally {
    pool.close();
  }
});
