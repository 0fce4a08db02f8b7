/**
 * Goal: member and cluster IDs equal the ones real etcd 3.4.23 prints.
 * Method: the expected values were printed by `/usr/bin/etcd` started with the given
 * --initial-advertise-peer-urls and --initial-cluster-token (`etcdctl member list -w json`);
 * `tests/cli_ids_test.ts` re-derives them from a live etcd when one is installed.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { computeClusterId, computeMemberId, goUrlString, idToHex } from "./ids.ts";

Deno.test("computeMemberId() matches etcd for one peer URL and a token", () => {
  // etcd --name n1 --initial-advertise-peer-urls http://127.0.0.1:23851 --initial-cluster-token tok-1
  const member = computeMemberId(["http://127.0.0.1:23851"], "tok-1");
  strictEqual(member, 15556034836071556717n);
  strictEqual(idToHex(member), "d7e2234395a5a66d");
  strictEqual(computeClusterId([member]), 3727793187353634669n);
});

Deno.test("computeMemberId() matches etcd's defaults (localhost:2380, etcd-cluster)", () => {
  // etcd with no flags prints member 8e9e05c52164694d in cluster cdf818194e3a8c32.
  const member = computeMemberId(["http://localhost:2380"], "etcd-cluster");
  strictEqual(idToHex(member), "8e9e05c52164694d");
  strictEqual(idToHex(computeClusterId([member])), "cdf818194e3a8c32");
});

Deno.test("computeMemberId() sorts peer URLs and appends the time only when given", () => {
  const forward = computeMemberId(["http://b:2", "http://a:1"], "t");
  const reverse = computeMemberId(["http://a:1", "http://b:2"], "t");
  strictEqual(forward, reverse);
  const timed = computeMemberId(["http://a:1", "http://b:2"], "t", new Date(1_700_000_000_999));
  strictEqual(timed === forward, false);
  // Seconds are truncated, as Go's time.Unix() does.
  strictEqual(
    timed,
    computeMemberId(["http://a:1", "http://b:2"], "t", new Date(1_700_000_000_000)),
  );
  throws(() => computeMemberId([], "t"));
});

Deno.test("computeClusterId() does not depend on the order of member IDs", () => {
  deepStrictEqual(computeClusterId([1n, 2n, 3n]), computeClusterId([3n, 1n, 2n]));
  throws(() => computeClusterId([]));
  throws(() => computeClusterId([-1n]));
});

Deno.test("goUrlString() drops the trailing slash WHATWG URL adds", () => {
  strictEqual(goUrlString(new URL("http://127.0.0.1:2380")), "http://127.0.0.1:2380");
  strictEqual(goUrlString(new URL("https://[::1]:2380")), "https://[::1]:2380");
  strictEqual(goUrlString(new URL("unix://localhost:2379")), "unix://localhost:2379");
});
