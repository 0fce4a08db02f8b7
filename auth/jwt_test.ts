// Goal: JWT tokens carry etcd's claims and are refused when expired, forged, signed with
// another key or another algorithm, or tampered with; a bad `--auth-token jwt,...` fails as
// etcd fails at start. Method: real RSA/EC key pairs written to temp files, a fake clock.
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { JWT_CACHE_ENTRIES_MAX, newJwtProvider, parseGoDuration } from "./jwt.ts";
import { ErrInvalidAuthOpts, ErrKeyMismatch, ErrMissingKey, ErrVerifyOnly } from "./errors.ts";
import { parseTokenOptions } from "./token.ts";

async function keyFiles(type: "rsa" | "ec"): Promise<{ dir: string; pub: string; priv: string }> {
  const dir = await Deno.makeTempDir({ prefix: "detcd_jwt_" });
  const pair = type === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pub = `${dir}/pub.pem`;
  const priv = `${dir}/priv.pem`;
  await Deno.writeTextFile(pub, pair.publicKey.export({ type: "spki", format: "pem" }) as string);
  const privatePem = type === "rsa"
    ? pair.privateKey.export({ type: "pkcs1", format: "pem" }) // Go's "RSA PRIVATE KEY"
    : pair.privateKey.export({ type: "sec1", format: "pem" }); // Go's "EC PRIVATE KEY"
  await Deno.writeTextFile(priv, privatePem as string);
  return { dir, pub, priv };
}

function provider(text: string, now?: () => number) {
  const opts = parseTokenOptions(text);
  return newJwtProvider(
    now === undefined ? { options: opts.options } : { options: opts.options, now },
  );
}

Deno.test("an RS256 token carries username, revision and exp, and verifies", async () => {
  const keys = await keyFiles("rsa");
  const now = 1_700_000_000_000;
  const p = await provider(
    `jwt,pub-key=${keys.pub},priv-key=${keys.priv},sign-method=RS256,ttl=10m`,
    () => now,
  );
  const token = await p.assign("alice", 7);
  deepStrictEqual(decodeProtectedHeader(token), { alg: "RS256", typ: "JWT" });
  deepStrictEqual(decodeJwt(token), { exp: now / 1000 + 600, revision: 7, username: "alice" });
  deepStrictEqual(await p.info(token, 99), { username: "alice", revision: 7 });
  await Deno.remove(keys.dir, { recursive: true });
});

Deno.test("expired, tampered, other-key and other-algorithm tokens are refused", async () => {
  const keys = await keyFiles("rsa");
  const other = await keyFiles("rsa");
  let now = 1_700_000_000_000;
  const opts = `sign-method=RS256,ttl=1s`;
  const p = await provider(`jwt,pub-key=${keys.pub},priv-key=${keys.priv},${opts}`, () => now);
  const forger = await provider(`jwt,priv-key=${other.priv},${opts}`, () => now);
  const token = await p.assign("root", 3);
  strictEqual(await p.info(await forger.assign("root", 3), 3), undefined, "another key");
  const [head, body, sig] = token.split(".") as [string, string, string];
  const claims = JSON.parse(atob(body.replace(/-/g, "+").replace(/_/g, "/")));
  const forged = btoa(JSON.stringify({ ...claims, username: "mallory" }))
    .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  strictEqual(await p.info(`${head}.${forged}.${sig}`, 3), undefined, "tampered claims");
  strictEqual(await p.info(`${head}.${body}.`, 3), undefined, "no signature");
  strictEqual(await p.info("not.a.jwt", 3), undefined, "garbage");
  const ps = await provider(`jwt,priv-key=${keys.priv},sign-method=PS256`, () => now);
  strictEqual(await p.info(await ps.assign("root", 3), 3), undefined, "another algorithm");
  now += 2000;
  strictEqual(await p.info(token, 3), undefined, "expired");
  await Deno.remove(keys.dir, { recursive: true });
  await Deno.remove(other.dir, { recursive: true });
});

Deno.test("ES256 with SEC 1 keys; a public key alone only verifies", async () => {
  const keys = await keyFiles("ec");
  const signer = await provider(`jwt,pub-key=${keys.pub},priv-key=${keys.priv},sign-method=ES256`);
  const verifier = await provider(`jwt,pub-key=${keys.pub},sign-method=ES256`);
  strictEqual(verifier.verifyOnly, true);
  const token = await signer.assign("bob", 2);
  deepStrictEqual(await verifier.info(token, 0), { username: "bob", revision: 2 });
  await rejects(verifier.assign("bob", 2), (e) => e === ErrVerifyOnly);
  await Deno.remove(keys.dir, { recursive: true });
});

