// Goal: SRV discovery builds etcd's initial cluster: the record resolving to one of our
// advertised peer URLs takes our --name (host names resolved to IPs on both sides), the others
// are named 0, 1, ...; the URL keeps the record's host name; https and http records are both
// used, with the -name suffix; a scheme mismatch and a failed lookup give etcd's errors.
// Method: a fake Resolver with fixed SRV and address tables.
import { deepStrictEqual, rejects } from "node:assert/strict";
import {
  dnsClusterNames,
  nameServerFromEnv,
  type Resolver,
  srvClients,
  srvCluster,
  srvService,
} from "./discovery_srv.ts";

function fakeResolver(
  srv: Record<string, { target: string; port: number }[]>,
  hosts: Record<string, string>,
): Resolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookupSrv(service, domain) {
      const name = `_${service}._tcp.${domain}`;
      asked.push(name);
      const records = srv[name];
      if (records === undefined) {
        return Promise.reject(new Error(`lookup ${name}: no such host`));
      }
      return Promise.resolve(records.map((r) => ({ ...r, priority: 0, weight: 0 })));
    },
    resolveTcpAddr(hostPort) {
      const colon = hostPort.lastIndexOf(":");
      const host = hostPort.slice(0, colon).replace(/\.$/, "");
      const ip = /^[\d.]+$/.test(host) ? host : hosts[host];
      if (ip === undefined) return Promise.reject(new Error(`lookup ${host}: no such host`));
      return Promise.resolve(`${ip}${hostPort.slice(colon)}`);
    },
  };
}

const HOSTS = { "a.example.test": "10.0.0.1", "b.example.test": "10.0.0.2" };

Deno.test("srvCluster() names our record by resolving both sides and keeps the record's host", async () => {
  const resolver = fakeResolver({
    "_etcd-server._tcp.example.test": [
      { target: "a.example.test.", port: 2380 },
      { target: "b.example.test.", port: 2380 },
      { target: "b.example.test.", port: 2381 },
    ],
  }, HOSTS);
  const entries = await srvCluster(resolver, {
    scheme: "http",
    service: "etcd-server",
    name: "infra1",
    domain: "example.test",
  }, [new URL("http://10.0.0.2:2380")]);
  deepStrictEqual(entries, [
    "0=http://a.example.test:2380",
    "infra1=http://b.example.test:2380",
    "1=http://b.example.test:2381",
  ]);
});

Deno.test("srvCluster() refuses our record under the other scheme, and a failed lookup, with etcd's words", async () => {
  const resolver = fakeResolver({
    "_etcd-server-ssl._tcp.example.test": [{ target: "a.example.test.", port: 2380 }],
  }, HOSTS);
  await rejects(
    () =>
      srvCluster(resolver, {
        scheme: "https",
        service: "etcd-server-ssl",
        name: "infra1",
        domain: "example.test",
      }, [new URL("http://a.example.test:2380")]),
    {
      message:
        "error querying DNS SRV records for _etcd-server-ssl bootstrap at https://a.example.test:2380 from DNS for etcd-server-ssl has scheme mismatch with expected peer http://a.example.test:2380",
    },
  );
  await rejects(
    () =>
      srvCluster(resolver, {
        scheme: "http",
        service: "etcd-server",
        name: "infra1",
        domain: "example.test",
      }, [new URL("http://a.example.test:2380")]),
    {
      message:
        "error querying DNS SRV records for _etcd-server lookup _etcd-server._tcp.example.test: no such host",
    },
  );
});

Deno.test("dnsClusterNames() asks both services with the -name suffix and combines them", async () => {
  const resolver = fakeResolver({
    "_etcd-server-ssl-blue._tcp.example.test": [{ target: "a.example.test.", port: 2380 }],
    "_etcd-server-blue._tcp.example.test": [{ target: "b.example.test.", port: 2380 }],
  }, HOSTS);
  const found = await dnsClusterNames(resolver, {
    name: "infra1",
    domain: "example.test",
    serviceName: "blue",
  }, [new URL("https://10.0.0.1:2380")]);
  deepStrictEqual(found.entries, [
    "infra1=https://a.example.test:2380",
    "0=http://b.example.test:2380",
  ]);
  deepStrictEqual(found.errors, []);
  deepStrictEqual(resolver.asked, [
    "_etcd-server-ssl-blue._tcp.example.test",
    "_etcd-server-blue._tcp.example.test",
  ]);
});

Deno.test("nameServerFromEnv() reads ip:port and refuses anything else", () => {
  deepStrictEqual(nameServerFromEnv(undefined), undefined);
  deepStrictEqual(nameServerFromEnv("127.0.0.1:5353"), { ipAddr: "127.0.0.1", port: 5353 });
  deepStrictEqual(nameServerFromEnv("[::1]:53"), { ipAddr: "::1", port: 53 });
  let thrown = "";
  try {
    nameServerFromEnv("localhost");
  } catch (error) {
    thrown = (error as Error).message;
  }
  deepStrictEqual(thrown, 'DETCD_DNS_RESOLVER must be ip:port, got "localhost"');
});

Deno.test("srvClients() lists https then http client records with the -name suffix, and fails only when both lookups fail", async () => {
  // Goal: etcd's srv.GetClient. The ssl records come first as https URLs, the plain ones as
  // http URLs; targets keep their root dot (Go's LookupSRV answers them so); the records are
  // returned index for index with the URLs; one failed lookup is not an error, two are.
  const resolver = fakeResolver({
    "_etcd-client-ssl-red._tcp.example.test": [{ target: "a.example.test.", port: 2379 }],
    "_etcd-client-red._tcp.example.test": [
      { target: "b.example.test.", port: 2379 },
      { target: "b.example.test.", port: 22379 },
    ],
    "_etcd-client._tcp.example.test": [{ target: "c.example.test.", port: 2379 }],
  }, HOSTS);
  const red = await srvClients(resolver, {
    service: "etcd-client",
    domain: "example.test",
    serviceName: "red",
  });
  deepStrictEqual(red.endpoints, [
    "https://a.example.test.:2379",
    "http://b.example.test.:2379",
    "http://b.example.test.:22379",
  ]);
  deepStrictEqual(red.records.map((r) => `${r.target}:${r.port}`), [
    "a.example.test.:2379",
    "b.example.test.:2379",
    "b.example.test.:22379",
  ]);
  const plain = await srvClients(resolver, {
    service: "etcd-client",
    domain: "example.test",
    serviceName: "",
  });
  deepStrictEqual(plain.endpoints, ["http://c.example.test.:2379"]);
  await rejects(
    srvClients(resolver, { service: "etcd-client", domain: "example.test", serviceName: "blue" }),
    {
      message: "dns lookup errors: lookup _etcd-client-ssl-blue._tcp.example.test: no such host " +
        "and lookup _etcd-client-blue._tcp.example.test: no such host",
    },
  );
  deepStrictEqual(srvService("etcd-client", "", "https"), "etcd-client-ssl");
  deepStrictEqual(srvService("etcd-server", "x", "http"), "etcd-server-x");
});
