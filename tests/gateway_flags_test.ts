/**
 * `--enable-grpc-gateway=false` turns the JSON gateway off, as on etcd 3.4.
 *
 * Goal: with the flag false, `/v3/` and `/v3beta/` paths answer the plain mux's 404 on both
 * etcd and detcd, while /health, /version and gRPC keep working.
 * Method: one member of each with the flag (etcd on 35091/35092, detcd on 35093/35094),
 * compared request by request.
 */

import { deepStrictEqual, equal } from "node:assert/strict";
import { etcdctl, type Impl, startMember } from "./_harness.ts";

async function _answers(impl: Impl, clientPort: number, peerPort: number) {
  const member = await startMember({
    impl,
    clientPort,
    peerPort,
    extraArgs: ["--enable-grpc-gateway=false"],
  });
  try {
    const answers: string[] = [];
    for (const path of ["/v3/kv/range", "/v3beta/kv/range", "/v3/election/leader", "/health"]) {
      const response = await fetch(`http://${member.endpoint}${path}`, {
        method: path === "/health" ? "GET" : "POST",
        ...(path === "/health" ? {} : { body: `{"key":"${btoa("a")}"}` }),
      });
      answers.push(`${path} ${response.status} ${(await response.text()).trim()}`);
    }
    const put = await etcdctl(member.endpoint, ["put", "a", "1"]);
    equal(put.code, 0, put.stderr);
    return answers;
  } finally {
    await member.stop();
  }
}

Deno.test({
  name: "--enable-grpc-gateway=false leaves only /health and friends on the client port",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const [etcd, detcd] = await Promise.all([
      _answers("etcd", 35091, 35092),
      _answers("detcd", 35093, 35094),
    ]);
    deepStrictEqual(detcd, etcd);
    equal(detcd[0], "/v3/kv/range 404 404 page not found");
  },
});
