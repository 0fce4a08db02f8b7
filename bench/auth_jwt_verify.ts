/**
 * The cost of checking a JWT on the request path: `deno run -A bench/auth_jwt_verify.ts`.
 *
 * Builds the RS256 provider as `--auth-token jwt,...` does (a 2048-bit RSA pair in temp files),
 * then times `info()` for one token (what every request with that token pays: a cache hit after
 * the first call) and for fresh tokens (the full signature check, a miss every time). Prints
 * microseconds per call for both. No server, no network: it isolates the token check that
 * `bench/auth.ts` measures end to end.
 *
 * @module
 */

import { generateKeyPairSync } from "node:crypto";
import { newJwtProvider } from "../auth/mod.ts";

const CALLS = 2000;
const dir = Deno.makeTempDirSync({ prefix: "detcd_jwt_bench_" });
try {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = (key: typeof privateKey, type: "pkcs8" | "spki") =>
    key.export({ type, format: "pem" }) as string;
  Deno.writeTextFileSync(`${dir}/priv.pem`, pem(privateKey, "pkcs8"));
  Deno.writeTextFileSync(`${dir}/pub.pem`, pem(publicKey, "spki"));
  const provider = await newJwtProvider({
    options: new Map([
      ["priv-key", `${dir}/priv.pem`],
      ["pub-key", `${dir}/pub.pem`],
      ["sign-method", "RS256"],
    ]),
  });
  const fresh: string[] = [];
  for (let i = 0; i < CALLS; i++) fresh.push(await provider.assign(`user${i}`, 1));
  const same = await provider.assign("user", 1);
  let began = performance.now();
  for (const token of fresh) await provider.info(token, 1);
  const missUs = (performance.now() - began) * 1000 / CALLS;
  began = performance.now();
  for (let i = 0; i < CALLS; i++) await provider.info(same, 1);
  const hitUs = (performance.now() - began) * 1000 / CALLS;
  console.log(`RS256 info(), a new token each call (signature checked): ${missUs.toFixed(1)} µs`);
  console.log(`RS256 info(), the same token again (remembered):          ${hitUs.toFixed(1)} µs`);
} finally {
  Deno.removeSync(dir, { recursive: true });
}
