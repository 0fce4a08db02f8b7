// Goal: /health, /version and /metrics answer from the server's request API alone, as etcd's
// etcdhttp does. Method: a fake request API whose leader, alarms and quorum read are set by the
// test; each endpoint is requested through the handler.
import { deepStrictEqual, equal } from "node:assert/strict";
import { bigintToULong } from "../etcdserverpb/mod.ts";
import { ETCD_CLUSTER_VERSION, ETCD_VERSION, int64, type ServerApi } from "../server/mod.ts";
import { etcdHttpHandler } from "./etcdhttp.ts";

function _fake(options: { leader: bigint; alarms: number; readFails: boolean }): ServerApi {
  const fake: Partial<ServerApi> = {
    leader: options.leader,
    alarmList: () => Array.from({ length: options.alarms }, () => ({ memberId: 1n, alarm: 1 })),
    linearizableReadNotify: () =>
      options.readFails ? Promise.reject(new Error("timed out")) : Promise.resolve(),
    status: () => ({
      header: { revision: int64(42) },
      leader: bigintToULong(options.leader),
      dbSize: int64(4096),
    }),
  };
  return fake as ServerApi;
}

async function _get(server: ServerApi, path: string): Promise<Response> {
  return await etcdHttpHandler(server)(new Request(`http://localhost${path}`));
}

Deno.test("/health is true only with a leader, no alarm and a quorum read", async () => {
  const healthy = await _get(_fake({ leader: 1n, alarms: 0, readFails: false }), "/health");
  equal(healthy.status, 200);
  deepStrictEqual(await healthy.json(), { health: "true" });
  for (
    const options of [
      { leader: 0n, alarms: 0, readFails: false },
      { leader: 1n, alarms: 1, readFails: false },
      { leader: 1n, alarms: 0, readFails: true },
    ]
  ) {
    const response = await _get(_fake(options), "/health");
    equal(response.status, 503);
    deepStrictEqual(await response.json(), { health: "false" });
  }
});

Deno.test("/version and /metrics answer from the request API; other paths are 404", async () => {
  const server = _fake({ leader: 0xfedcba9876543210n, alarms: 0, readFails: false });
  deepStrictEqual(await (await _get(server, "/version")).json(), {
    etcdserver: ETCD_VERSION,
    etcdcluster: ETCD_CLUSTER_VERSION,
  });
  const metrics = await (await _get(server, "/metrics")).text();
  equal(
    metrics,
    [
      "# TYPE etcd_server_has_leader gauge",
      "etcd_server_has_leader 1",
      "# TYPE etcd_mvcc_db_total_size_in_bytes gauge",
      "etcd_mvcc_db_total_size_in_bytes 4096",
      "# TYPE etcd_debugging_mvcc_current_revision gauge",
      "etcd_debugging_mvcc_current_revision 42",
      "",
    ].join("\n"),
  );
  equal((await _get(server, "/nope")).status, 404);
});
