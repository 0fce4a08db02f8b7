/**
 * `unix://` client and peer URLs, as etcd 3.4 serves them.
 *
 * Goal: a member listening for peers on `unix://peer.unix:1` and for clients on
 * `unix://localhost:35082` (beside a TCP URL) starts, serves the real etcdctl (put, get,
 * watch, endpoint health) and the JSON gateway (curl --unix-socket) on the socket file
 * `localhost:35082` in its working directory, and removes its socket files when it stops.
 * Method: detcd started in a temporary working directory, etcdctl and curl run from there;
 * the socket files are looked for before and after a SIGTERM.
 */

import { equal, match, ok } from "node:assert/strict";
import { ETCDCTL_BIN, REPO_ROOT } from "./_harness.ts";

const CLIENT_SOCKET = "localhost:35082";
const PEER_SOCKET = "peer.unix:1";

async function _exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function _run(
  cwd: string,
  path: string,
  args: string[],
  timeoutMs = 15_000,
): Promise<string> {
  const output = await new Deno.Command(path, {
    args,
    cwd,
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  equal(output.code, 0, `${path} ${args.join(" ")}: ${text}`);
  return text;
}

Deno.test({
  name: "unix:// client and peer URLs serve etcdctl and the gateway on socket files",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "detcd-unix-" });
    const server = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--quiet",
        `${REPO_ROOT}/main.ts`,
        "--data-dir",
        "data",
        "--listen-client-urls",
        `http://127.0.0.1:35081,unix://${CLIENT_SOCKET}`,
        "--advertise-client-urls",
        "http://127.0.0.1:35081",
        "--listen-peer-urls",
        `unix://${PEER_SOCKET}`,
        "--initial-advertise-peer-urls",
        `unix://${PEER_SOCKET}`,
        "--initial-cluster",
        `default=unix://${PEER_SOCKET}`,
      ],
      cwd,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = server.output();
    const endpoint = `--endpoints=unix://${CLIENT_SOCKET}`;
    try {
      const deadline = Date.now() + 20_000;
      while (!(await _exists(`${cwd}/${CLIENT_SOCKET}`))) {
        ok(Date.now() < deadline, "the client socket never appeared");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      ok(await _exists(`${cwd}/${PEER_SOCKET}`), "peer socket file");
      match(await _run(cwd, ETCDCTL_BIN, [endpoint, "endpoint", "health"]), /is healthy/);
      await _run(cwd, ETCDCTL_BIN, [endpoint, "put", "k", "v1"]);
      equal(await _run(cwd, ETCDCTL_BIN, [endpoint, "get", "k", "--print-value-only"]), "v1\n");
      const watch = _run(cwd, ETCDCTL_BIN, [endpoint, "watch", "k", "--rev", "2"], 4_000).catch(
        (error) => String(error),
      );
      const gateway = await _run(cwd, "curl", [
        "-s",
        "--unix-socket",
        CLIENT_SOCKET,
        "http://localhost/v3/kv/range",
        "-d",
        `{"key":"${btoa("k")}"}`,
      ]);
      equal(JSON.parse(gateway).kvs[0].value, btoa("v1"));
      await new Promise((resolve) => setTimeout(resolve, 500));
      await _run(cwd, ETCDCTL_BIN, [endpoint, "put", "k", "v2"]);
      // The watch runs until its 4 s limit; what it printed before is what counts.
      const watched = await watch;
      match(watched, /PUT\nk\nv1\nPUT\nk\nv2/);
    } finally {
      server.kill("SIGTERM");
      const status = await output;
      const log = new TextDecoder().decode(status.stderr);
      ok(!(await _exists(`${cwd}/${CLIENT_SOCKET}`)), `client socket left behind:\n${log}`);
      ok(!(await _exists(`${cwd}/${PEER_SOCKET}`)), "peer socket left behind");
      await Deno.remove(cwd, { recursive: true });
    }
  },
});

// Goal: a `unixs://` client URL serves TLS on its socket file with the client TLS flags.
// Method: etcd's test fixtures (server.crt for localhost, ca.crt) when installed; etcdctl
// with --cacert puts and gets through the socket, curl reads through the gateway.
const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
Deno.test({
  name: "unixs:// client URLs serve TLS on the socket file",
  ignore: !(await _exists(`${FIXTURES}/server.crt`)),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "detcd-unixs-" });
    const socket = "localhost:35086";
    const server = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--quiet",
        `${REPO_ROOT}/main.ts`,
        "--data-dir",
        "data",
        "--listen-client-urls",
        `http://127.0.0.1:35085,unixs://${socket}`,
        "--advertise-client-urls",
        "http://127.0.0.1:35085",
        "--listen-peer-urls",
        "http://127.0.0.1:35087",
        "--initial-advertise-peer-urls",
        "http://127.0.0.1:35087",
        "--initial-cluster",
        "default=http://127.0.0.1:35087",
        "--cert-file",
        `${FIXTURES}/server.crt`,
        "--key-file",
        `${FIXTURES}/server.key.insecure`,
      ],
      cwd,
      stdout: "null",
      stderr: "null",
    }).spawn();
    const tls = ["--endpoints", `unixs://${socket}`, "--cacert", `${FIXTURES}/ca.crt`];
    try {
      const deadline = Date.now() + 20_000;
      while (!(await _exists(`${cwd}/${socket}`))) {
        ok(Date.now() < deadline, "the client socket never appeared");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await _run(cwd, ETCDCTL_BIN, [...tls, "put", "k", "secure"]);
      equal(await _run(cwd, ETCDCTL_BIN, [...tls, "get", "k", "--print-value-only"]), "secure\n");
      const gateway = await _run(cwd, "curl", [
        "-s",
        "--cacert",
        `${FIXTURES}/ca.crt`,
        "--unix-socket",
        socket,
        "https://localhost/v3/kv/range",
        "-d",
        `{"key":"${btoa("k")}"}`,
      ]);
      equal(JSON.parse(gateway).kvs[0].value, btoa("secure"));
    } finally {
      server.kill("SIGTERM");
      await server.status;
      ok(!(await _exists(`${cwd}/${socket}`)), "client socket left behind");
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
