// Goal: etcd 3.4's discoverEndpoints for the proxies: with --insecure-discovery every SRV
// endpoint is kept; without it http endpoints and https endpoints that refuse a TCP connection
// are dropped (a warning with etcd's reasons), a CA file that does not load drops them all,
// both lookups failing is a DiscoveryLookupError (exit 1), and no domain means no discovery.
// Method: a fake Resolver with fixed SRV tables, a fake dial that only "opens" listed ports,
// and a logger that records its lines.
import { deepStrictEqual, match, rejects, strictEqual } from "node:assert/strict";
import type { LogFields, Logger, Resolver } from "../server/mod.ts";
import { dialable, discoverEndpoints, DiscoveryLookupError } from "./discovery.ts";

interface _Line {
  level: string;
  msg: string;
  fields: LogFields;
}

function recordingLogger(lines: _Line[]): Logger {
  const logger: Logger = {
    debug: (msg, fields = {}) => lines.push({ level: "debug", msg, fields }),
    info: (msg, fields = {}) => lines.push({ level: "info", msg, fields }),
    warn: (msg, fields = {}) => lines.push({ level: "warn", msg, fields }),
    error: (msg, fields = {}) => lines.push({ level: "error", msg, fields }),
    fatal: (msg) => {
      throw new Error(`fatal: ${msg}`);
    },
    named: () => logger,
  };
  return logger;
}

const RESOLVER: Resolver = {
  lookupSrv(service, domain) {
    const table: Record<string, { target: string; port: number }[]> = {
      "_etcd-client-ssl-red._tcp.example.test": [
        { target: "a.example.test.", port: 2379 },
        { target: "b.example.test.", port: 2379 },
      ],
      "_etcd-client-red._tcp.example.test": [{ target: "c.example.test.", port: 2379 }],
    };
    const name = `_${service}._tcp.${domain}`;
    const records = table[name];
    if (records === undefined) return Promise.reject(new Error(`lookup ${name}: no such host`));
    return Promise.resolve(records.map((r) => ({ ...r, priority: 0, weight: 0 })));
  },
  resolveTcpAddr: (hostPort) => Promise.resolve(hostPort),
};

/** Dials succeed for `a.example.test` only; records what was dialled. */
function fakeDial(dialled: string[]) {
  return (hostname: string, port: number): Promise<void> => {
    dialled.push(`${hostname}:${port}`);
    return hostname === "a.example.test"
      ? Promise.resolve()
      : Promise.reject(new Error(`dial tcp 10.0.0.2:${port}: connect: connection refused`));
  };
}

const BASE = { domain: "example.test", serviceName: "red", caFile: "", resolver: RESOLVER };

Deno.test("discoverEndpoints() with --insecure-discovery keeps every record and dials none", async () => {
  const lines: _Line[] = [];
  const dialled: string[] = [];
  const found = await discoverEndpoints({
    ...BASE,
    insecure: true,
    log: recordingLogger(lines),
    dial: fakeDial(dialled),
  });
  deepStrictEqual(found.endpoints, [
    "https://a.example.test.:2379",
    "https://b.example.test.:2379",
    "http://c.example.test.:2379",
  ]);
  deepStrictEqual(found.records.map((r) => r.target), [
    "a.example.test.",
    "b.example.test.",
    "c.example.test.",
  ]);
  deepStrictEqual(dialled, []);
  deepStrictEqual(lines.map((line) => line.msg), ["discovered cluster from SRV"]);
  strictEqual(lines[0]!.fields["srv-server"], "example.test");
});

Deno.test("discoverEndpoints() without --insecure-discovery keeps only https endpoints that accept a connection", async () => {
  const lines: _Line[] = [];
  const dialled: string[] = [];
  const found = await discoverEndpoints({
    ...BASE,
    insecure: false,
    log: recordingLogger(lines),
    dial: fakeDial(dialled),
  });
  deepStrictEqual(found.endpoints, ["https://a.example.test.:2379"]);
  deepStrictEqual(found.records.map((r) => `${r.target}:${r.port}`), ["a.example.test.:2379"]);
  // The root dot is dropped for the dial only; the http endpoint is never dialled.
  deepStrictEqual(dialled, ["a.example.test:2379", "b.example.test:2379"]);
  deepStrictEqual(lines.map((line) => `${line.level} ${line.msg}`), [
    "info discovered cluster from SRV",
    "info validating discovered SRV endpoints",
    "warn failed to validate discovered endpoints",
  ]);
  deepStrictEqual(lines[2]!.fields.endpoints, ["https://a.example.test.:2379"]);
  strictEqual(
    lines[2]!.fields.error,
    '"https://b.example.test.:2379" failed to dial (dial tcp 10.0.0.2:2379: ' +
      'connect: connection refused),"http://c.example.test.:2379" is insecure',
  );
});

Deno.test("discoverEndpoints() drops everything when the CA file does not load, and logs success when all pass", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detcd-discovery-" });
  try {
    const bad = `${dir}/bad.pem`;
    await Deno.writeTextFile(
      bad,
      "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    for (const caFile of [`${dir}/missing.pem`, bad]) {
      const lines: _Line[] = [];
      const found = await discoverEndpoints({
        ...BASE,
        caFile,
        insecure: false,
        log: recordingLogger(lines),
        dial: fakeDial([]),
      });
      deepStrictEqual(found.endpoints, [], caFile);
      strictEqual(lines.at(-1)!.msg, "failed to validate discovered endpoints");
      if (caFile === bad) match(String(lines.at(-1)!.fields.error), /^x509: /);
      else strictEqual(lines.at(-1)!.fields.error, `open ${caFile}: no such file or directory`);
    }
    // Every record https and listening: etcd's "using validated" line.
    const lines: _Line[] = [];
    const found = await discoverEndpoints({
      ...BASE,
      insecure: false,
      log: recordingLogger(lines),
      dial: () => Promise.resolve(),
      resolver: {
        ...RESOLVER,
        lookupSrv: (service, domain) =>
          service === "etcd-client-ssl-red"
            ? RESOLVER.lookupSrv(service, domain)
            : Promise.reject(new Error("no such host")),
      },
    });
    strictEqual(found.endpoints.length, 2);
    strictEqual(lines.at(-1)!.msg, "using validated discovered SRV endpoints");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("discoverEndpoints() fails when both lookups fail, and does nothing without a domain", async () => {
  const lines: _Line[] = [];
  await rejects(
    discoverEndpoints({
      ...BASE,
      serviceName: "blue",
      insecure: true,
      log: recordingLogger(lines),
    }),
    (error: Error) => {
      strictEqual(error instanceof DiscoveryLookupError, true);
      strictEqual((error as DiscoveryLookupError).exitCode, 1);
      strictEqual(
        error.message,
        "dns lookup errors: lookup _etcd-client-ssl-blue._tcp.example.test: no such host and " +
          "lookup _etcd-client-blue._tcp.example.test: no such host",
      );
      return true;
    },
  );
  deepStrictEqual(
    await discoverEndpoints({ ...BASE, domain: "", insecure: false, log: recordingLogger(lines) }),
    { endpoints: [], records: [] },
  );
  deepStrictEqual(lines, []);
});

Deno.test("dialable() drops the root dot of the host only", () => {
  strictEqual(dialable("https://localhost.:2379"), "https://localhost:2379");
  strictEqual(dialable("a.example.test.:2379"), "a.example.test:2379");
  strictEqual(dialable("http://127.0.0.1:2379"), "http://127.0.0.1:2379");
  strictEqual(dialable("[::1]:2379"), "[::1]:2379");
  strictEqual(dialable("localhost:2379"), "localhost:2379");
});
