// Goal: the peer version rule and ID formats follow etcd 3.4 (rafthttp/util.go,
// pkg/types/id.go).
import { strictEqual } from "node:assert/strict";
import { idFromHex, idToHex, versionIncompatibility } from "./version.ts";

const headers = (server?: string, minCluster?: string) => {
  const h = new Headers();
  if (server !== undefined) h.set("X-Server-Version", server);
  if (minCluster !== undefined) h.set("X-Min-Cluster-Version", minCluster);
  return h;
};

Deno.test("versionIncompatibility accepts 3.x peers and refuses too old or too new ones", () => {
  strictEqual(versionIncompatibility(headers("3.4.23", "3.0.0")), undefined);
  strictEqual(versionIncompatibility(headers("3.0.0", "3.0.0")), undefined);
  strictEqual(versionIncompatibility(headers("3.5.9", "3.0.0")), undefined);
  // No headers read as 2.0.0, which is below our minimum cluster version 3.0.
  strictEqual(versionIncompatibility(headers()), "remote version is too low");
  strictEqual(versionIncompatibility(headers("3.6.0", "3.5.0")), "local version is too low");
});

Deno.test("member IDs print as bare lower-case hex and parse back", () => {
  strictEqual(idToHex(0x8e9e05c52164694dn), "8e9e05c52164694d");
  strictEqual(idToHex(0x1n), "1");
  strictEqual(idFromHex("8E9E05C52164694D"), 0x8e9e05c52164694dn);
  strictEqual(idFromHex("xyz"), undefined);
  strictEqual(idFromHex("12345678901234567"), undefined);
});
