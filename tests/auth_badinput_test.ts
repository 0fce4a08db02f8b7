// Goal: bad input to access control gets etcd 3.4's answer on detcd, and the server keeps
// serving: malformed, expired and forged simple tokens and JWTs, a JWT signed with another key,
// a JWT whose claims were edited, oversized user and role names, unknown roles and users,
// permissions with empty keys, wrong passwords.
// Method: the same scripted session runs against the real etcd and detcd (one member each,
// once with `--auth-token simple` and a 3 s token TTL, once with RS256 JWTs and `ttl=4s`); each
// call is reduced to `OK` or `CODE: message` and detcd must answer as etcd, cell by cell. After
// the session root's put must still succeed (the server still serves). A user or role name past
// bolt's 32 KiB key limit crashes etcd 3.4 itself (bolt panics), so that case runs on detcd
// only, where the member must answer and keep serving.
// Ports 32300-32339.
import { ok } from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { decodeJwt, importPKCS8, SignJWT } from "jose";
import * as grpc from "@grpc/grpc-js";
import { METHODS } from "../rpc/mod.ts";
import { type Impl, type Member, startMember } from "./_harness.ts";
import { callOutcome, type Message, type RpcMethod } from "./_grpc_outcome.ts";

const _ETCD_AVAILABLE = await Deno.stat("/usr/bin/etcd").then(() => true, () => false);
const _enc = (text: string) => new TextEncoder().encode(text);
const _RW = 2;

interface _Keys {
  dir: string;
  pub: string;
  priv: string;
  otherPrivPem: string;
}

/** Two RSA key pairs: the server's (files) and another one (PEM, for forging). */
async function _keys(): Promise<_Keys> {
  const dir = await Deno.makeTempDir({ prefix: "detcd-jwt-" });
  const pair = () =>
    generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
  const server = pair();
  await Deno.writeTextFile(`${dir}/jwt.pub`, server.publicKey);
  await Deno.writeTextFile(`${dir}/jwt.key`, server.privateKey);
  return {
    dir,
    pub: `${dir}/jwt.pub`,
    priv: `${dir}/jwt.key`,
    otherPrivPem: pair().privateKey,
  };
}

/** A session step: a method, a request, and the token to send (by name). */
interface _Step {
  what: string;
  method: RpcMethod;
  request: Message;
  /** A token name from the session's table, or a literal token. */
  token?: { name: string } | { literal: string };
  /** Milliseconds to wait before the call (token expiry). */
  waitMs?: number;
  /** Keep the token this call returns under this name. */
  keepToken?: string;
}

/** Long, but below bolt's 32 KiB key limit: etcd 3.4 itself dies on a longer user or role name. */
const _LONG = "n".repeat(16 * 1024);
/** Past bolt's key limit: etcd 3.4 crashes (bolt panics "key too large"); detcd must not. */
const _TOO_LONG = "n".repeat(64 * 1024);

