/**
 * One DeleteRange over many keys, applied by an in-process member: how long the apply holds the
 * event loop (the console test deletes 100,000 keys by prefix; etcdctl gives up on a connection
 * whose pings stay unanswered for about 8 s).
 *
 * Usage: `deno run -A --config deno.json bench/delete_range.ts [keys] [checkout]`
 * (keys: 100000 by default; checkout: a directory holding another detcd tree, for an A/B of
 * two versions run back to back). Prints the time of the puts (transactions of 128, as the
 * console test's `putMany`) and of the delete. Add `--cpu-prof` to see where the time goes.
 */

const keys = Number(Deno.args[0] ?? 100_000);
const root = Deno.args[1] ?? new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const _PUTS_PER_TXN = 128;

const { bootstrap } = await import(`${root}/server/bootstrap.ts`);
const { defaultConfig } = await import(`${root}/server/config.ts`);
const { EtcdServer } = await import(`${root}/server/etcd_server.ts`);
const { createLogger } = await import(`${root}/server/log.ts`);
const { V3Server } = await import(`${root}/server/v3_server.ts`);

const encoder = new TextEncoder();
const dataDir = await Deno.makeTempDir({ prefix: "detcd_delete_range_" });
const cfg = defaultConfig();
cfg.name = "solo";
cfg.dataDir = dataDir;
cfg.walDir = `${dataDir}/member/wal`;
cfg.snapDir = `${dataDir}/member/snap`;
// Nobody listens on this URL: a single member sends no peer messages.
const peer = new URL("http://127.0.0.1:23999");
cfg.listenPeerUrls = [peer];
cfg.initialAdvertisePeerUrls = [peer];
cfg.initialCluster = new Map([["solo", [peer]]]);
cfg.heartbeatIntervalMs = 10;
cfg.electionTimeoutMs = 50;
const log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });
const core = new EtcdServer(cfg, log, await bootstrap(cfg, log));
core.start();
const api = new V3Server(core);
// A signal that never fires: `AbortSignal.timeout` keeps its timer alive and held the process
// for minutes after the last line was printed (and a killed process writes no `--cpu-prof`).
const never = new AbortController();
const context = () => ({ signal: never.signal, user: undefined });
try {
  let began = performance.now();
  for (let first = 0; first < keys; first += _PUTS_PER_TXN) {
    const success = [];
    for (let i = first; i < Math.min(keys, first + _PUTS_PER_TXN); i++) {
      const key = encoder.encode(`/many/k${String(i).padStart(6, "0")}`);
      success.push({ requestPut: { key, value: encoder.encode(`value ${i}`) } });
    }
    await api.txn({ success }, context());
  }
  console.log(`put ${keys}: ${Math.round(performance.now() - began)} ms`);
  began = performance.now();
  const deleted = await api.deleteRange(
    { key: encoder.encode("/many/"), rangeEnd: encoder.encode("/many0") },
    context(),
  );
  console.log(`delete ${deleted.deleted}: ${Math.round(performance.now() - began)} ms`);
} finally {
  await core.stop();
  await Deno.remove(dataDir, { recursive: true });
}
