/**
 * Debian's Python clients against detcd: python3-etcd3gw through the JSON gateway (KV, lease
 * grant, keep-alive, time-to-live and revoke on the `/v3/kv/lease/*` additional bindings,
 * lease IDs sent as JSON numbers past 2^53, its txn-based lock, the `/v3/lock` service with a
 * waiting second locker, a watch) and python3-etcd3 over gRPC (KV, lease, lock, watch).
 *
 * Goal: every check of the script passes on detcd, and its transcript equals the one the real
 * etcd gives for the same script.
 * Method: one member of each (etcd on 35021/35022, detcd on 35031/35032), the script
 * `testdata/gateway_python_clients.py` run against each with Debian's `/usr/bin/python3`; the
 * test is skipped when the two packages are not installed.
 */

import { equal } from "node:assert/strict";
import { type Impl, startMember } from "./_harness.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./testdata/gateway_python_clients.py", import.meta.url).pathname;

function _havePackages(): boolean {
  try {
    const result = new Deno.Command(PYTHON, {
      args: ["-c", "import etcd3, etcd3gw"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return result.success;
  } catch {
    return false;
  }
}

async function _run(impl: Impl, clientPort: number, peerPort: number): Promise<string> {
  const member = await startMember({ impl, clientPort, peerPort });
  try {
    const result = await new Deno.Command(PYTHON, {
      args: [SCRIPT, String(clientPort)],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(90_000),
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    const stderr = new TextDecoder().decode(result.stderr);
    equal(result.code, 0, `${impl}: the script failed:\n${stdout}\n${stderr}`);
    return stdout;
  } finally {
    await member.stop();
  }
}

Deno.test({
  name: "python3-etcd3gw and python3-etcd3 work against detcd as against etcd",
  ignore: !_havePackages(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const [etcd, detcd] = await Promise.all([
      _run("etcd", 35021, 35022),
      _run("detcd", 35031, 35032),
    ]);
    equal(detcd, etcd);
  },
});