function _steps(mode: "simple" | "jwt"): _Step[] {
  const put = { key: _enc("k1"), value: _enc("v") };
  return [
    { what: "put with no token", method: METHODS.KV.Put, request: put },
    {
      what: "put with a malformed token",
      method: METHODS.KV.Put,
      request: put,
      token: { literal: "not a token" },
    },
    {
      what: "put with a token of the other kind's shape",
      method: METHODS.KV.Put,
      request: put,
      token: { literal: mode === "simple" ? "a.b.c" : "AbCdEfGhIjKlMnOp.7" },
    },
    {
      what: "put with a forged token",
      method: METHODS.KV.Put,
      request: put,
      token: { name: "forged" },
    },
    {
      what: "put with alice's token",
      method: METHODS.KV.Put,
      request: put,
      token: { name: "alice" },
    },
    {
      what: "range with a 4 KiB token",
      method: METHODS.KV.Range,
      request: { key: _enc("k1") },
      token: { literal: "t".repeat(4096) },
    },
    ...(mode === "jwt"
      ? [
        {
          what: "put with a JWT signed by another key",
          method: METHODS.KV.Put,
          request: put,
          token: { name: "otherKey" },
        },
        {
          what: "put with alice's JWT, claims edited to root",
          method: METHODS.KV.Put,
          request: { key: _enc("o1"), value: _enc("v") },
          token: { name: "edited" },
        },
        {
          what: "put with an unsigned JWT (alg none)",
          method: METHODS.KV.Put,
          request: put,
          token: { name: "none" },
        },
      ]
      : []),
    {
      what: "authenticate with a wrong password",
      method: METHODS.Auth.Authenticate,
      request: { name: "alice", password: "wrong" },
    },
    {
      what: "authenticate an unknown user",
      method: METHODS.Auth.Authenticate,
      request: { name: "nobody", password: "x" },
    },
    {
      what: "authenticate with an empty name",
      method: METHODS.Auth.Authenticate,
      request: { name: "", password: "x" },
    },
    {
      what: "user add, empty name",
      method: METHODS.Auth.UserAdd,
      request: { name: "", password: "x" },
      token: { name: "root" },
    },
    {
      what: "user add, 16 KiB name",
      method: METHODS.Auth.UserAdd,
      request: { name: _LONG, password: "x" },
      token: { name: "root" },
    },
    {
      what: "user add, 2 MiB name",
      method: METHODS.Auth.UserAdd,
      request: { name: "n".repeat(2 * 1024 * 1024), password: "x" },
      token: { name: "root" },
    },
    {
      what: "role add, 16 KiB name",
      method: METHODS.Auth.RoleAdd,
      request: { name: _LONG },
      token: { name: "root" },
    },
    {
      what: "role add, empty name",
      method: METHODS.Auth.RoleAdd,
      request: { name: "" },
      token: { name: "root" },
    },
    {
      what: "grant an unknown role",
      method: METHODS.Auth.UserGrantRole,
      request: { user: "alice", role: "nope" },
      token: { name: "root" },
    },
    {
      what: "grant a role to an unknown user",
      method: METHODS.Auth.UserGrantRole,
      request: { user: "nobody", role: "rk" },
      token: { name: "root" },
    },
    {
      what: "revoke a role the user lacks",
      method: METHODS.Auth.UserRevokeRole,
      request: { name: "alice", role: "root" },
      token: { name: "root" },
    },
    {
      what: "permission with an empty key",
      method: METHODS.Auth.RoleGrantPermission,
      request: { name: "rk", perm: { permType: _RW, key: new Uint8Array(0) } },
      token: { name: "root" },
    },
    {
      what: "permission with an empty key and a range end",
      method: METHODS.Auth.RoleGrantPermission,
      request: { name: "rk", perm: { permType: _RW, key: new Uint8Array(0), rangeEnd: _enc("z") } },
      token: { name: "root" },
    },
    {
      what: "permission on an unknown role",
      method: METHODS.Auth.RoleGrantPermission,
      request: { name: "nope", perm: { permType: _RW, key: _enc("a") } },
      token: { name: "root" },
    },
    {
      what: "revoke a permission the role lacks",
      method: METHODS.Auth.RoleRevokePermission,
      request: { role: "rk", key: _enc("zz") },
      token: { name: "root" },
    },
    {
      what: "delete the root role",
      method: METHODS.Auth.RoleDelete,
      request: { role: "root" },
      token: { name: "root" },
    },
    {
      what: "get an unknown user",
      method: METHODS.Auth.UserGet,
      request: { name: "nobody" },
      token: { name: "root" },
    },
    {
      what: "root's put after the bad input",
      method: METHODS.KV.Put,
      request: put,
      token: { name: "root" },
    },
    {
      what: "alice's range after her token expired",
      method: METHODS.KV.Range,
      request: { key: _enc("k1") },
      token: { name: "alice" },
      waitMs: 5000,
    },
    {
      what: "root authenticates again",
      method: METHODS.Auth.Authenticate,
      request: { name: "root", password: "toor" },
      keepToken: "fresh",
    },
    {
      what: "root's put with the fresh token",
      method: METHODS.KV.Put,
      request: put,
      token: { name: "fresh" },
    },
  ];
}

