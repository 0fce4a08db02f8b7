/**
 * Goal: a slice of etcd's own e2e suite (tests/e2e of etcd 3.4) passes with detcd as `etcd`.
 * Method: scripts/e2e.sh runs the chosen tests one by one with the real etcdctl; this test
 * reads its closing "N passed, M failed" line. The whole list (12 families, default, NoTLS
 * and PeerTLS variants) runs with `deno task e2e`; CI runs this slice. The e2e binary is built
 * by .ci/run (it needs golang-go and golang-etcd-server-dev); without it the test is ignored
 * and says so.
 */
import { ok, strictEqual } from "node:assert/strict";
import { existsSync } from "node:fs";
import { REPO_ROOT, run } from "./_harness.ts";

const _BINARY = Deno.env.get("E2E_TEST") ??
  (existsSync("/tmp/e2e.test")
    ? "/tmp/e2e.test"
    : `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/etcd-e2e/e2e.test`);

const _SLICE = [
  "TestCtlV3Version",
  "TestCtlV3PutPeerTLS",
  "TestCtlV3GetFormat",
  "TestCtlV3DelNoTLS",
  "TestCtlV3TxnInteractiveSuccess",
  "TestCtlV3WatchInteractiveNoTLS",
  "TestCtlV3LeaseKeepAliveOnce",
  "TestCtlV3CompactPhysical",
  "TestCtlV3Snapshot",
  "TestCtlV3Defrag",
  "TestCtlV3GetRevokedCRL",
  "TestCtlV3PutClientTLS",
];

Deno.test({
  name: "etcd's e2e TestCtlV3* slice passes with detcd as etcd",
  ignore: !existsSync(_BINARY),
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "detcd-e2e-" });
    try {
      const result = await run("bash", [`${REPO_ROOT}/scripts/e2e.sh`, `^(${_SLICE.join("|")})$`], {
        timeoutMs: 150_000,
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          HOME: Deno.env.get("HOME") ?? "/root",
          E2E_TEST: _BINARY,
          E2E_TIMEOUT: "60",
          OUT: `${out}/results.tsv`,
        },
      });
      const summary = result.stdout.trim().split("\n").at(-1) ?? "";
      ok(/^\d+ passed, \d+ failed$/.test(summary), `${result.stdout}\n${result.stderr}`);
      strictEqual(summary, `${_SLICE.length} passed, 0 failed`, result.stderr);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
