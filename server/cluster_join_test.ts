import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { fetchRemoteCluster, parseMembersJson } from "./cluster_join.ts";

// Goal: a member bootstrapping against a running cluster reads etcd's `/members` exactly:
// 64-bit IDs survive, strings with braces and escapes do not confuse the splitter, the
// cluster ID comes from the X-Etcd-Cluster-ID header. Method: etcd-shaped JSON, and a local
// HTTP server on 127.0.0.1:24038 standing in for a peer.
Deno.test("parseMembersJson() keeps 64-bit IDs and reads etcd's member objects", () => {
  const text =
    `[{"id":18302818349297057012,"peerURLs":["http://127.0.0.1:2380"],"name":"a{b}\\"",` +
    `"clientURLs":["http://127.0.0.1:2379"]},{"id":5,"peerURLs":["http://h:1"],"isLearner":true}]\n`;
  const members = parseMembersJson(text);
  strictEqual(members.length, 2);
  strictEqual(members[0]!.id, 18302818349297057012n);
  strictEqual(members[0]!.name, 'a{b}"');
  deepStrictEqual(members[0]!.clientUrls, ["http://127.0.0.1:2379"]);
  strictEqual(members[1]!.isLearner, true);
  deepStrictEqual(members[1]!.clientUrls, []);
});

Deno.test("parseMembersJson() refuses truncated JSON", () => {
  throws(() => parseMembersJson(`[{"id":1,"peerURLs":[]`), /unbalanced/);
});

Deno.test("fetchRemoteCluster() takes the first peer that answers, with its cluster ID", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 24038, onListen: () => {} },
    () =>
      new Response(`[{"id":11,"peerURLs":["http://127.0.0.1:24038"],"name":"m"}]`, {
        headers: { "X-Etcd-Cluster-ID": "cdf818194e3a8c32" },
      }),
  );
  try {
    const remote = await fetchRemoteCluster(["http://127.0.0.1:24039", "http://127.0.0.1:24038"]);
    strictEqual(remote?.clusterId, 0xcdf818194e3a8c32n);
    strictEqual(remote?.members[0]?.id, 11n);
    strictEqual(await fetchRemoteCluster(["http://127.0.0.1:24039"], 300), undefined);
  } finally {
    await server.shutdown();
  }
});
