/**
 * The client listener with a restriction that acts inside the TLS handshake
 * (`--cipher-suites`), which detcd serves through OpenSSL (tls/): etcdctl (gRPC over h2,
 * chosen by ALPN), the JSON gateway over HTTP/1.1, plain HTTP on the same port, and the
 * client certificate's CN as the user of auth (etcd's `--client-cert-auth` identity). The
 * same script runs against the real etcd and the outputs must be equal.
 *
 * Needs etcd's test certificates (`integration/fixtures`), curl, and `/usr/bin/etcdctl`.
 *
 * @module
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { ETCD_BIN, etcdctl, type Impl, spawnServer } from "./_harness.ts";

const _FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const _HAVE_FIXTURES = await Deno.stat(`${_FIXTURES}/server.crt`).then(() => true, () => false);
const _ETCD_AVAILABLE = await Deno.stat(ETCD_BIN).then(() => true, () => false);

/** The client certificate (CN example.com) and the CA, as etcdctl flags. */
const _TLS_FLAGS = [
  `--cacert=${_FIXTURES}/ca.crt`,
  `--cert=${_FIXTURES}/server.crt`,
  `--key=${_FIXTURES}/server.key.insecure`,
];

/** curl over TLS with the client certificate: `served <body>` or `refused (curl exit N)`. */
async function _curl(url: string, args: string[]): Promise<string> {
  const output = await new Deno.Command("curl", {
    args: [
      ...["-sS", "--max-time", "10", "--cacert", `${_FIXTURES}/ca.crt`],
      ...["--cert", `${_FIXTURES}/server.crt`, "--key", `${_FIXTURES}/server.key.insecure`],
      ...args,
      url,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (output.code !== 0) return `refused (curl exit ${output.code})`;
  return `served ${new TextDecoder().decode(output.stdout)}`;
}

/** The script's outputs against one member of `impl` listening on `port` (and `port + 1`). */
async function _script(impl: Impl, port: number): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: `detcd-ctls-${impl}-` });
  const https = `https://127.0.0.1:${port}`;
  const http = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${port + 1}`;
  const metrics = `https://127.0.0.1:${port + 2}`;
  const proc = spawnServer(impl, [
    ...["--name", "t1", "--data-dir", `${dir}/data`],
    ...["--listen-client-urls", `${https},${http}`, "--advertise-client-urls", https],
    ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
    ...["--initial-cluster", `t1=${peer}`],
    ...["--cert-file", `${_FIXTURES}/server.crt`],
    ...["--key-file", `${_FIXTURES}/server.key.insecure`],
    ...["--trusted-ca-file", `${_FIXTURES}/ca.crt`, "--client-cert-auth"],
    ...["--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
    // etcd serves /metrics and /health there with the client TLS settings.
    ...["--listen-metrics-urls", metrics],
  ], { endpoint: `127.0.0.1:${port}` });
  const out: string[] = [];
  const ctl = async (args: string[]) => {
    const result = await etcdctl(https, [..._TLS_FLAGS, ...args], { timeoutMs: 60_000 });
    // etcdctl's own JSON log lines (retries) carry times and ids: not compared.
    const stderr = result.stderr.split("\n").filter((line) => !line.startsWith('{"level"'));
    out.push(`etcdctl ${args.join(" ")}: exit ${result.code} ${result.stdout}${stderr.join("\n")}`);
  };
  try {
    await proc.waitFor("ready to serve client requests", 60_000);
    await ctl(["put", "foo", "bar"]);
    await ctl(["get", "foo"]);
    // The gateway over TLS 1.2 with the listed suite; curl offers h2 and http/1.1 by ALPN.
    const range = JSON.stringify({ key: btoa("foo") });
    const body = await _curl(`${https}/v3/kv/range`, [
      ...["--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256", "-XPOST", "-d", range],
    ]);
    out.push(`gateway range over TLS 1.2: ${body.includes(btoa("bar")) ? "served" : body}`);
    out.push(
      `TLS 1.2 with an unlisted suite: ${await _curl(`${https}/version`, [
        ...["--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES256-GCM-SHA384"],
      ])}`,
    );
    const tls12 = ["--tls-max", "1.2", "--ciphers"];
    out.push(
      `metrics /health, listed suite: ${await _curl(`${metrics}/health`, [
        ...tls12,
        "ECDHE-RSA-AES128-GCM-SHA256",
      ])}`,
    );
    out.push(
      `metrics /health, unlisted suite: ${await _curl(`${metrics}/health`, [
        ...tls12,
        "ECDHE-RSA-AES256-GCM-SHA384",
      ])}`,
    );
    const plain = await new Deno.Command("curl", {
      args: ["-sS", "--max-time", "10", `${http}/health`],
      stdout: "piped",
      stderr: "null",
    }).output();
    out.push(`plain /health on the same port: ${new TextDecoder().decode(plain.stdout)}`);
    // Auth: the client certificate's CN (example.com) is the user when no password is given.
    await ctl(["user", "add", "root:rootpw"]);
    await ctl(["user", "grant-role", "root", "root"]);
    await ctl(["user", "add", "example.com:pw"]);
    await ctl(["role", "add", "r"]);
    await ctl(["role", "grant-permission", "r", "readwrite", "foo"]);
    await ctl(["user", "grant-role", "example.com", "r"]);
    await ctl(["auth", "enable"]);
    await ctl(["get", "foo"]);
    await ctl(["put", "foo", "baz"]);
    await ctl(["get", "other"]);
    return out;
  } finally {
    await proc.kill();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "client listener with --cipher-suites (OpenSSL): etcdctl, gateway, plain port, CN auth",
  ignore: !_HAVE_FIXTURES,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const detcd = await _script("detcd", 22000);
    // Before auth and after it, as the user named by the certificate's CN.
    const gets = detcd.filter((line) => line === "etcdctl get foo: exit 0 foo\nbar\n");
    deepStrictEqual(gets.length, 2, detcd.join("\n"));
    ok(detcd.includes("gateway range over TLS 1.2: served"), detcd.join("\n"));
    ok(detcd.includes("TLS 1.2 with an unlisted suite: refused (curl exit 35)"), detcd.join("\n"));
    ok(detcd.includes('metrics /health, listed suite: served {"health":"true"}'), detcd.join("\n"));
    ok(detcd.includes("metrics /health, unlisted suite: refused (curl exit 35)"), detcd.join("\n"));
    if (_ETCD_AVAILABLE) {
      const etcd = await _script("etcd", 22010);
      deepStrictEqual(detcd, etcd);
    }
  },
});