Deno.test("bad options fail as etcd fails at start", async () => {
  const keys = await keyFiles("rsa");
  const other = await keyFiles("rsa");
  const is = (expected: unknown) => (e: unknown) => e === expected;
  await rejects(provider(`jwt,priv-key=${keys.priv},sign-method=XS999`), is(ErrInvalidAuthOpts));
  await rejects(provider(`jwt,priv-key=/nonexistent,sign-method=RS256`), is(ErrInvalidAuthOpts));
  await rejects(
    provider(`jwt,priv-key=${keys.priv},sign-method=RS256,ttl=5x`),
    is(ErrInvalidAuthOpts),
  );
  await rejects(provider(`jwt,sign-method=RS256`), is(ErrMissingKey));
  // etcd 3.4 refuses a pair only when every part differs: RSA keys sharing e=65537 pass
  // (and the private key's own public half verifies), EC keys on different curves do not.
  const lax = await provider(`jwt,pub-key=${other.pub},priv-key=${keys.priv},sign-method=RS256`);
  strictEqual((await lax.info(await lax.assign("u", 1), 1))?.username, "u");
  const ec = await keyFiles("ec");
  const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey;
  await Deno.writeTextFile(
    `${ec.dir}/p384.pem`,
    p384.export({ type: "spki", format: "pem" }) as string,
  );
  await rejects(
    provider(`jwt,pub-key=${ec.dir}/p384.pem,priv-key=${ec.priv},sign-method=ES256`),
    is(ErrKeyMismatch),
  );
  await Deno.remove(ec.dir, { recursive: true });
  await rejects(provider(`jwt,priv-key=${keys.pub},sign-method=RS256`));
  await rejects(provider(`jwt,priv-key=${keys.priv},sign-method=ES256`));
  await Deno.remove(keys.dir, { recursive: true });
  await Deno.remove(other.dir, { recursive: true });
});

Deno.test("Go durations parse as time.ParseDuration does", () => {
  strictEqual(parseGoDuration("5m"), 300_000);
  strictEqual(parseGoDuration("1h30m"), 5_400_000);
  strictEqual(parseGoDuration("1.5s"), 1500);
  strictEqual(parseGoDuration("300ms"), 300);
  strictEqual(parseGoDuration("0"), 0);
  strictEqual(parseGoDuration("5"), undefined);
  strictEqual(parseGoDuration(""), undefined);
  strictEqual(parseGoDuration("m"), undefined);
});

Deno.test("a remembered token still expires on time, and forgeries of it never match", async () => {
  // Goal: the cache of verified tokens (which skips the signature check) keeps every refusal.
  // Method: verify a token once (now cached), then try tampered copies, the token itself past
  // its exp (to the second, as jose decides), and more distinct tokens than the cache holds.
  const keys = await keyFiles("rsa");
  const start = 1_700_000_000_000;
  let now = start;
  const p = await provider(
    `jwt,pub-key=${keys.pub},priv-key=${keys.priv},sign-method=RS256,ttl=2s`,
    () => now,
  );
  const token = await p.assign("alice", 4);
  deepStrictEqual(await p.info(token, 4), { username: "alice", revision: 4 });
  strictEqual(p.cachedTokens, 1);
  const [head, body, sig] = token.split(".") as [string, string, string];
  const claims = JSON.parse(atob(body.replace(/-/g, "+").replace(/_/g, "/")));
  const forged = btoa(JSON.stringify({ ...claims, username: "root" }))
    .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  strictEqual(await p.info(`${head}.${forged}.${sig}`, 4), undefined, "claims changed");
  strictEqual(await p.info(`${head}.${body}.${sig.slice(0, -2)}AA`, 4), undefined, "signature");
  strictEqual(p.cachedTokens, 1, "refused tokens are not remembered");
  now = start + 1999; // exp is start/1000 + 2: still valid in its last millisecond
  deepStrictEqual(await p.info(token, 4), { username: "alice", revision: 4 });
  now = start + 2000;
  strictEqual(await p.info(token, 4), undefined, "expired while cached");
  strictEqual(p.cachedTokens, 0, "an expired entry leaves the cache");
  await Deno.remove(keys.dir, { recursive: true });
  // The bound: past JWT_CACHE_ENTRIES_MAX distinct tokens the oldest leaves first (HS256 here,
  // whose signing is cheap enough for a few thousand tokens).
  now = start;
  const secret = await Deno.makeTempFile({ prefix: "detcd_jwt_secret_" });
  await Deno.writeTextFile(secret, "a shared secret");
  const hs = await provider(`jwt,priv-key=${secret},sign-method=HS256`, () => now);
  const tokens = [];
  for (let i = 0; i <= JWT_CACHE_ENTRIES_MAX; i++) tokens.push(await hs.assign(`u${i}`, 1));
  for (const t of tokens) strictEqual((await hs.info(t, 1))?.revision, 1);
  strictEqual(hs.cachedTokens, JWT_CACHE_ENTRIES_MAX);
  deepStrictEqual(await hs.info(tokens[0]!, 1), { username: "u0", revision: 1 }, "verified again");
  strictEqual(hs.cachedTokens, JWT_CACHE_ENTRIES_MAX);
  await Deno.remove(secret);
});
