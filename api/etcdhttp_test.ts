// Goal: /health and /version answer from the server's request API alone, as etcd's etcdhttp
// does, and /metrics serves the metrics registry. Method: a fake request API whose leader,
// alarms and quorum read are set by the test; each endpoint is requested through the handler.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ETCD_CLUSTER_VERSION, ETCD_VERSION, type ServerApi } from "../server/mod.ts";
import { etcdHttpHandler, metricsHealthHandler } from "./etcdhttp.ts";

function _fake(options: { leader: bigint; alarms: number; readFails: boolean }): ServerApi {
  const fake: Partial<ServerApi> = {
    leader: options.leader,
    alarmList: () => Array.from({ length: options.alarms }, () => ({ memberId: 1n, alarm: 1 })),
    linearizableReadNotify: () =>
      options.readFails ? Promise.reject(new Error("timed out")) : Promise.resolve(),
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

Deno.test("/version answers from the request API; /metrics serves the registry; else 404", async () => {
  const server = _fake({ leader: 0xfedcba9876543210n, alarms: 0, readFails: false });
  deepStrictEqual(await (await _get(server, "/version")).json(), {
    etcdserver: ETCD_VERSION,
    etcdcluster: ETCD_CLUSTER_VERSION,
  });
  const value = (text: string, series: string) =>
    Number(text.split("\n").find((line) => line.startsWith(series + " "))?.split(" ")[1]);
  const first = await (await _get(server, "/metrics")).text();
  await _get(server, "/health");
  const response = await _get(server, "/metrics");
  ok(response.headers.get("content-type")?.startsWith("text/plain"));
  const second = await response.text();
  // Each scrape and each /health answer is counted, as etcd's promhttp and etcdhttp count them.
  const scrapes = 'promhttp_metric_handler_requests_total{code="200"}';
  equal(value(second, scrapes), value(first, scrapes) + 1);
  equal(
    value(second, "etcd_server_health_success"),
    value(first, "etcd_server_health_success") + 1,
  );
  // process_* come from /proc/self.
  ok(value(second, "process_resident_memory_bytes") > 1_000_000);
  ok(value(second, "process_open_fds") > 2);
  ok(value(second, "process_start_time_seconds") > Date.now() / 1000 - 3600);
  equal((await _get(server, "/nope")).status, 404);
});

Deno.test("/health as etcd 3.4: GET only, ?exclude= ignores an alarm, Go's body shapes", async () => {
  const nospace = _fake({ leader: 1n, alarms: 1, readFails: false });
  const post = await etcdHttpHandler(nospace)(
    new Request("http://localhost/health", { method: "POST" }),
  );
  equal(post.status, 405);
  equal(post.headers.get("allow"), "GET");
  await post.body?.cancel();
  const failed = await _get(nospace, "/health");
  equal(failed.status, 503);
  equal(await failed.text(), '{"health":"false"}\n');
  const excluded = await _get(nospace, "/health?exclude=NOSPACE");
  equal(excluded.status, 200);
  equal(await excluded.text(), '{"health":"true"}');
  const otherExcluded = await _get(nospace, "/health?exclude=CORRUPT");
  equal(otherExcluded.status, 503);
  await otherExcluded.body?.cancel();
});

Deno.test("a metrics listener serves /metrics and /health only", async () => {
  const server = _fake({ leader: 1n, alarms: 0, readFails: false });
  const handler = metricsHealthHandler(server);
  equal((await handler(new Request("http://localhost/health"))).status, 200);
  equal((await handler(new Request("http://localhost/metrics"))).status, 200);
  for (const path of ["/version", "/v3/kv/range", "/debug/pprof/"]) {
    equal((await handler(new Request(`http://localhost${path}`))).status, 404, path);
  }
});
