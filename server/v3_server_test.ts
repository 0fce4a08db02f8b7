// Goal: the request API serves reads, writes and their failures on its own, with no client
// listener — what api/ relies on. Method: bootstrap one member in a temporary directory, run it
// in process, and call V3Server directly.
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { longToBigint, longToNumber, numberToLong } from "../etcdserverpb/mod.ts";
import { bootstrap } from "./bootstrap.ts";
import { defaultConfig } from "./config.ts";
import { ErrFutureRev, ErrKeyNotFound, ServerError } from "./errors.ts";
import { EtcdServer } from "./etcd_server.ts";
import { createLogger } from "./log.ts";
import { type RequestContext, V3Server } from "./v3_server.ts";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder();
const _opts = { sanitizeResources: false, sanitizeOps: false };

function _context(): RequestContext {
  return { signal: AbortSignal.timeout(10_000), user: undefined };
}

async function _withServer(body: (api: V3Server, core: EtcdServer) => Promise<void>) {
  const dataDir = await Deno.makeTempDir({ prefix: "detcd_v3_server_" });
  const cfg = defaultConfig();
  cfg.name = "solo";
  cfg.dataDir = dataDir;
  cfg.walDir = `${dataDir}/member/wal`;
  cfg.snapDir = `${dataDir}/member/snap`;
  // Nobody listens on this URL: one member sends no peer messages.
  const peer = new URL("http://127.0.0.1:23999");
  cfg.listenPeerUrls = [peer];
  cfg.initialAdvertisePeerUrls = [peer];
  cfg.initialCluster = new Map([["solo", [peer]]]);
  cfg.heartbeatIntervalMs = 10;
  cfg.electionTimeoutMs = 50;
  const log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });
  const core = new EtcdServer(cfg, log, await bootstrap(cfg, log));
  core.start();
  try {
    await body(new V3Server(core), core);
  } finally {
    await core.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test({
  name: "V3Server serves put, serializable and linearizable range, with filled headers",
  ..._opts,
  fn: () =>
    _withServer(async (api, core) => {
      const put = await api.put(
        { key: _encoder.encode("a"), value: _encoder.encode("1") },
        _context(),
      );
      const revision = longToNumber(put.header!.revision!);
      ok(revision >= 2, `revision after the first put: ${revision}`);
      for (const serializable of [true, false]) {
        const range = await api.range({ key: _encoder.encode("a"), serializable }, _context());
        strictEqual(range.kvs?.length, 1);
        strictEqual(_decoder.decode(range.kvs![0]!.value!), "1");
        strictEqual(longToNumber(range.header!.revision!), revision);
        strictEqual(longToBigint(range.header!.memberId!), core.memberId);
        strictEqual(longToBigint(range.header!.clusterId!), core.clusterId);
      }
      const status = api.status(_context());
      strictEqual(longToBigint(status.leader!), core.memberId);
      strictEqual(status.errors, undefined);
      deepStrictEqual(api.alarmList(_context()), []);
    }),
});

Deno.test({
  name: "V3Server fails with plain server errors, and answers an unknown lease with TTL -1",
  ..._opts,
  fn: () =>
    _withServer(async (api) => {
      await rejects(
        api.range(
          { key: _encoder.encode("a"), revision: numberToLong(1000), serializable: true },
          _context(),
        ),
        (error) => error === ErrFutureRev && error instanceof ServerError,
      );
      await rejects(
        api.put({ key: _encoder.encode("missing"), ignoreValue: true }, _context()),
        (error) => error === ErrKeyNotFound,
      );
      const ttl = await api.leaseTimeToLive({ ID: numberToLong(12345) }, _context());
      strictEqual(longToNumber(ttl.TTL!), -1);
    }),
});