async function _session(
  endpoint: string,
  mode: "simple" | "jwt",
  keys: _Keys,
  survivesLongNames: boolean,
) {
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": 8 * 1024 * 1024,
  });
  const cells = new Map<string, string>();
  try {
    const must = async (method: RpcMethod, request: Message, token?: string) => {
      const { cell, response } = await callOutcome(client, method, request, token);
      if (cell !== "OK") throw new Error(`setup ${method.path}: ${cell}`);
      return response;
    };
    await must(METHODS.Auth.RoleAdd, { name: "rk" });
    await must(METHODS.Auth.RoleGrantPermission, {
      name: "rk",
      perm: { permType: _RW, key: _enc("k"), rangeEnd: _enc("l") },
    });
    for (const [user, password, role] of [["root", "toor", "root"], ["alice", "ecila", "rk"]]) {
      await must(METHODS.Auth.UserAdd, { name: user, password });
      await must(METHODS.Auth.UserGrantRole, { user, role });
    }
    await must(METHODS.Auth.AuthEnable, {});
    const tokens = new Map<string, string>();
    tokens.set(
      "root",
      (await must(METHODS.Auth.Authenticate, { name: "root", password: "toor" })).token,
    );
    const alice =
      (await must(METHODS.Auth.Authenticate, { name: "alice", password: "ecila" })).token;
    tokens.set("alice", alice);
    if (mode === "simple") {
      // etcd's simple token: 16 letters, a dot, a number; these letters were never issued.
      tokens.set("forged", "QwErTyUiOpAsDfGh.1");
    } else {
      const claims = decodeJwt(alice);
      const other = await importPKCS8(keys.otherPrivPem, "RS256");
      const sign = (payload: Record<string, unknown>, key: typeof other) =>
        new SignJWT(payload).setProtectedHeader({ alg: "RS256" }).sign(key);
      tokens.set("otherKey", await sign({ ...claims, username: "root" }, other));
      const [head, , signature] = alice.split(".");
      const body = btoa(JSON.stringify({ ...claims, username: "root" })).replace(/=+$/, "")
        .replace(/\+/g, "-").replace(/\//g, "_");
      tokens.set("edited", `${head}.${body}.${signature}`);
      const noneHead = btoa(JSON.stringify({ alg: "none", typ: "JWT" })).replace(/=+$/, "");
      const noneBody = btoa(JSON.stringify({ ...claims, username: "root" })).replace(/=+$/, "");
      tokens.set("none", `${noneHead}.${noneBody}.`);
      tokens.set("forged", await sign({ username: "root", revision: 999 }, other));
    }
    for (const step of _steps(mode)) {
      if (step.waitMs !== undefined) await new Promise((r) => setTimeout(r, step.waitMs));
      // Root keeps its token alive across the waits (simple tokens are renewed by use). A JWT is
      // not renewed by use, and on a loaded machine the steps before the wait can outlast its 4 s:
      // root signs in again before each of its JWT steps, so only alice's token expires.
      if (mode === "jwt" && step.token !== undefined && "name" in step.token) {
        if (step.token.name === "root") {
          const fresh = await must(METHODS.Auth.Authenticate, { name: "root", password: "toor" });
          tokens.set("root", fresh.token);
        }
      }
      const token = step.token === undefined
        ? undefined
        : "literal" in step.token
        ? step.token.literal
        : tokens.get(step.token.name);
      const { cell, response } = await callOutcome(client, step.method, step.request, token);
      cells.set(`${mode} | ${step.what}`, cell);
      if (step.keepToken !== undefined && response?.token) {
        tokens.set(step.keepToken, response.token);
      }
    }
    if (survivesLongNames) {
      // Not compared (etcd dies here): detcd answers, then still serves root's put.
      const root =
        (await must(METHODS.Auth.Authenticate, { name: "root", password: "toor" })).token;
      for (const method of [METHODS.Auth.UserAdd, METHODS.Auth.RoleAdd]) {
        const request = { name: _TOO_LONG, password: "x" };
        cells.set(
          `${mode} | ${method.path} 64 KiB name`,
          (await callOutcome(client, method, request, root)).cell,
        );
      }
      const put = { key: _enc("k1"), value: _enc("after") };
      cells.set(
        `${mode} | put after 64 KiB names`,
        (await callOutcome(client, METHODS.KV.Put, put, root)).cell,
      );
    }
  } finally {
    client.close();
  }
  return cells;
}

async function _run(impl: Impl, port: number, mode: "simple" | "jwt", keys: _Keys) {
  const flags = mode === "simple"
    ? ["--auth-token", "simple", "--auth-token-ttl", "3"]
    : ["--auth-token", `jwt,pub-key=${keys.pub},priv-key=${keys.priv},sign-method=RS256,ttl=4s`];
  let member: Member | undefined;
  try {
    member = await startMember({ impl, clientPort: port, peerPort: port + 1, extraArgs: flags });
    return await _session(`127.0.0.1:${port}`, mode, keys, impl === "detcd");
  } finally {
    await member?.stop();
  }
}

for (const [index, mode] of (["simple", "jwt"] as const).entries()) {
  Deno.test({
    name: `auth bad input (${mode} tokens): detcd answers as etcd and keeps serving`,
    ignore: !_ETCD_AVAILABLE,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const keys = await _keys();
      try {
        const etcd = await _run("etcd", 32300 + 20 * index, mode, keys);
        if (Deno.env.get("DETCD_AUTH_BADINPUT_PRINT") === "1") {
          for (const [key, cell] of etcd) console.log(`${key} | ${cell}`);
        }
        const target: Impl = Deno.env.get("DETCD_AUTH_BADINPUT_TARGET") === "etcd"
          ? "etcd"
          : "detcd";
        const detcd = await _run(target, 32310 + 20 * index, mode, keys);
        const rows: string[] = [];
        for (const [key, expected] of etcd) {
          const got = detcd.get(key) ?? "(not called)";
          if (got !== expected) rows.push(`${key} | etcd: ${expected} | detcd: ${got}`);
        }
        ok(rows.length === 0, `${rows.length} answers differ:\n${rows.join("\n")}`);
        ok(detcd.get(`${mode} | root's put with the fresh token`) === "OK", "detcd still serves");
        if (target === "detcd") {
          const after = detcd.get(`${mode} | put after 64 KiB names`);
          ok(after === "OK", `detcd serves after 64 KiB user and role names: ${after}`);
        }
      } finally {
        await Deno.remove(keys.dir, { recursive: true }).catch(() => {});
      }
    },
  });
}
