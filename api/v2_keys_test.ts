// parseKeyRequest() reads the form as Go's ParseForm and etcd's parseKeyRequest do: the
// urlencoded body before the query, first values win, `;` and bad escapes are
// `Invalid POST form`, bad numbers and booleans give their codes, an empty ttl is no ttl,
// refresh needs a TTL and no value.

import { equal, ok, rejects } from "node:assert/strict";
import { parseKeyRequest } from "./v2_keys.ts";
import { V2Error } from "../server/mod.ts";

function request(method: string, target: string, body?: string): [Request, URL, string] {
  const url = new URL(`http://127.0.0.1${target}`);
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = body;
    init.headers = { "Content-Type": "application/x-www-form-urlencoded" };
  }
  return [new Request(url, init), url, decodeURIComponent(url.pathname)];
}

async function parse(method: string, target: string, body?: string) {
  const [r, url, path] = request(method, target, body);
  return await parseKeyRequest(r, url, path);
}

async function code(method: string, target: string, body?: string): Promise<[number, string]> {
  try {
    await parse(method, target, body);
  } catch (error) {
    ok(error instanceof V2Error, String(error));
    return [error.errorCode, error.cause_];
  }
  throw new Error("parsed");
}

Deno.test("the body comes before the query; keys live under /1", async () => {
  const { request: r } = await parse("PUT", "/v2/keys/a/b?value=query", "value=body+x%21");
  equal(r.Path, "/1/a/b");
  equal(r.Val, "body x!");
  equal((await parse("DELETE", "/v2/keys/a?value=q", "value=ignored")).request.Val, "q");
});

Deno.test("bad input gives etcd's codes and causes", async () => {
  equal((await code("GET", "/v2/keys/a?recursive=maybe"))[0], 209);
  equal((await code("GET", "/v2/keys/a?waitIndex=-1"))[1], `invalid value for "waitIndex"`);
  equal((await code("PUT", "/v2/keys/a", "ttl=1.5"))[0], 202);
  equal(
    (await code("PUT", "/v2/keys/a?wait=true"))[1],
    `"wait" can only be used with GET requests`,
  );
  equal((await code("PUT", "/v2/keys/a", "prevValue="))[0], 201);
  equal((await code("PUT", "/v2/keys/a", "refresh=true"))[0], 212);
  equal((await code("PUT", "/v2/keys/a", "refresh=true&ttl=5&value=x"))[0], 211);
  equal((await code("GET", "/v2/keys/a?x=%zz"))[1], `invalid URL escape "%zz"`);
  equal((await code("GET", "/v2/keys/a?x=1;y=2"))[1], "invalid semicolon separator in query");
});

Deno.test("an empty ttl is none; a ttl sets the expiration; prevExist is kept only if given", async () => {
  const none = (await parse("PUT", "/v2/keys/a", "value=v&ttl=")).request;
  equal(Number(none.Expiration), 0);
  equal(Object.hasOwn(none, "PrevExist"), false);
  const before = Date.now();
  const withTtl = (await parse("PUT", "/v2/keys/a", "value=v&ttl=10&prevExist=false")).request;
  const expiresMs = Number(BigInt(String(withTtl.Expiration)) / 1_000_000n);
  ok(expiresMs >= before + 10_000 && expiresMs <= Date.now() + 10_000, String(expiresMs));
  equal(withTtl.PrevExist, false);
  await rejects(parse("PUT", "/v2/keys/a", "prevExist=maybe"), V2Error);
});
