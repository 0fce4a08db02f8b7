/**
 * Access-control load: `deno run -A bench/auth.ts [flags]`.
 *
 * Starts the real etcd (`/usr/bin/etcd`) and detcd (`deno run -A main.ts`), one at a time, each
 * with auth enabled and simple tokens, then with RS256 JWTs; against each: put and
 * serializable range as a user whose role covers the keys, with 1 client and with `--clients`
 * (default 1000) clients over `--conns` connections; then Authenticate calls per second
 * (bcrypt at etcd's default cost, `--auth-clients` concurrent callers). Prints one row per load
 * with both rates and the ratio detcd/etcd.
 *
 * Every client is grpc-js under Deno with the token as metadata (the shared Go load generator
 * has no user or password option), on the same cores as the servers: the client bounds both
 * rates alike, so read the ratios, not the absolute numbers, and only from one run.
 *
 * Flags: `--total N` requests per put/range row (default 20000), `--auth-total N` Authenticate
 * calls (default 200), `--clients N`, `--conns N`, `--auth-clients N` (default 10),
 * `--only etcd|detcd` (one side, no ratios), `--warmup N` (default 2000: that many puts and as many
 * serializable ranges by 10 clients before the first measured row, on both servers alike, so that
 * a JIT-compiled server is not measured while it compiles). Ports 32400-32409.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { generateKeyPairSync } from "node:crypto";
import { METHODS } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";

const _MAIN = new URL("../main.ts", import.meta.url).pathname;
const _enc = (text: string) => new TextEncoder().encode(text);

interface _Flags {
  total: number;
  authTotal: number;
  clients: number;
  conns: number;
  authClients: number;
  only: "etcd" | "detcd" | undefined;
  warmup: number;
}

function _flags(): _Flags {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      total: { type: "string", default: "20000" },
      "auth-total": { type: "string", default: "200" },
      clients: { type: "string", default: "1000" },
      conns: { type: "string", default: "100" },
      "auth-clients": { type: "string", default: "10" },
      only: { type: "string" },
      warmup: { type: "string", default: "2000" },
    },
  });
  const int = (text: string, name: string) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name}: not a count`);
    return value;
  };
  if (values.only !== undefined && values.only !== "etcd" && values.only !== "detcd") {
    throw new Error("--only etcd|detcd");
  }
  return {
    total: int(values.total, "--total"),
    authTotal: int(values["auth-total"], "--auth-total"),
    clients: int(values.clients, "--clients"),
    conns: int(values.conns, "--conns"),
    authClients: int(values["auth-clients"], "--auth-clients"),
    only: values.only as _Flags["only"],
    warmup: values.warmup === "0" ? 0 : int(values.warmup, "--warmup"),
  };
}

type _Impl = "etcd" | "detcd";
type _TokenMode = "simple" | "jwt";

interface _Server {
  endpoint: string;
  stop(): Promise<void>;
}

/** One member with auth flags, in a fresh data dir; resolves once it answers. */
async function _start(impl: _Impl, mode: _TokenMode, keyDir: string): Promise<_Server> {
  const dir = await Deno.makeTempDir({ prefix: `bench_auth_${impl}_` });
  const client = "http://127.0.0.1:32400";
  const peer = "http://127.0.0.1:32401";
  const tokenFlag = mode === "simple"
    ? "simple"
    : `jwt,pub-key=${keyDir}/jwt.pub,priv-key=${keyDir}/jwt.key,sign-method=RS256,ttl=10m`;
  const program = impl === "etcd"
    ? ["/usr/bin/etcd"]
    : [Deno.execPath(), "run", "--allow-all", "--quiet", _MAIN];
  const child = new Deno.Command(program[0]!, {
    args: [
      ...program.slice(1),
      ...["--name", "b1", "--data-dir", `${dir}/data`],
      ...["--listen-client-urls", client, "--advertise-client-urls", client],
      ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
      ...["--initial-cluster", `b1=${peer}`, "--auth-token", tokenFlag],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const endpoint = "127.0.0.1:32400";
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const probe = new EtcdGrpcClient(endpoint);
    try {
      await probe.unary(METHODS.Maintenance.Status, {}, { timeoutMs: 1000 });
      return { endpoint, stop };
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`${impl} did not start: ${error}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      probe.close();
    }
  }
}

/** root, and user `bench` whose role covers [bench/, bench0); auth on; returns bench's token. */
async function _setupAuth(endpoint: string): Promise<string> {
  const client = new EtcdGrpcClient(endpoint);
  try {
    await client.unary(METHODS.Auth.RoleAdd, { name: "bench" });
    await client.unary(METHODS.Auth.RoleGrantPermission, {
      name: "bench",
      perm: { permType: 2, key: _enc("bench/"), rangeEnd: _enc("bench0") },
    });
    for (const [user, role] of [["root", "root"], ["bench", "bench"]] as const) {
      await client.unary(METHODS.Auth.UserAdd, { name: user, password: `${user}-pw` });
      await client.unary(METHODS.Auth.UserGrantRole, { user, role });
    }
    await client.unary(METHODS.KV.Put, { key: _enc("bench/r"), value: new Uint8Array(256) });
    await client.unary(METHODS.Auth.AuthEnable, {});
    const auth = await client.unary(METHODS.Auth.Authenticate, {
      name: "bench",
      password: "bench-pw",
    });
    return auth.token;
  } finally {
    client.close();
  }
}

/** `total` calls of `call` by `clients` loops over `conns` connections; calls per second. */
async function _rate(
  endpoint: string,
  token: string | undefined,
  clients: number,
  conns: number,
  total: number,
  call: (client: EtcdGrpcClient, i: number) => Promise<unknown>,
): Promise<number> {
  const metadata = token === undefined ? {} : { token };
  const connections = Array.from(
    { length: Math.min(conns, clients) },
    () => new EtcdGrpcClient(endpoint, { metadata }),
  );
  try {
    // One call per connection first, so that connecting is not measured.
    await Promise.all(connections.map((client, i) => call(client, i)));
    let next = 0;
    let failures = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: clients }, async (_, loop) => {
      const client = connections[loop % connections.length]!;
      for (let i = next++; i < total; i = next++) {
        try {
          await call(client, i);
        } catch (error) {
          if (++failures > 100) throw error;
        }
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    if (failures > 0) console.error(`  (${failures} failed calls)`);
    return total / seconds;
  } finally {
    for (const client of connections) client.close();
  }
}

async function _measure(impl: _Impl, mode: _TokenMode, keyDir: string, flags: _Flags) {
  const server = await _start(impl, mode, keyDir);
  const rows = new Map<string, number>();
  try {
    const token = await _setupAuth(server.endpoint);
    const value = new Uint8Array(256);
    const put = (client: EtcdGrpcClient, i: number) =>
      client.unary(METHODS.KV.Put, { key: _enc(`bench/${i % 1000}`), value }, {
        timeoutMs: 30_000,
      });
    const range = (client: EtcdGrpcClient) =>
      client.unary(METHODS.KV.Range, { key: _enc("bench/r"), serializable: true }, {
        timeoutMs: 30_000,
      });
    if (flags.warmup > 0) {
      await _rate(server.endpoint, token, 10, 10, flags.warmup, put);
      await _rate(server.endpoint, token, 10, 10, flags.warmup, range);
    }
    for (const clients of [1, flags.clients]) {
      const total = clients === 1 ? Math.max(1, Math.floor(flags.total / 10)) : flags.total;
      rows.set(
        `${mode} put, ${clients} clients`,
        await _rate(server.endpoint, token, clients, flags.conns, total, put),
      );
      rows.set(
        `${mode} range s, ${clients} clients`,
        await _rate(server.endpoint, token, clients, flags.conns, total, range),
      );
    }
    const authenticate = (client: EtcdGrpcClient) =>
      client.unary(METHODS.Auth.Authenticate, { name: "bench", password: "bench-pw" }, {
        timeoutMs: 30_000,
      });
    rows.set(
      `${mode} Authenticate, ${flags.authClients} clients`,
      await _rate(
        server.endpoint,
        undefined,
        flags.authClients,
        flags.authClients,
        flags.authTotal,
        authenticate,
      ),
    );
  } finally {
    await server.stop();
  }
  return rows;
}

async function main(): Promise<void> {
  const flags = _flags();
  const keyDir = await Deno.makeTempDir({ prefix: "bench_auth_keys_" });
  try {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    await Deno.writeTextFile(`${keyDir}/jwt.pub`, publicKey);
    await Deno.writeTextFile(`${keyDir}/jwt.key`, privateKey);
    const impls: _Impl[] = flags.only === undefined ? ["etcd", "detcd"] : [flags.only];
    const results = new Map<_Impl, Map<string, number>>();
    for (const impl of impls) results.set(impl, new Map());
    for (const mode of ["simple", "jwt"] as const) {
      for (const impl of impls) {
        console.error(`${impl}, ${mode} tokens ...`);
        for (const [row, rate] of await _measure(impl, mode, keyDir, flags)) {
          results.get(impl)!.set(row, rate);
        }
      }
    }
    const first = results.get(impls[0]!)!;
    console.log(
      `| load | ${impls.join(" /s | ")} /s |${impls.length === 2 ? " detcd/etcd |" : ""}`,
    );
    console.log(`|---|${impls.map(() => "---:").join("|")}|${impls.length === 2 ? "---:|" : ""}`);
    for (const row of first.keys()) {
      const rates = impls.map((impl) => results.get(impl)!.get(row) ?? 0);
      const ratio = impls.length === 2 ? ` ${(rates[1]! / rates[0]!).toFixed(2)} |` : "";
      console.log(`| ${row} | ${rates.map((rate) => rate.toFixed(0)).join(" | ")} |${ratio}`);
    }
  } finally {
    await Deno.remove(keyDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
