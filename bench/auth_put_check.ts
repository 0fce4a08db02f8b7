/**
 * What the simple-token put path pays for access control, without a server:
 * `deno run -A bench/auth_put_check.ts [calls]`.
 *
 * Builds the auth store over a real bolt backend in a temp dir (bcrypt cost 4), a user whose
 * role covers `[bench/, bench0)` as in `bench/auth.ts`, and a simple token issued at an index
 * the fake member has applied. Then times, per call, what a Put with that token costs on the
 * request path (`authInfoFromToken`: the token's index, the lookup, the TTL refresh) and on
 * the apply loop (`isPutPermitted` at the token's revision), in rounds of `calls` (default
 * 50,000), each half in its own timed loop, and prints microseconds per call for each round.
 * Run it on two checkouts back to back to compare them; the numbers are CPU on one thread and
 * move with the machine's load.
 *
 * @module
 */

import { openBackend } from "../backend/mod.ts";
import { AuthStore, SimpleTokenProvider } from "../auth/mod.ts";

const calls = Number(Deno.args[0] ?? "50000");
if (!Number.isSafeInteger(calls) || calls <= 0) throw new Error("calls: not a count");
const ROUNDS = 5;
const APPLIED_INDEX = 100;

const dir = Deno.makeTempDirSync({ prefix: "detcd_auth_put_check_" });
const backend = openBackend({ path: `${dir}/db` });
const tokens = new SimpleTokenProvider({
  ttlMs: 300_000,
  waitApplied: () => Promise.resolve(),
  appliedIndex: () => APPLIED_INDEX,
  committedIndex: () => APPLIED_INDEX,
});
const store = new AuthStore(backend, { bcryptCost: 4, tokens });
try {
  const enc = (text: string) => new TextEncoder().encode(text);
  for (const name of ["root", "bench"]) {
    store.userAdd({ name, hashedPassword: await store.hashPassword(`${name}-pw`) });
  }
  store.userGrantRole("root", "root");
  store.roleAdd("bench");
  store.roleGrantPermission("bench", { key: enc("bench/"), rangeEnd: enc("bench0"), permType: 2 });
  store.userGrantRole("bench", "bench");
  store.authEnable();
  const token = await store.authenticate("bench", {
    index: APPLIED_INDEX,
    simpleTokenPrefix: store.genTokenPrefix(),
  });
  const keys = Array.from({ length: 1000 }, (_, i) => enc(`bench/${i}`));
  const signal = new AbortController().signal;
  const info = await store.authInfoFromToken(token, signal);
  if (info === undefined) throw new Error("the token was refused");
  for (let round = 0; round < ROUNDS; round++) {
    // Each half in a loop of its own, timed as a whole: the clock is coarser than one call.
    let began = performance.now();
    for (let i = 0; i < calls; i++) {
      if ((await store.authInfoFromToken(token, signal)) === undefined) throw new Error("refused");
    }
    const requestUs = (performance.now() - began) * 1000 / calls;
    began = performance.now();
    for (let i = 0; i < calls; i++) store.isPutPermitted(info, keys[i % keys.length]!);
    const applyUs = (performance.now() - began) * 1000 / calls;
    console.log(
      `round ${round}: token check ${requestUs.toFixed(2)} µs, ` +
        `apply-time put check ${applyUs.toFixed(2)} µs per call`,
    );
  }
} finally {
  store.close();
  backend.close();
  Deno.removeSync(dir, { recursive: true });
}
